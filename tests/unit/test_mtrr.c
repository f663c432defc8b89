/* Host unit tests for mm/mtrr.c: the memory type of a physical range from a hand-built MTRR
 * snapshot (SDM Vol. 3A 11.11), and type names. Host program (cmocka); links mm/mtrr.c.
 * mtrr_read() is left out of host builds (KEEL_HOST_TEST). */
#include "unit.h"

#include "mtrr_helpers.h"

/* The type mtrr_range_type reports; fails the test when it says the range is mixed. */
static unsigned type_of(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
	unsigned t = 0xFF;
	if (!mtrr_range_type(s, base, size, &t))
		fail_msg("range 0x%llx+0x%llx reported mixed", (unsigned long long)base,
			 (unsigned long long)size);
	return t;
}

static int is_uniform(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
	unsigned t;
	return mtrr_range_type(s, base, size, &t);
}

/* ---- enable bit and default type ---- */

static void test_mtrrs_disabled_give_uc(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0, 4 * GiB, MT_WB);
	mtrr_fixed_all(&s, MT_WB);
	s.def_type &= ~MTRR_DEF_TYPE_E;
	assert_int_equal(type_of(&s, 0, 4 * KiB), MT_UC);
	assert_int_equal(type_of(&s, 0x100000, 4 * KiB), MT_UC);
	assert_int_equal(type_of(&s, GiB, GiB), MT_UC);
}

static void test_mtrrs_disabled_make_even_a_huge_range_uniform(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	s.def_type &= ~MTRR_DEF_TYPE_E;
	assert_int_equal(type_of(&s, 0, 512 * GiB), MT_UC);
}

static void test_default_type_when_nothing_matches(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	assert_int_equal(type_of(&s, 0x200000, 2 * MiB), MT_WB);
	s = mtrr_snapshot(MT_UC, 36);
	mtrr_add_var(&s, 0, 512 * MiB, MT_WB);
	assert_int_equal(type_of(&s, 512 * MiB, 2 * MiB), MT_UC);
	assert_int_equal(type_of(&s, 3 * GiB, GiB), MT_UC);
}

static void test_invalid_variable_range_is_ignored(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0xC0000000, GiB, MT_UC);
	s.var_mask[0] &= ~MTRR_PHYSMASK_VALID;
	assert_int_equal(type_of(&s, 0xC0000000, GiB), MT_WB);
}

static void test_variable_ranges_beyond_var_count_are_ignored(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0xC0000000, GiB, MT_UC);
	s.var_count = 0;
	assert_int_equal(type_of(&s, 0xC0000000, GiB), MT_WB);
}

/* ---- fixed ranges (SDM 11.11.2.2) ---- */

/* Sets entry idx (0-7) of fixed-range MSR msr (0 = FIX64K_00000 ... 10 = FIX4K_F8000). */
static void set_fixed(struct mtrr_state *s, unsigned msr, unsigned idx, unsigned t)
{
	s->fixed[msr] = (s->fixed[msr] & ~(0xFFull << (8 * idx))) | ((uint64_t)t << (8 * idx));
}

static void test_fixed_64k_entries(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_fixed_all(&s, MT_WB);
	s.fixed[0] = 0x0605040100060405ull; /* entries 0..7: WP WT WB UC WC WT WP WB */
	assert_int_equal(type_of(&s, 0x00000, 64 * KiB), MT_WP);
	assert_int_equal(type_of(&s, 0x10000, 64 * KiB), MT_WT);
	assert_int_equal(type_of(&s, 0x20000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0x2F000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0x30000, 16 * KiB), MT_UC);
	assert_int_equal(type_of(&s, 0x40000, 4 * KiB), MT_WC);
	assert_int_equal(type_of(&s, 0x50000, 32 * KiB), MT_WT);
	assert_int_equal(type_of(&s, 0x60000, 64 * KiB), MT_WP);
	assert_int_equal(type_of(&s, 0x7F000, 4 * KiB), MT_WB);
}

static void test_fixed_16k_entries(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_fixed_all(&s, MT_WB);
	set_fixed(&s, 1, 1, MT_WT); /* 0x84000-0x87FFF */
	set_fixed(&s, 2, 7, MT_WC); /* 0xBC000-0xBFFFF */
	assert_int_equal(type_of(&s, 0x80000, 16 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0x84000, 16 * KiB), MT_WT);
	assert_int_equal(type_of(&s, 0x87000, 4 * KiB), MT_WT);
	assert_int_equal(type_of(&s, 0x88000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0xA0000, 16 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0xBC000, 16 * KiB), MT_WC);
	assert_int_equal(type_of(&s, 0xBF000, 4 * KiB), MT_WC);
}

