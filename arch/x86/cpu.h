/* One inline-asm wrapper per x86 instruction keel uses.
 * Runs anywhere (UEFI boot services or VMX root); no state of its own. */
#ifndef KEEL_ARCH_X86_CPU_H
#define KEEL_ARCH_X86_CPU_H

#include <stdint.h>

#define BIT(n) (1ULL << (n))

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline void cpuid(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *r)
{
	__asm__ volatile("cpuid"
			 : "=a"(r->eax), "=b"(r->ebx), "=c"(r->ecx), "=d"(r->edx)
			 : "a"(leaf), "c"(subleaf));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#ifndef KEEL_HOST_FAKES
#define DEFINE_CR_ACCESSORS(n)                                                 \
	static inline uint64_t read_cr##n(void)                                \
	{                                                                      \
		uint64_t v;                                                    \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));              \
		return v;                                                      \
	}                                                                      \
	static inline void write_cr##n(uint64_t v)                             \
	{                                                                      \
		__asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory");       \
	}
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)
#undef DEFINE_CR_ACCESSORS
#endif

#ifndef KEEL_HOST_FAKES
/* DR6 is not part of the VMCS: the guest's DR6 is the CPU's while keel runs (SDM Vol. 3C 27.3.1). */
static inline uint64_t read_dr6(void)
{
	uint64_t v;
	__asm__ volatile("mov %%dr6, %0" : "=r"(v));
	return v;
}

static inline void write_dr6(uint64_t v) { __asm__ volatile("mov %0, %%dr6" ::"r"(v)); }
#endif

static inline uint64_t read_dr7(void)
{
	uint64_t v;
	__asm__ volatile("mov %%dr7, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_rflags(void)
{
	uint64_t v;
	__asm__ volatile("pushfq; popq %0" : "=r"(v));
	return v;
}

static inline void write_rflags(uint64_t v)
{
	__asm__ volatile("pushq %0; popfq" ::"r"(v) : "memory", "cc");
}

#ifndef KEEL_HOST_FAKES /* else cpu_fakes.h: the same names, for host fuzz builds */
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }
/* Bochs's magic breakpoint (magic_break: enabled=1); a harmless no-op everywhere else. */
static inline void magic_break(void) { __asm__ volatile("xchg %%bx, %%bx" ::: "memory"); }
static inline void wbinvd(void) { __asm__ volatile("wbinvd" ::: "memory"); }

/* Debug registers DR0-DR3 and DR6: VM exits do not switch them (DR7 is in the VMCS), so the
 * guest's values are the CPU's own while keel runs (SDM Vol. 3C 27.3.1). n is 0-3 or 6. */
static inline uint64_t read_dr(unsigned n)
{
	uint64_t v = 0;
	switch (n) {
	case 0: __asm__ volatile("mov %%dr0, %0" : "=r"(v)); break;
	case 1: __asm__ volatile("mov %%dr1, %0" : "=r"(v)); break;
	case 2: __asm__ volatile("mov %%dr2, %0" : "=r"(v)); break;
	case 3: __asm__ volatile("mov %%dr3, %0" : "=r"(v)); break;
	case 6: __asm__ volatile("mov %%dr6, %0" : "=r"(v)); break;
	}
	return v;
}

static inline void write_dr(unsigned n, uint64_t v)
{
	switch (n) {
	case 0: __asm__ volatile("mov %0, %%dr0" ::"r"(v)); break;
	case 1: __asm__ volatile("mov %0, %%dr1" ::"r"(v)); break;
	case 2: __asm__ volatile("mov %0, %%dr2" ::"r"(v)); break;
	case 3: __asm__ volatile("mov %0, %%dr3" ::"r"(v)); break;
	case 6: __asm__ volatile("mov %0, %%dr6" ::"r"(v)); break;
	}
}

/* CR8: the local APIC's TPR[7:4] (SDM Vol. 3A 10.8.6.1), not switched by VM exits. */
static inline uint64_t read_cr8(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr8, %0" : "=r"(v));
	return v;
}

static inline void write_cr8(uint64_t v) { __asm__ volatile("mov %0, %%cr8" ::"r"(v) : "memory"); }

static inline uint64_t rdpmc(uint32_t ecx)
{
	uint32_t lo, hi;
	__asm__ volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(ecx));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t xgetbv(uint32_t idx)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(idx));
	return ((uint64_t)hi << 32) | lo;
}

static inline void xsetbv(uint32_t idx, uint64_t v)
{
	__asm__ volatile("xsetbv" ::"c"(idx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* REP OUTS / REP INS of n elements of size 1, 2 or 4 bytes from (to) p, downwards from p when down
 * (RFLAGS.DF set around them). */
static inline void outs(uint16_t port, unsigned size, const void *p, uint64_t n, int down)
{
	if (down)
		__asm__ volatile("std" ::: "cc");
	if (size == 1)
		__asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(port) : "memory");
	else if (size == 2)
		__asm__ volatile("rep outsw" : "+S"(p), "+c"(n) : "d"(port) : "memory");
	else
		__asm__ volatile("rep outsl" : "+S"(p), "+c"(n) : "d"(port) : "memory");
	if (down)
		__asm__ volatile("cld" ::: "cc");
}

static inline void ins(uint16_t port, unsigned size, void *p, uint64_t n, int down)
{
	if (down)
		__asm__ volatile("std" ::: "cc");
	if (size == 1)
		__asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"(port) : "memory");
	else if (size == 2)
		__asm__ volatile("rep insw" : "+D"(p), "+c"(n) : "d"(port) : "memory");
	else
		__asm__ volatile("rep insl" : "+D"(p), "+c"(n) : "d"(port) : "memory");
	if (down)
		__asm__ volatile("cld" ::: "cc");
}

#endif

/* Descriptor-table registers, as SGDT/SIDT store them. */
struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint64_t base;
};

static inline void sgdt(struct dtr *d) { __asm__ volatile("sgdt %0" : "=m"(*d)); }
static inline void sidt(struct dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d)); }
static inline void lgdt(const struct dtr *d) { __asm__ volatile("lgdt %0" ::"m"(*d)); }
static inline void lidt(const struct dtr *d) { __asm__ volatile("lidt %0" ::"m"(*d)); }

