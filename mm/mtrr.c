/* Memory-type range registers: decoding the firmware's MTRRs into the memory type of a physical
 * range (Intel SDM Vol. 3A 11.11). Pure logic over a snapshot; mtrr_read() takes the snapshot. */
#include "mtrr.h"

#include "../arch/x86/msr.h"
#include "../lib/string.h"

#define ONE_MIB 0x100000ULL

#ifndef KEEL_HOST_TEST
void mtrr_read(struct mtrr_state *s, unsigned max_phys_bits)
{
	struct cpuid_regs r;

	memset(s, 0, sizeof(*s));
	s->phys_mask = (1ULL << max_phys_bits) - 1;
	cpuid(1, 0, &r);
	if (!(r.edx & BIT(12))) /* CPUID.1:EDX.MTRR */
		return;
	uint64_t cap = rdmsr(MSR_IA32_MTRRCAP);
	s->def_type = rdmsr(MSR_IA32_MTRR_DEF_TYPE);
	s->var_count = (unsigned)(cap & MTRRCAP_VCNT_MASK);
	if (s->var_count > MTRR_MAX_VAR)
		s->var_count = MTRR_MAX_VAR;
	for (unsigned i = 0; i < s->var_count; i++) {
		s->var_base[i] = rdmsr(MSR_IA32_MTRR_PHYSBASE0 + 2 * i);
		s->var_mask[i] = rdmsr(MSR_IA32_MTRR_PHYSMASK0 + 2 * i);
	}
	s->have_fixed = !!(cap & MTRRCAP_FIX);
	if (s->have_fixed) {
		s->fixed[0] = rdmsr(MSR_IA32_MTRR_FIX64K_00000);
		s->fixed[1] = rdmsr(MSR_IA32_MTRR_FIX16K_80000);
		s->fixed[2] = rdmsr(MSR_IA32_MTRR_FIX16K_A0000);
		for (unsigned i = 0; i < 8; i++)
			s->fixed[3 + i] = rdmsr(MSR_IA32_MTRR_FIX4K_C0000 + i);
	}
}
#endif

const char *mtrr_type_name(unsigned t)
{
	switch (t) {
	case MT_UC: return "UC";
	case MT_WC: return "WC";
	case MT_WT: return "WT";
	case MT_WP: return "WP";
	case MT_WB: return "WB";
	default: return "reserved";
	}
}

/* Type of the fixed-range entry that covers addr (< 1 MiB). */
static unsigned fixed_type(const struct mtrr_state *s, uint64_t addr)
{
	unsigned msr, idx;
	if (addr < 0x80000) {
		msr = 0;
		idx = (unsigned)(addr >> 16);
	} else if (addr < 0xC0000) {
		msr = 1 + (unsigned)((addr - 0x80000) >> 17);
		idx = (unsigned)((addr >> 14) & 7);
	} else {
		msr = 3 + (unsigned)((addr - 0xC0000) >> 15);
		idx = (unsigned)((addr >> 12) & 7);
	}
	return (unsigned)(s->fixed[msr] >> (idx * 8)) & 0xFF;
}

/* Granule of the fixed entry covering addr: 64 KiB, 16 KiB or 4 KiB. */
static uint64_t fixed_granule(uint64_t addr)
{
	return addr < 0x80000 ? 0x10000 : addr < 0xC0000 ? 0x4000 : 0x1000;
}

/* Combines the types of all variable ranges that match (SDM 11.11.4.1). */
static unsigned combine(unsigned have, unsigned t, int first)
{
	if (first || have == t)
		return t;
	if (have == MT_UC || t == MT_UC)
		return MT_UC;
	if ((have == MT_WT && t == MT_WB) || (have == MT_WB && t == MT_WT))
		return MT_WT;
	return MT_UC; /* undefined combination: the safe choice */
}

static int variable_type(const struct mtrr_state *s, uint64_t base, uint64_t size, unsigned *type)
{
	int matched = 0;
	unsigned t = 0;

	for (unsigned i = 0; i < s->var_count; i++) {
		if (!(s->var_mask[i] & MTRR_PHYSMASK_VALID))
			continue;
		uint64_t mask = s->var_mask[i] & s->phys_mask & ~0xFFFULL;
		uint64_t rbase = s->var_base[i] & s->phys_mask & ~0xFFFULL;
		uint64_t inside = mask & (size - 1);
		/* Does any address of the range match? Compare the bits above the range size. */
		if ((base & mask & ~(size - 1)) != (rbase & mask & ~(size - 1)))
			continue;
		if (inside)
			return 0; /* matches part of the range only */
		t = combine(t, (unsigned)(s->var_base[i] & 0xFF), !matched);
		matched = 1;
	}
	*type = matched ? t : (unsigned)(s->def_type & 0xFF);
	return 1;
}

int mtrr_range_type(const struct mtrr_state *s, uint64_t base, uint64_t size, unsigned *type)
{
	if (!(s->def_type & MTRR_DEF_TYPE_E)) {
		*type = MT_UC;
		return 1;
	}
	if (base < ONE_MIB && s->have_fixed && (s->def_type & MTRR_DEF_TYPE_FE)) {
		if (base + size > ONE_MIB)
			return 0; /* spans fixed and variable territory: let the caller split */
		unsigned t = fixed_type(s, base);
		for (uint64_t a = base; a < base + size; a += fixed_granule(a))
			if (fixed_type(s, a) != t)
				return 0;
		*type = t;
		return 1;
	}
	return variable_type(s, base, size, type);
}