static void test_fixed_4k_entries(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_fixed_all(&s, MT_WB);
	set_fixed(&s, 3, 0, MT_WP);     /* 0xC0000 */
	set_fixed(&s, 8, 2, MT_WT);     /* 0xEA000 */
	s.fixed[10] = FIXED8(MT_UC);    /* 0xF8000-0xFFFFF */
	assert_int_equal(type_of(&s, 0xC0000, 4 * KiB), MT_WP);
	assert_int_equal(type_of(&s, 0xC1000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0xE9000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0xEA000, 4 * KiB), MT_WT);
	assert_int_equal(type_of(&s, 0xEB000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0xF8000, 32 * KiB), MT_UC);
	assert_int_equal(type_of(&s, 0xFF000, 4 * KiB), MT_UC);
}

static void test_fixed_ranges_ignored_when_fe_clear(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_fixed_all(&s, MT_UC);
	s.def_type &= ~MTRR_DEF_TYPE_FE;
	assert_int_equal(type_of(&s, 0xA0000, 4 * KiB), MT_WB);
	/* Without fixed ranges the first 2 MiB is one variable-range question. */
	assert_int_equal(type_of(&s, 0, 2 * MiB), MT_WB);
}

static void test_fixed_ranges_ignored_without_mtrrcap_fix(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_fixed_all(&s, MT_UC);
	s.have_fixed = 0;
	assert_int_equal(type_of(&s, 0xA0000, 4 * KiB), MT_WB);
}

static void test_fixed_ranges_override_variable_ranges_below_1m(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_fixed_all(&s, MT_WB);
	mtrr_add_var(&s, 0, 1 * MiB, MT_UC);
	assert_int_equal(type_of(&s, 0x10000, 4 * KiB), MT_WB);
	/* At 1 MiB and above the variable ranges apply again. */
	mtrr_add_var(&s, 1 * MiB, 1 * MiB, MT_UC);
	assert_int_equal(type_of(&s, 1 * MiB, 4 * KiB), MT_UC);
}

static void test_range_over_two_fixed_entries_of_different_types_is_mixed(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_fixed_all(&s, MT_WB);
	set_fixed(&s, 1, 0, MT_UC); /* 0x80000 UC, 0x84000 WB */
	assert_false(is_uniform(&s, 0x80000, 32 * KiB));
	assert_int_equal(type_of(&s, 0x84000, 16 * KiB), MT_WB);
	set_fixed(&s, 0, 1, MT_WT); /* 0x00000 WB, 0x10000 WT */
	assert_false(is_uniform(&s, 0x00000, 128 * KiB));
	set_fixed(&s, 10, 7, MT_WP); /* 0xFF000 WP, 0xFE000 WB */
	assert_false(is_uniform(&s, 0xFE000, 8 * KiB));
}

static void test_range_over_fixed_entries_of_one_type_is_uniform(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_fixed_all(&s, MT_WB);
	assert_int_equal(type_of(&s, 0, 512 * KiB), MT_WB);
	/* 64K, 16K and 4K entries at once. */
	assert_int_equal(type_of(&s, 0, 1 * MiB), MT_WB);
	set_fixed(&s, 10, 0, MT_UC); /* 0xF8000 */
	assert_false(is_uniform(&s, 0, 1 * MiB));
	assert_false(is_uniform(&s, 0xC0000, 256 * KiB));
}

static void test_2m_at_0_crosses_1m_and_is_mixed(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_fixed_all(&s, MT_WB); /* even with every fixed entry WB, like the default */
	assert_false(is_uniform(&s, 0, 2 * MiB));
	assert_false(is_uniform(&s, 0, GiB));
}

/* Even when fixed ranges, variable ranges and the default all say UC: the caller splits rather
 * than reading fixed-range entries past 1 MiB. */
static void test_2m_at_0_is_mixed_even_when_all_uc(void **state)
{
	(void)state;
	struct mtrr_state s;
	memset(&s, 0, sizeof(s));
	s.def_type = MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | MT_UC;
	s.have_fixed = 1;
	s.phys_mask = (1ull << 36) - 1;
	assert_false(is_uniform(&s, 0, 2 * MiB));
	assert_int_equal(type_of(&s, 0, 1 * MiB), MT_UC);
	assert_int_equal(type_of(&s, 1 * MiB, 1 * MiB), MT_UC);
}

/* ---- variable ranges (SDM 11.11.2.3) ---- */

