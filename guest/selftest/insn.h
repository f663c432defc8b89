/* Wrappers for the instructions the selftest needs that arch/x86/cpu.h does not have (yet).
 * Any CPU, CPL 0. */
#ifndef SELFTEST_INSN_H
#define SELFTEST_INSN_H

#include <stdint.h>

static inline uint64_t read_dr6(void)
{
	uint64_t v;
	__asm__ volatile("mov %%dr6, %0" : "=r"(v));
	return v;
}

static inline void write_dr6(uint64_t v) { __asm__ volatile("mov %0, %%dr6" ::"r"(v)); }

static inline void invd(void) { __asm__ volatile("invd" ::: "memory"); }

#endif
