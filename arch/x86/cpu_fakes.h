/* The privileged instructions of cpu.h as plain functions, for host fuzz builds (KEEL_HOST_FAKES):
 * tests/unit/cpu_fakes.c defines them and records what keel asked the CPU to do.
 * Host only: keel.efi never includes this file. */
#ifndef KEEL_ARCH_X86_CPU_FAKES_H
#define KEEL_ARCH_X86_CPU_FAKES_H

#include <stdint.h>

uint64_t read_cr0(void);
uint64_t read_cr2(void);
uint64_t read_cr3(void);
uint64_t read_cr4(void);
void write_cr0(uint64_t v);
void write_cr2(uint64_t v);
void write_cr3(uint64_t v);
void write_cr4(uint64_t v);
uint64_t read_dr6(void);
void write_dr6(uint64_t v);
void cli(void);
void sti(void);
void hlt(void);
void pause(void);
void magic_break(void);
void wbinvd(void);
uint64_t read_dr(unsigned n);
void write_dr(unsigned n, uint64_t v);
uint64_t read_cr8(void);
void write_cr8(uint64_t v);
uint64_t rdpmc(uint32_t ecx);
uint64_t xgetbv(uint32_t idx);
void xsetbv(uint32_t idx, uint64_t v);
void outb(uint16_t port, uint8_t v);
void outw(uint16_t port, uint16_t v);
void outl(uint16_t port, uint32_t v);
uint8_t inb(uint16_t port);
uint16_t inw(uint16_t port);
uint32_t inl(uint16_t port);
void outs(uint16_t port, unsigned size, const void *p, uint64_t n, int down);
void ins(uint16_t port, unsigned size, void *p, uint64_t n, int down);

int vmxon(uint64_t pa);
int vmxoff(void);
int vmclear(uint64_t pa);
int vmptrld(uint64_t pa);
int vmread(uint64_t field, uint64_t *val);
int vmwrite(uint64_t field, uint64_t val);
int invept(uint64_t type, uint64_t eptp);
int invvpid(uint64_t type, uint16_t vpid);
int invvpid_gva(uint64_t type, uint16_t vpid, uint64_t gva);

#endif