static void test_variable_range_by_mask(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_add_var(&s, 0, 512 * MiB, MT_WB);
	assert_int_equal(type_of(&s, 0x100000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0x1FE00000, 2 * MiB), MT_WB);
	assert_int_equal(type_of(&s, 0x1FFFF000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0x20000000, 4 * KiB), MT_UC);
	assert_int_equal(type_of(&s, 0, 512 * MiB), MT_WB);
}

static void test_variable_range_type_from_physbase_low_byte(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0xC0000000, 256 * MiB, MT_WC);
	assert_int_equal(type_of(&s, 0xC0000000, 2 * MiB), MT_WC);
	assert_int_equal(type_of(&s, 0xCFE00000, 2 * MiB), MT_WC);
	assert_int_equal(type_of(&s, 0xD0000000, 2 * MiB), MT_WB);
}

/* A mask with holes matches every address whose masked bits agree (SDM 11.11.3 allows it). */
static void test_non_contiguous_mask_matches_aliases(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	s.var_count = 1;
	s.var_base[0] = 0x0 | MT_UC;
	s.var_mask[0] = (0xFFFFFFFFFull & ~(0x3FFFFFFFull | BIT(31))) | MTRR_PHYSMASK_VALID;
	/* Compares bits 35:32 and 30: the range repeats at 0 and 2 GiB. */
	assert_int_equal(type_of(&s, 0, GiB), MT_UC);
	assert_int_equal(type_of(&s, 2 * GiB, GiB), MT_UC);
	assert_int_equal(type_of(&s, 1 * GiB, GiB), MT_WB);
	assert_false(is_uniform(&s, 0, 4 * GiB));
}

/* ---- overlapping variable ranges (SDM 11.11.4.1) ---- */

static void test_uc_wins_over_wb(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_add_var(&s, 0, 4 * GiB, MT_WB);
	mtrr_add_var(&s, 0xC0000000, GiB, MT_UC);
	assert_int_equal(type_of(&s, 0xC0000000, 2 * MiB), MT_UC);
	assert_int_equal(type_of(&s, 0xC0000000, GiB), MT_UC);
	assert_int_equal(type_of(&s, 0x80000000, GiB), MT_WB);
}

static void test_uc_wins_whatever_the_order(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0xC0000000, GiB, MT_UC);
	mtrr_add_var(&s, 0, 4 * GiB, MT_WB);
	assert_int_equal(type_of(&s, 0xC0000000, 2 * MiB), MT_UC);
	struct mtrr_state t = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&t, 0, 4 * GiB, MT_WT);
	mtrr_add_var(&t, 0, 4 * GiB, MT_UC);
	mtrr_add_var(&t, 0, 4 * GiB, MT_WB);
	assert_int_equal(type_of(&t, GiB, 4 * KiB), MT_UC);
}

static void test_uc_wins_over_wc_wt_and_wp(void **state)
{
	(void)state;
	const unsigned others[] = { MT_WC, MT_WT, MT_WP };
	for (unsigned i = 0; i < 3; i++) {
		struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
		mtrr_add_var(&s, 0x80000000, 2 * GiB, others[i]);
		mtrr_add_var(&s, 0x80000000, GiB, MT_UC);
		assert_int_equal(type_of(&s, 0x80000000, 4 * KiB), MT_UC);
		assert_int_equal(type_of(&s, 0xC0000000, 4 * KiB), others[i]);
	}
}

static void test_wt_and_wb_give_wt(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_add_var(&s, 0, 4 * GiB, MT_WB);
	mtrr_add_var(&s, 0, 1 * GiB, MT_WT);
	assert_int_equal(type_of(&s, 0x200000, 2 * MiB), MT_WT);
	assert_int_equal(type_of(&s, GiB, 2 * MiB), MT_WB);
	struct mtrr_state t = mtrr_snapshot(MT_UC, 36);
	mtrr_add_var(&t, 0, 1 * GiB, MT_WT);
	mtrr_add_var(&t, 0, 4 * GiB, MT_WB);
	assert_int_equal(type_of(&t, 0x200000, 2 * MiB), MT_WT);
}

static void test_two_ranges_of_one_type_keep_it(void **state)
{
	(void)state;
	const unsigned types[] = { MT_UC, MT_WC, MT_WT, MT_WP, MT_WB };
	for (unsigned i = 0; i < 5; i++) {
		struct mtrr_state s = mtrr_snapshot(types[i] == MT_UC ? MT_WB : MT_UC, 36);
		mtrr_add_var(&s, 0, 2 * GiB, types[i]);
		mtrr_add_var(&s, GiB, GiB, types[i]);
		assert_int_equal(type_of(&s, GiB, 2 * MiB), types[i]);
	}
}

