/* The fake CPU (see cpu_fakes.h). Host only. */
#include <string.h>
#include "cpu_fakes.h"

#include "../../arch/x86/cpu.h"

struct cpu_fake_hooks cpu_fake_hooks;
uint64_t cpu_fake_cr[5];
unsigned cpu_fake_cr2_writes;
uint64_t cpu_fake_dr[8];
uint64_t cpu_fake_cr8;
unsigned cpu_fake_wbinvds;
uint64_t cpu_fake_pmc;
uint32_t cpu_fake_pmc_ecx;
uint64_t cpu_fake_inv_gva;

#define NO_HOOK(insn) (cpu_fake_hooks.unexpected(insn), __builtin_unreachable())

uint64_t read_cr0(void) { return cpu_fake_cr[0]; }
uint64_t read_cr2(void) { return cpu_fake_cr[2]; }
uint64_t read_cr3(void) { return cpu_fake_cr[3]; }
uint64_t read_cr4(void) { return cpu_fake_cr[4]; }
void write_cr0(uint64_t v) { (void)v, NO_HOOK("MOV to CR0"); }
void write_cr2(uint64_t v)
{
	cpu_fake_cr[2] = v;
	cpu_fake_cr2_writes++;
}
uint64_t read_dr6(void) { return cpu_fake_dr6; }
void write_dr6(uint64_t v) { cpu_fake_dr6 = v; }
void write_cr3(uint64_t v) { (void)v, NO_HOOK("MOV to CR3"); }
void write_cr4(uint64_t v) { (void)v, NO_HOOK("MOV to CR4"); }

void cli(void) {}
void sti(void) { NO_HOOK("STI"); }
void hlt(void)
{
	cpu_fake_hooks.halt();
	__builtin_unreachable();
}
void pause(void) {}
void magic_break(void) {}
void wbinvd(void) { cpu_fake_wbinvds++; }
uint64_t read_dr(unsigned n) { return cpu_fake_dr[n & 7]; }
void write_dr(unsigned n, uint64_t v) { cpu_fake_dr[n & 7] = v; }
uint64_t read_cr8(void) { return cpu_fake_cr8; }
void write_cr8(uint64_t v) { cpu_fake_cr8 = v; }
uint64_t rdpmc(uint32_t ecx)
{
	cpu_fake_pmc_ecx = ecx;
	return cpu_fake_pmc;
}
uint64_t xgetbv(uint32_t idx) { return idx == 0 ? 7 : 0; }
void xsetbv(uint32_t idx, uint64_t v) { (void)idx, (void)v, NO_HOOK("XSETBV (keel uses safe_xsetbv)"); }

void outb(uint16_t port, uint8_t v) { cpu_fake_hooks.port_out(port, 1, v); }
void outw(uint16_t port, uint16_t v) { cpu_fake_hooks.port_out(port, 2, v); }
void outl(uint16_t port, uint32_t v) { cpu_fake_hooks.port_out(port, 4, v); }
uint8_t inb(uint16_t port) { return (uint8_t)cpu_fake_hooks.port_in(port, 1); }
uint16_t inw(uint16_t port) { return (uint16_t)cpu_fake_hooks.port_in(port, 2); }
uint32_t inl(uint16_t port) { return cpu_fake_hooks.port_in(port, 4); }
/* REP OUTS / REP INS: element by element through the same hooks, in the direction DF gives. */
void outs(uint16_t port, unsigned size, const void *p, uint64_t n, int down)
{
	const uint8_t *b = p;
	for (uint64_t i = 0; i < n; i++, b += down ? -(int)size : (int)size) {
		uint32_t v = 0;
		memcpy(&v, b, size);
		cpu_fake_hooks.port_out(port, size, v);
	}
}
void ins(uint16_t port, unsigned size, void *p, uint64_t n, int down)
{
	uint8_t *b = p;
	for (uint64_t i = 0; i < n; i++, b += down ? -(int)size : (int)size) {
		uint32_t v = cpu_fake_hooks.port_in(port, size);
		memcpy(b, &v, size);
	}
}

int vmxon(uint64_t pa) { (void)pa, NO_HOOK("VMXON"); }
int vmxoff(void) { NO_HOOK("VMXOFF"); }
int vmclear(uint64_t pa) { (void)pa, NO_HOOK("VMCLEAR"); }
int vmptrld(uint64_t pa) { (void)pa, NO_HOOK("VMPTRLD"); }
int vmread(uint64_t f, uint64_t *v) { (void)f, (void)v, NO_HOOK("raw VMREAD"); }
int vmwrite(uint64_t f, uint64_t v) { (void)f, (void)v, NO_HOOK("raw VMWRITE"); }

int invept(uint64_t type, uint64_t eptp)
{
	cpu_fake_hooks.invalidate("INVEPT", type, eptp);
	return 0;
}

int invvpid(uint64_t type, uint16_t vpid)
{
	cpu_fake_hooks.invalidate("INVVPID", type, vpid);
	return 0;
}

int invvpid_gva(uint64_t type, uint16_t vpid, uint64_t gva)
{
	cpu_fake_inv_gva = gva;
	cpu_fake_hooks.invalidate("INVVPID", type, vpid);
	return 0;
}