static inline uint16_t str(void)
{
	uint16_t v;
	__asm__ volatile("str %0" : "=r"(v));
	return v;
}

static inline uint16_t sldt(void)
{
	uint16_t v;
	__asm__ volatile("sldt %0" : "=r"(v));
	return v;
}

static inline void ltr(uint16_t sel) { __asm__ volatile("ltr %0" ::"r"(sel)); }

#define DEFINE_SEG_READ(name)                                                  \
	static inline uint16_t read_##name(void)                               \
	{                                                                      \
		uint16_t v;                                                    \
		__asm__ volatile("mov %%" #name ", %0" : "=r"(v));             \
		return v;                                                      \
	}
DEFINE_SEG_READ(cs)
DEFINE_SEG_READ(ds)
DEFINE_SEG_READ(es)
DEFINE_SEG_READ(ss)
DEFINE_SEG_READ(fs)
DEFINE_SEG_READ(gs)
#undef DEFINE_SEG_READ

/* LAR/LSL read a descriptor's access rights and limit as the CPU sees them. */
static inline uint32_t lsl(uint16_t sel)
{
	uint32_t v = 0;
	__asm__ volatile("lsl %1, %0" : "+r"(v) : "rm"((uint32_t)sel) : "cc");
	return v;
}

/* ---- VMX instructions. Each returns 0 on success, 1 on VMfailInvalid, 2 on VMfailValid. ---- */
#define VMX_OK 0
#define VMX_FAIL_INVALID 1
#define VMX_FAIL_VALID 2
#define VMX_FAIL_UNKNOWN 3 /* failed, kind not recorded: the reporter reads the error field to tell */

#define VMX_RESULT_ASM "setc %b0\n\tsetz %h0\n\t"
static inline int vmx_result(uint16_t cz)
{
	if (cz & 0xff)
		return VMX_FAIL_INVALID;
	if (cz >> 8)
		return VMX_FAIL_VALID;
	return VMX_OK;
}

#ifndef KEEL_HOST_FAKES
static inline int vmxon(uint64_t pa)
{
	uint16_t cz;
	__asm__ volatile("vmxon %1\n\t" VMX_RESULT_ASM : "=Q"(cz) : "m"(pa) : "cc", "memory");
	return vmx_result(cz);
}

static inline int vmxoff(void)
{
	uint16_t cz;
	__asm__ volatile("vmxoff\n\t" VMX_RESULT_ASM : "=Q"(cz)::"cc", "memory");
	return vmx_result(cz);
}

static inline int vmclear(uint64_t pa)
{
	uint16_t cz;
	__asm__ volatile("vmclear %1\n\t" VMX_RESULT_ASM : "=Q"(cz) : "m"(pa) : "cc", "memory");
	return vmx_result(cz);
}

static inline int vmptrld(uint64_t pa)
{
	uint16_t cz;
	__asm__ volatile("vmptrld %1\n\t" VMX_RESULT_ASM : "=Q"(cz) : "m"(pa) : "cc", "memory");
	return vmx_result(cz);
}

static inline int vmread(uint64_t field, uint64_t *val)
{
	uint16_t cz;
	__asm__ volatile("vmread %2, %1\n\t" VMX_RESULT_ASM : "=Q"(cz), "=rm"(*val) : "r"(field) : "cc");
	return vmx_result(cz);
}

static inline int vmwrite(uint64_t field, uint64_t val)
{
	uint16_t cz;
	__asm__ volatile("vmwrite %2, %1\n\t" VMX_RESULT_ASM : "=Q"(cz) : "r"(field), "rm"(val) : "cc");
	return vmx_result(cz);
}

struct invept_desc {
	uint64_t eptp, reserved;
};

static inline int invept(uint64_t type, uint64_t eptp)
{
	struct invept_desc d = { eptp, 0 };
	uint16_t cz;
	__asm__ volatile("invept %1, %2\n\t" VMX_RESULT_ASM : "=Q"(cz) : "m"(d), "r"(type) : "cc", "memory");
	return vmx_result(cz);
}

struct invvpid_desc {
	uint64_t vpid, gva;
};

static inline int invvpid(uint64_t type, uint16_t vpid)
{
	struct invvpid_desc d = { vpid, 0 };
	uint16_t cz;
	__asm__ volatile("invvpid %1, %2\n\t" VMX_RESULT_ASM : "=Q"(cz) : "m"(d), "r"(type) : "cc", "memory");
	return vmx_result(cz);
}

/* INVVPID with a linear address (type 0, individual-address; the address must be canonical). */
static inline int invvpid_gva(uint64_t type, uint16_t vpid, uint64_t gva)
{
	struct invvpid_desc d = { vpid, gva };
	uint16_t cz;
	__asm__ volatile("invvpid %1, %2\n\t" VMX_RESULT_ASM : "=Q"(cz) : "m"(d), "r"(type) : "cc", "memory");
	return vmx_result(cz);
}

#endif /* KEEL_HOST_FAKES */

#ifdef KEEL_HOST_FAKES
#include "cpu_fakes.h"
#endif

#endif
