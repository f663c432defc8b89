/* Wrappers for the instructions the selftest needs that arch/x86/cpu.h does not have (yet).
 * Any CPU, CPL 0. */
#ifndef SELFTEST_INSN_H
#define SELFTEST_INSN_H

#include <stdint.h>

#include "../../arch/x86/cpu.h" /* read_dr6, write_dr6 */

static inline void invd(void) { __asm__ volatile("invd" ::: "memory"); }

/* CPUID feature bits that gate the instructions below (SDM Vol. 2A, CPUID, Tables 3-8 to 3-10;
 * Vol. 1 13.2 for leaf 0xD). Leaf 1 ECX bits are in arch/x86/cr.h. */
#define CPUID1_ECX_RDRAND BIT(30)
#define CPUID7_EBX_FSGSBASE BIT(0)
#define CPUID7_EBX_SGX BIT(2)
#define CPUID7_EBX_INVPCID BIT(10)
#define CPUID7_EBX_RDSEED BIT(18)
#define CPUID7_EBX_CLFLUSHOPT BIT(23)
#define CPUID7_EBX_CLWB BIT(24)
#define CPUID7_ECX_PKU BIT(3)
#define CPUID7_ECX_OSPKE BIT(4)
#define CPUID7_ECX_WAITPKG BIT(5)
#define CPUID7_ECX_RDPID BIT(22)
#define CPUID7_EDX_PCONFIG BIT(18)
#define CPUIDD1_EAX_XGETBV_ECX1 BIT(2)
#define CPUIDD1_EAX_XSAVES BIT(3)
#define CPUID80000001_EDX_RDTSCP BIT(27)

#define MSR_IA32_TSC_AUX 0xC0000103
#define MSR_IA32_XSS 0xDA0

/* TPAUSE/UMWAIT: wait until the TSC reaches deadline at most, in C0.2 (ctrl 0) or C0.1 (1). CF is
 * set when the OS time limit (IA32_UMWAIT_CONTROL) ended the wait first; returned. */
static inline int tpause(uint32_t ctrl, uint64_t deadline)
{
	uint8_t cf;
	__asm__ volatile("tpause %1\n\tsetc %0"
			 : "=r"(cf)
			 : "r"(ctrl), "a"((uint32_t)deadline), "d"((uint32_t)(deadline >> 32))
			 : "cc", "memory");
	return cf;
}

static inline void umonitor(const volatile void *addr)
{
	__asm__ volatile("umonitor %0" ::"r"(addr) : "memory");
}

static inline int umwait(uint32_t ctrl, uint64_t deadline)
{
	uint8_t cf;
	__asm__ volatile("umwait %1\n\tsetc %0"
			 : "=r"(cf)
			 : "r"(ctrl), "a"((uint32_t)deadline), "d"((uint32_t)(deadline >> 32))
			 : "cc", "memory");
	return cf;
}

static inline uint64_t rdpid(void)
{
	uint64_t v;
	__asm__ volatile("rdpid %0" : "=r"(v));
	return v;
}

static inline uint64_t rdtscp(uint32_t *aux)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(*aux));
	return (uint64_t)hi << 32 | lo;
}

/* RDRAND/RDSEED: CF=1 when *v holds a random value, CF=0 when none was ready (returns 0). */
static inline int rdrand64(uint64_t *v)
{
	uint8_t ok;
	__asm__ volatile("rdrand %0\n\tsetc %1" : "=r"(*v), "=r"(ok)::"cc");
	return ok;
}

static inline int rdseed64(uint64_t *v)
{
	uint8_t ok;
	__asm__ volatile("rdseed %0\n\tsetc %1" : "=r"(*v), "=r"(ok)::"cc");
	return ok;
}

/* INVPCID descriptor (SDM Vol. 2A, INVPCID, Figure 3-24): PCID in bits 11:0, then the address. */
struct invpcid_desc {
	uint64_t pcid, addr;
};

static inline void invpcid(uint64_t type, const struct invpcid_desc *d)
{
	__asm__ volatile("invpcid %0, %1" ::"m"(*d), "r"(type) : "memory");
}

/* XSAVES/XRSTORS of the components in mask (EDX:EAX) to/from a 64-byte aligned area. */
static inline void xsaves(void *area, uint64_t mask)
{
	__asm__ volatile("xsaves (%0)" ::"r"(area), "a"((uint32_t)mask), "d"((uint32_t)(mask >> 32))
			 : "memory");
}

static inline void xrstors(const void *area, uint64_t mask)
{
	__asm__ volatile("xrstors (%0)" ::"r"(area), "a"((uint32_t)mask), "d"((uint32_t)(mask >> 32))
			 : "memory");
}

static inline uint64_t rdfsbase(void)
{
	uint64_t v;
	__asm__ volatile("rdfsbase %0" : "=r"(v));
	return v;
}

static inline uint64_t rdgsbase(void)
{
	uint64_t v;
	__asm__ volatile("rdgsbase %0" : "=r"(v));
	return v;
}

static inline uint32_t rdpkru(void)
{
	uint32_t v, edx;
	__asm__ volatile("rdpkru" : "=a"(v), "=d"(edx) : "c"(0));
	return v;
}

static inline void wrpkru(uint32_t v) { __asm__ volatile("wrpkru" ::"a"(v), "c"(0), "d"(0) : "memory"); }

static inline void clflushopt(const volatile void *p)
{
	__asm__ volatile("clflushopt %0" ::"m"(*(const volatile char *)p));
}

static inline void clwb(const volatile void *p)
{
	__asm__ volatile("clwb %0" ::"m"(*(const volatile char *)p));
}

/* PCONFIG with leaf EAX (SDM Vol. 2B, PCONFIG): an unsupported leaf raises #GP(0). */
static inline void pconfig(uint32_t leaf)
{
	__asm__ volatile("pconfig" ::"a"(leaf), "b"(0), "c"(0), "d"(0) : "memory");
}

#endif