static void test_wc_and_wb_undefined_treated_as_uc(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0, 4 * GiB, MT_WB);
	mtrr_add_var(&s, 0xE0000000, 256 * MiB, MT_WC);
	assert_int_equal(type_of(&s, 0xE0000000, 2 * MiB), MT_UC);
	assert_int_equal(type_of(&s, 0xF0000000, 2 * MiB), MT_WB);
}

static void test_other_undefined_combinations_treated_as_uc(void **state)
{
	(void)state;
	const unsigned pairs[][2] = { { MT_WC, MT_WT }, { MT_WP, MT_WB }, { MT_WT, MT_WP }, { MT_WC, MT_WP } };
	for (unsigned i = 0; i < 4; i++) {
		struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
		mtrr_add_var(&s, 0, GiB, pairs[i][0]);
		mtrr_add_var(&s, 0, GiB, pairs[i][1]);
		assert_int_equal(type_of(&s, 0x400000, 4 * KiB), MT_UC);
	}
}

static void test_wt_wb_then_wc_is_uc(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0, GiB, MT_WB);
	mtrr_add_var(&s, 0, GiB, MT_WT);
	mtrr_add_var(&s, 0, GiB, MT_WC);
	assert_int_equal(type_of(&s, 0x400000, 4 * KiB), MT_UC);
}

/* ---- ranges only partly covered: the EPT builder must split ---- */

static void test_range_partly_covered_by_a_variable_range_is_mixed(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0xFEC00000, 4 * KiB, MT_UC); /* an I/O APIC page */
	assert_false(is_uniform(&s, 0xFEC00000, 2 * MiB));
	assert_false(is_uniform(&s, 0xC0000000, GiB));
	assert_int_equal(type_of(&s, 0xFEC00000, 4 * KiB), MT_UC);
	assert_int_equal(type_of(&s, 0xFEC01000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0xFEA00000, 2 * MiB), MT_WB);
}

static void test_2m_range_inside_1g_page_is_mixed(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0xE0000000, 512 * MiB, MT_UC);
	assert_false(is_uniform(&s, 0xC0000000, GiB));
	assert_int_equal(type_of(&s, 0xE0000000, 2 * MiB), MT_UC);
	assert_int_equal(type_of(&s, 0xDFE00000, 2 * MiB), MT_WB);
}

static void test_partial_match_is_mixed_even_under_a_covering_range(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_UC, 36);
	mtrr_add_var(&s, 0, 4 * GiB, MT_WB);
	mtrr_add_var(&s, 0x9F000000, 16 * MiB, MT_WC);
	assert_false(is_uniform(&s, 0x80000000, GiB));
	assert_int_equal(type_of(&s, 0x80000000, 256 * MiB), MT_WB);
}

/* ---- physical address width ---- */

static void test_physmask_bits_above_maxphyaddr_are_ignored(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	s.var_count = 1;
	s.var_base[0] = 0xC0000000ull | MT_UC;
	s.var_mask[0] = 0xFFFFFFFFC0000000ull | MTRR_PHYSMASK_VALID; /* reserved bits 63:36 set */
	assert_int_equal(type_of(&s, 0xC0000000, GiB), MT_UC);
	assert_int_equal(type_of(&s, 0x80000000, GiB), MT_WB);
}

static void test_physbase_bits_above_maxphyaddr_are_ignored(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	mtrr_add_var(&s, 0xC0000000, GiB, MT_UC);
	s.var_base[0] |= 0xFFF0000000000000ull;
	assert_int_equal(type_of(&s, 0xC0000000, GiB), MT_UC);
}

static void test_range_below_4g_does_not_match_above_4g(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_snapshot(MT_WB, 40);
	mtrr_add_var(&s, 0xC0000000, GiB, MT_UC);
	assert_int_equal(type_of(&s, 0x1C0000000ull, GiB), MT_WB);
	assert_int_equal(type_of(&s, 0xFFC0000000ull, GiB), MT_WB);
}

static void test_narrow_mask_aliases_above_its_bits(void **state)
{
	(void)state;
	/* A PhysMask written for 32 address bits on a 36-bit CPU compares bits 31:30 only, so the
	 * range also matches at 4 GiB + 3 GiB: what the hardware does with such a mask. */
	struct mtrr_state s = mtrr_snapshot(MT_WB, 36);
	s.var_count = 1;
	s.var_base[0] = 0xC0000000ull | MT_UC;
	s.var_mask[0] = 0xC0000000ull | MTRR_PHYSMASK_VALID;
	assert_int_equal(type_of(&s, 0x1C0000000ull, GiB), MT_UC);
	assert_int_equal(type_of(&s, 0x100000000ull, GiB), MT_WB);
}

