/* Hand-built MTRR snapshots (struct mtrr_state) for host unit tests of mm/mtrr.c and mm/ept.c.
 * Host only: never linked into keel.efi. */
#ifndef KEEL_TESTS_UNIT_MTRR_HELPERS_H
#define KEEL_TESTS_UNIT_MTRR_HELPERS_H

#include <stdint.h>
#include <string.h>

#include "../../arch/x86/msr.h"
#include "../../mm/mtrr.h"

#define KiB 0x400ull
#define MiB 0x100000ull
#define GiB 0x40000000ull

/* Eight fixed-range entries of one type, as one fixed-range MSR holds them. */
#define FIXED8(t) (0x0101010101010101ull * (uint64_t)(t))

/* MTRRs enabled (E), default type def, fixed ranges supported but off (FE clear), no variable
 * ranges, a CPU with phys_bits physical address bits. */
static inline struct mtrr_state mtrr_snapshot(unsigned def, unsigned phys_bits)
{
	struct mtrr_state s;
	memset(&s, 0, sizeof(s));
	s.def_type = MTRR_DEF_TYPE_E | def;
	s.have_fixed = 1;
	s.phys_mask = (1ull << phys_bits) - 1;
	return s;
}

/* Turns the fixed ranges on with every entry of type t. */
static inline void mtrr_fixed_all(struct mtrr_state *s, unsigned t)
{
	s->def_type |= MTRR_DEF_TYPE_FE;
	for (unsigned i = 0; i < MTRR_FIXED_COUNT; i++)
		s->fixed[i] = FIXED8(t);
}

/* Adds a valid variable range [base, base + size) of type t; size a power of two >= 4 KiB, base
 * aligned to it. PhysMask carries every address bit the CPU has above the range size. */
static inline void mtrr_add_var(struct mtrr_state *s, uint64_t base, uint64_t size, unsigned t)
{
	unsigned i = s->var_count++;
	s->var_base[i] = base | t;
	s->var_mask[i] = (~(size - 1) & s->phys_mask & ~0xFFFull) | MTRR_PHYSMASK_VALID;
}

/*
 * What OVMF leaves on Bochs with 512 MiB of RAM (keel's Bochs boot log: "MTRRs on (default WB,
 * 8 variable)", 3 x 1 GiB EPT pages): default WB, fixed ranges on with 0-0x9FFFF WB and
 * 0xA0000-0xFFFFF UC, one UC variable range over 0xC0000000-0xFFFFFFFF; 40 address bits.
 */
static inline struct mtrr_state mtrr_bochs_ovmf(void)
{
	struct mtrr_state s = mtrr_snapshot(MT_WB, 40);
	mtrr_fixed_all(&s, MT_WB);
	s.fixed[2] = FIXED8(MT_UC); /* FIX16K_A0000: 0xA0000-0xBFFFF */
	for (unsigned i = 3; i < MTRR_FIXED_COUNT; i++)
		s.fixed[i] = FIXED8(MT_UC); /* FIX4K_C0000..F8000 */
	s.var_count = 8;            /* 8 reported, the others left invalid */
	s.var_base[0] = 0xC0000000ull | MT_UC;
	s.var_mask[0] = (~(GiB - 1) & s.phys_mask & ~0xFFFull) | MTRR_PHYSMASK_VALID;
	return s;
}

#endif