/* ---- the Bochs/OVMF snapshot used by the EPT tests ---- */

static void test_bochs_ovmf_snapshot_types(void **state)
{
	(void)state;
	struct mtrr_state s = mtrr_bochs_ovmf();
	assert_int_equal(type_of(&s, 0x9F000, 4 * KiB), MT_WB);
	assert_int_equal(type_of(&s, 0xA0000, 4 * KiB), MT_UC);
	assert_int_equal(type_of(&s, 0xFF000, 4 * KiB), MT_UC);
	assert_int_equal(type_of(&s, 0x100000, 4 * KiB), MT_WB);
	assert_false(is_uniform(&s, 0, 2 * MiB));
	assert_int_equal(type_of(&s, 0x1E000000, 2 * MiB), MT_WB);
	assert_int_equal(type_of(&s, GiB, GiB), MT_WB);
	assert_int_equal(type_of(&s, 3 * GiB, GiB), MT_UC);
}

/* ---- names ---- */

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(mtrr_type_name(MT_UC), "UC");
	assert_string_equal(mtrr_type_name(MT_WC), "WC");
	assert_string_equal(mtrr_type_name(MT_WT), "WT");
	assert_string_equal(mtrr_type_name(MT_WP), "WP");
	assert_string_equal(mtrr_type_name(MT_WB), "WB");
}

static void test_reserved_type_names(void **state)
{
	(void)state;
	assert_string_equal(mtrr_type_name(2), "reserved");
	assert_string_equal(mtrr_type_name(3), "reserved");
	assert_string_equal(mtrr_type_name(7), "reserved");
	assert_string_equal(mtrr_type_name(0xFF), "reserved");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mtrrs_disabled_give_uc),
		cmocka_unit_test(test_mtrrs_disabled_make_even_a_huge_range_uniform),
		cmocka_unit_test(test_default_type_when_nothing_matches),
		cmocka_unit_test(test_invalid_variable_range_is_ignored),
		cmocka_unit_test(test_variable_ranges_beyond_var_count_are_ignored),
		cmocka_unit_test(test_fixed_64k_entries),
		cmocka_unit_test(test_fixed_16k_entries),
		cmocka_unit_test(test_fixed_4k_entries),
		cmocka_unit_test(test_fixed_ranges_ignored_when_fe_clear),
		cmocka_unit_test(test_fixed_ranges_ignored_without_mtrrcap_fix),
		cmocka_unit_test(test_fixed_ranges_override_variable_ranges_below_1m),
		cmocka_unit_test(test_range_over_two_fixed_entries_of_different_types_is_mixed),
		cmocka_unit_test(test_range_over_fixed_entries_of_one_type_is_uniform),
		cmocka_unit_test(test_2m_at_0_crosses_1m_and_is_mixed),
		cmocka_unit_test(test_2m_at_0_is_mixed_even_when_all_uc),
		cmocka_unit_test(test_variable_range_by_mask),
		cmocka_unit_test(test_variable_range_type_from_physbase_low_byte),
		cmocka_unit_test(test_non_contiguous_mask_matches_aliases),
		cmocka_unit_test(test_uc_wins_over_wb),
		cmocka_unit_test(test_uc_wins_whatever_the_order),
		cmocka_unit_test(test_uc_wins_over_wc_wt_and_wp),
		cmocka_unit_test(test_wt_and_wb_give_wt),
		cmocka_unit_test(test_two_ranges_of_one_type_keep_it),
		cmocka_unit_test(test_wc_and_wb_undefined_treated_as_uc),
		cmocka_unit_test(test_other_undefined_combinations_treated_as_uc),
		cmocka_unit_test(test_wt_wb_then_wc_is_uc),
		cmocka_unit_test(test_range_partly_covered_by_a_variable_range_is_mixed),
		cmocka_unit_test(test_2m_range_inside_1g_page_is_mixed),
		cmocka_unit_test(test_partial_match_is_mixed_even_under_a_covering_range),
		cmocka_unit_test(test_physmask_bits_above_maxphyaddr_are_ignored),
		cmocka_unit_test(test_physbase_bits_above_maxphyaddr_are_ignored),
		cmocka_unit_test(test_range_below_4g_does_not_match_above_4g),
		cmocka_unit_test(test_narrow_mask_aliases_above_its_bits),
		cmocka_unit_test(test_bochs_ovmf_snapshot_types),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_reserved_type_names),
	};
	return cmocka_run_group_tests_name("mtrr", tests, NULL, NULL);
}
