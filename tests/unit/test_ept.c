/* Host unit tests for mm/ept.c: building keel's identity EPT map from MTRR snapshots, hidden
 * ranges, lookups, 4 KiB remaps that split large pages, the EPTP, and table memory. Host program
 * (cmocka); links mm/ept.c, mm/mtrr.c and the host page allocator (host_pages.c), whose page
 * addresses stand in for physical ones: EPT entries only store them. */
#include "unit.h"

#include "../../arch/x86/ept.h"
#include "../../mm/ept.h"
#include "host_pages.h"
#include "mtrr_helpers.h"

static struct mtrr_state mtrr;
static struct ept ept;

/* An empty map of [0, top) over the snapshot `mtrr`, built from host pages. */
static struct ept *new_ept(uint64_t top, int use_1g, int use_2m)
{
	memset(&ept, 0, sizeof(ept));
	ept.map_top = top;
	ept.use_1g = use_1g;
	ept.use_2m = use_2m;
	ept.mtrr = &mtrr;
	ept.alloc_page = host_page_alloc;
	return &ept;
}

static struct ept *build(uint64_t top, int use_1g, int use_2m)
{
	struct ept *e = new_ept(top, use_1g, use_2m);
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->stats.tables + e->stats.dev_tables, host_pages_count());
	return e;
}

static int reset(void **state)
{
	mtrr = mtrr_snapshot(MT_WB, 36);
	return host_pages_reset(state);
}

/* The leaf mapping gpa, which must exist at `level`. */
static uint64_t leaf_at(const struct ept *e, uint64_t gpa, int level)
{
	int got = -1;
	uint64_t *ent = ept_lookup(e, gpa, &got);
	if (!ent)
		fail_msg("gpa 0x%llx not mapped", (unsigned long long)gpa);
	if (got != level)
		fail_msg("gpa 0x%llx mapped at level %d, expected %d", (unsigned long long)gpa, got, level);
	return *ent;
}

/* gpa must be mapped identity, read/write/execute, at `level` with memory type `type`. */
static void assert_identity(const struct ept *e, uint64_t gpa, int level, unsigned type)
{
	uint64_t ent = leaf_at(e, gpa, level);
	uint64_t page = gpa & ~((1ull << EPT_LEVEL_SHIFT(level)) - 1);
	assert_int_equal(ept_entry_addr(ent), page);
	assert_int_equal(ent & EPT_RWX, EPT_RWX);
	assert_int_equal(ept_entry_type(ent), type);
	assert_int_equal(!!(ent & EPT_PS), level > 0);
}

static void assert_unmapped(const struct ept *e, uint64_t gpa)
{
	int level = -1;
	if (ept_lookup(e, gpa, &level))
		fail_msg("gpa 0x%llx unexpectedly mapped at level %d", (unsigned long long)gpa, level);
}

/* ---- page sizes and table counts ---- */

static void test_uniform_wb_4g_uses_2_tables_and_4_1g_pages(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.tables, 2);
	assert_int_equal(e->stats.pages_1g, 4);
	assert_int_equal(e->stats.pages_2m, 0);
	assert_int_equal(e->stats.pages_4k, 0);
	assert_int_equal(e->stats.hidden_pages, 0);
	for (unsigned g = 0; g < 4; g++)
		assert_identity(e, g * GiB, 2, MT_WB);
}

static void test_without_1g_pages_uses_2m_pages(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 0, 1);
	assert_int_equal(e->stats.tables, 6); /* PML4, PDPT, 4 PDs */
	assert_int_equal(e->stats.pages_1g, 0);
	assert_int_equal(e->stats.pages_2m, 2048);
	assert_int_equal(e->stats.pages_4k, 0);
	assert_identity(e, 0, 1, MT_WB);
	assert_identity(e, 0xFFE00000, 1, MT_WB);
}

static void test_without_large_pages_uses_4k_pages(void **state)
{
	(void)state;
	struct ept *e = build(4 * MiB, 0, 0);
	assert_int_equal(e->stats.tables, 5); /* PML4, PDPT, PD, 2 PTs */
	assert_int_equal(e->stats.pages_4k, 1024);
	assert_int_equal(e->stats.pages_2m + e->stats.pages_1g, 0);
	assert_identity(e, 0x3FF000, 0, MT_WB);
	assert_unmapped(e, 4 * MiB);
}

static void test_map_top_inside_a_gib_ends_with_2m_pages(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB + 6 * MiB, 1, 1);
	assert_int_equal(e->stats.tables, 3);
	assert_int_equal(e->stats.pages_1g, 4);
	assert_int_equal(e->stats.pages_2m, 3);
	assert_identity(e, 4 * GiB + 4 * MiB, 1, MT_WB);
	assert_unmapped(e, 4 * GiB + 6 * MiB);
	assert_unmapped(e, 5 * GiB);
}

static void test_map_beyond_512g_uses_a_second_pdpt(void **state)
{
	(void)state;
	struct ept *e = build(513 * GiB, 1, 1);
	assert_int_equal(e->stats.tables, 3);
	assert_int_equal(e->stats.pages_1g, 513);
	assert_identity(e, 512 * GiB, 2, MT_WB);
}

static void test_leaf_format(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	/* 1 GiB at 2 GiB, RWX, WB (6 << 3), PS; no IPAT, nothing above the address. */
	assert_int_equal(leaf_at(e, 2 * GiB, 2), 0x80000000ull | 0x7 | (6 << 3) | BIT(7));
	/* Non-leaf PML4 entry: RWX and the PDPT's address only. */
	assert_int_equal(e->pml4[0] & ~EPT_ADDR_MASK, EPT_RWX);
	assert_int_equal(e->pml4[1], 0);
}

/* ---- memory types from the MTRRs ---- */

static void test_uc_variable_range_gives_uc_leaves(void **state)
{
	(void)state;
	mtrr_add_var(&mtrr, 0xC0000000, GiB, MT_UC);
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.pages_1g, 4);
	assert_identity(e, 0, 2, MT_WB);
	assert_identity(e, 2 * GiB, 2, MT_WB);
	assert_identity(e, 0xC0000000, 2, MT_UC);
	assert_identity(e, 0xFFFFF000, 2, MT_UC);
}

static void test_uc_variable_range_without_1g_pages(void **state)
{
	(void)state;
	mtrr_add_var(&mtrr, 0xC0000000, GiB, MT_UC);
	struct ept *e = build(4 * GiB, 0, 1);
	assert_identity(e, 0xBFE00000, 1, MT_WB);
	assert_identity(e, 0xC0000000, 1, MT_UC);
	assert_identity(e, 0xFEE00000, 1, MT_UC);
}

static void test_default_uc_with_wb_ram_range(void **state)
{
	(void)state;
	mtrr = mtrr_snapshot(MT_UC, 36);
	mtrr_add_var(&mtrr, 0, 2 * GiB, MT_WB);
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.pages_1g, 4);
	assert_identity(e, GiB, 2, MT_WB);
	assert_identity(e, 2 * GiB, 2, MT_UC);
}

static void test_range_covering_part_of_a_gib_splits_it_into_2m(void **state)
{
	(void)state;
	mtrr_add_var(&mtrr, 0xE0000000, 512 * MiB, MT_UC);
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.tables, 3);
	assert_int_equal(e->stats.pages_1g, 3);
	assert_int_equal(e->stats.pages_2m, 512);
	assert_identity(e, 0xDFE00000, 1, MT_WB);
	assert_identity(e, 0xE0000000, 1, MT_UC);
	assert_identity(e, 2 * GiB, 2, MT_WB);
}

static void test_uc_4k_range_splits_down_to_4k(void **state)
{
	(void)state;
	mtrr_add_var(&mtrr, 0xFEC00000, 4 * KiB, MT_UC);
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.tables, 4);
	assert_int_equal(e->stats.pages_1g, 3);
	assert_int_equal(e->stats.pages_2m, 511);
	assert_int_equal(e->stats.pages_4k, 512);
	assert_identity(e, 0xFEC00000, 0, MT_UC);
	assert_identity(e, 0xFEC01000, 0, MT_WB);
	assert_identity(e, 0xFEBFF000, 1, MT_WB);
}

static void test_fixed_ranges_force_4k_pages_in_first_2m(void **state)
{
	(void)state;
	mtrr = mtrr_bochs_ovmf();
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.tables, 4); /* PML4, PDPT, PD, one PT */
	assert_int_equal(e->stats.pages_4k, 512);
	assert_int_equal(e->stats.pages_2m, 511);
	assert_int_equal(e->stats.pages_1g, 3);
	assert_identity(e, 0, 0, MT_WB);
	assert_identity(e, 0x9F000, 0, MT_WB);
	assert_identity(e, 0xA0000, 0, MT_UC);
	assert_identity(e, 0xFF000, 0, MT_UC);
	assert_identity(e, 0x100000, 0, MT_WB);
	assert_identity(e, 0x1FF000, 0, MT_WB);
	assert_identity(e, 0x200000, 1, MT_WB);
	assert_identity(e, 3 * GiB, 2, MT_UC);
}

static void test_fixed_ranges_off_keep_first_gib_large(void **state)
{
	(void)state;
	mtrr = mtrr_bochs_ovmf();
	mtrr.def_type &= ~MTRR_DEF_TYPE_FE;
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.tables, 2);
	assert_identity(e, 0xA0000, 2, MT_WB);
}

static void test_mtrrs_disabled_map_everything_uc(void **state)
{
	(void)state;
	mtrr.def_type = MT_WB; /* E clear */
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(e->stats.tables, 2);
	assert_identity(e, 0, 2, MT_UC);
	assert_identity(e, 3 * GiB, 2, MT_UC);
}

/* ---- hidden ranges ---- */

static void test_hide_rounds_out_to_pages(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	assert_int_equal(ept_hide(e, 0x1E100800, 0x1000), 0);
	assert_int_equal(e->hidden[0].base, 0x1E100000);
	assert_int_equal(e->hidden[0].size, 0x2000);
	assert_false(ept_is_hidden(e, 0x1E0FFFFF));
	assert_true(ept_is_hidden(e, 0x1E100000));
	assert_true(ept_is_hidden(e, 0x1E101FFF));
	assert_false(ept_is_hidden(e, 0x1E102000));
}

/* The overlap test keel asks for every guest-table read: exact at both ends of each range, also
 * between two ranges (inside their span, hidden by neither) and for ranges given high then low. */
static void test_overlaps_hidden_between_and_at_the_edges(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	assert_false(ept_overlaps_hidden(e, 0, 4 * GiB)); /* nothing hidden yet */
	assert_int_equal(ept_hide(e, 0x30000000, 0x3000), 0);
	assert_int_equal(ept_hide(e, 0x10000000, 0x1000), 0);
	assert_false(ept_overlaps_hidden(e, 0x0FFFF000, 0x1000));
	assert_true(ept_overlaps_hidden(e, 0x0FFFFFFF, 2));
	assert_true(ept_overlaps_hidden(e, 0x10000FF8, 8));
	assert_false(ept_overlaps_hidden(e, 0x10001000, 8));
	assert_false(ept_overlaps_hidden(e, 0x20000000, 0x1000)); /* between the two */
	assert_true(ept_overlaps_hidden(e, 0x2FFFFFF8, 16));
	assert_true(ept_overlaps_hidden(e, 0x30002FF8, 8));
	assert_false(ept_overlaps_hidden(e, 0x30003000, 8));
	assert_true(ept_overlaps_hidden(e, 0, 4 * GiB));
}

static void test_hide_table_full(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	for (unsigned i = 0; i < EPT_MAX_HIDDEN; i++)
		assert_int_equal(ept_hide(e, i * 2 * MiB, 4 * KiB), 0);
	assert_int_equal(ept_hide(e, 0x40000000, 4 * KiB), -1);
	assert_int_equal(e->nhidden, EPT_MAX_HIDDEN);
}

static void test_hidden_range_punches_4k_holes(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0x1E100000, 172 * KiB);
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->stats.hidden_pages, 43);
	assert_int_equal(e->stats.pages_4k, 512 - 43);
	for (uint64_t a = 0x1E100000; a < 0x1E100000 + 172 * KiB; a += 4 * KiB)
		assert_unmapped(e, a);
	assert_identity(e, 0x1E0FF000, 0, MT_WB);
	assert_identity(e, 0x1E12B000, 0, MT_WB);
	assert_identity(e, 0x1E000000, 0, MT_WB);
	assert_identity(e, 0x1E1FF000, 0, MT_WB);
}

static void test_large_pages_kept_away_from_hidden_range(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0x1E100000, 172 * KiB);
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->stats.tables, 4);
	assert_int_equal(e->stats.pages_1g, 3);
	assert_int_equal(e->stats.pages_2m, 511);
	assert_identity(e, 0x1DE00000, 1, MT_WB);
	assert_identity(e, 0x1E200000, 1, MT_WB);
	assert_identity(e, GiB, 2, MT_WB);
}

static void test_hidden_neighbours_keep_their_memory_type(void **state)
{
	(void)state;
	mtrr_add_var(&mtrr, 0xC0000000, GiB, MT_UC);
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0xC0101000, 8 * KiB);
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->stats.hidden_pages, 2);
	assert_identity(e, 0xC0100000, 0, MT_UC);
	assert_unmapped(e, 0xC0101000);
	assert_unmapped(e, 0xC0102000);
	assert_identity(e, 0xC0103000, 0, MT_UC);
	assert_identity(e, 0xC0200000, 1, MT_UC);
}

static void test_hidden_range_across_a_2m_boundary(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0x1E1F0000, 128 * KiB);
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->stats.hidden_pages, 32);
	assert_int_equal(e->stats.tables, 5); /* PML4, PDPT, PD, two PTs */
	assert_int_equal(e->stats.pages_2m, 510);
	assert_identity(e, 0x1E1EF000, 0, MT_WB);
	assert_unmapped(e, 0x1E1FF000);
	assert_unmapped(e, 0x1E200000);
	assert_identity(e, 0x1E210000, 0, MT_WB);
}

static void test_hidden_range_above_map_top_is_ignored(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 5 * GiB, 64 * KiB);
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->stats.tables, 2);
	assert_int_equal(e->stats.hidden_pages, 0);
	assert_int_equal(ept_set_hidden_present(e, 1), 0);
	assert_unmapped(e, 5 * GiB);
}

static void test_set_hidden_present_maps_identity_with_mtrr_type(void **state)
{
	(void)state;
	mtrr_add_var(&mtrr, 0xC0000000, GiB, MT_UC);
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0x1E100000, 172 * KiB);
	ept_hide(e, 0xC0101000, 8 * KiB);
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(ept_set_hidden_present(e, 1), 43 + 2);
	for (uint64_t a = 0x1E100000; a < 0x1E100000 + 172 * KiB; a += 4 * KiB)
		assert_identity(e, a, 0, MT_WB);
	assert_identity(e, 0xC0101000, 0, MT_UC);
	assert_identity(e, 0xC0102000, 0, MT_UC);
	/* Stats describe the built map; set_hidden_present does not recount. */
	assert_int_equal(e->stats.hidden_pages, 45);
}

static void test_set_hidden_present_0_removes_and_counts(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0x1E100000, 172 * KiB);
	assert_int_equal(ept_build(e), 0);
	ept_set_hidden_present(e, 1);
	assert_int_equal(ept_set_hidden_present(e, 0), 43);
	for (uint64_t a = 0x1E100000; a < 0x1E100000 + 172 * KiB; a += 4 * KiB)
		assert_unmapped(e, a);
	assert_identity(e, 0x1E0FF000, 0, MT_WB);
	assert_identity(e, 0x1E12B000, 0, MT_WB);
	assert_int_equal(e->stats.tables + e->stats.dev_tables, host_pages_count()); /* no tables added or lost */
}

/* ---- lookup ---- */

static void test_lookup_reports_levels(void **state)
{
	(void)state;
	mtrr = mtrr_bochs_ovmf();
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0x1E100000, 4 * KiB);
	assert_int_equal(ept_build(e), 0);
	int level = -1;
	assert_non_null(ept_lookup(e, 0x1000, &level));
	assert_int_equal(level, 0);
	assert_non_null(ept_lookup(e, 0x400000, &level));
	assert_int_equal(level, 1);
	assert_non_null(ept_lookup(e, 0x40000000, &level));
	assert_int_equal(level, 2);
	assert_null(ept_lookup(e, 0x1E100000, &level));
	assert_null(ept_lookup(e, 4 * GiB, &level));
	assert_null(ept_lookup(e, 600 * GiB, &level));
}

static void test_lookup_returns_the_entry_itself(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	int level;
	uint64_t *ent = ept_lookup(e, 0x40000000 + 0x1234, &level);
	uint64_t *pdpt = (uint64_t *)(uintptr_t)ept_entry_addr(e->pml4[0]);
	assert_ptr_equal(ent, &pdpt[1]);
}

/* ---- ept_map_4k ---- */

static void test_map_4k_splits_1g_into_2m_then_4k(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(ept_map_4k(e, 0x40201000, 0x12345000, EPT_R, MT_UC), 0);
	assert_int_equal(e->stats.tables, 4);
	assert_int_equal(e->stats.pages_1g, 3);
	assert_int_equal(e->stats.pages_2m, 511);
	assert_int_equal(e->stats.pages_4k, 512);
	uint64_t ent = leaf_at(e, 0x40201000, 0);
	assert_int_equal(ept_entry_addr(ent), 0x12345000);
	assert_int_equal(ent & EPT_RWX, EPT_R);
	assert_int_equal(ept_entry_type(ent), MT_UC);
}

static void test_map_4k_split_keeps_rest_of_mapping(void **state)
{
	(void)state;
	mtrr_add_var(&mtrr, 0xC0000000, GiB, MT_WC); /* a type other than UC (0) and the default */
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(ept_map_4k(e, 0xFEE00000, 0x7000, EPT_RWX, MT_UC), 0);
	assert_identity(e, 0xC0000000, 1, MT_WC);
	assert_identity(e, 0xFEC00000, 1, MT_WC);
	assert_identity(e, 0xFFE00000, 1, MT_WC);
	assert_identity(e, 0xFEDFF000, 1, MT_WC);
	assert_identity(e, 0xFEE01000, 0, MT_WC);
	assert_identity(e, 0xFEFFF000, 0, MT_WC);
	assert_identity(e, 0x80000000, 2, MT_WB);
	uint64_t ent = leaf_at(e, 0xFEE00000, 0);
	assert_int_equal(ept_entry_addr(ent), 0x7000);
	assert_int_equal(ept_entry_type(ent), MT_UC);
}

static void test_map_4k_splits_2m_into_4k(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 0, 1);
	assert_int_equal(e->stats.tables, 6);
	assert_int_equal(ept_map_4k(e, 0x00403000, 0x00403000, EPT_R | EPT_X, MT_WB), 0);
	assert_int_equal(e->stats.tables, 7);
	assert_int_equal(e->stats.pages_2m, 2047);
	assert_int_equal(e->stats.pages_4k, 512);
	assert_identity(e, 0x00400000, 0, MT_WB);
	assert_identity(e, 0x005FF000, 0, MT_WB);
	assert_identity(e, 0x00600000, 1, MT_WB);
	assert_int_equal(leaf_at(e, 0x00403000, 0) & EPT_RWX, EPT_R | EPT_X);
}

static void test_map_4k_on_existing_4k_page_changes_no_counts(void **state)
{
	(void)state;
	mtrr = mtrr_bochs_ovmf();
	struct ept *e = build(4 * GiB, 1, 1);
	struct ept_stats before = e->stats;
	assert_int_equal(ept_map_4k(e, 0xB8000, 0xB8000, EPT_RWX, MT_WC), 0);
	assert_memory_equal(&e->stats, &before, sizeof(before));
	assert_identity(e, 0xB8000, 0, MT_WC);
}

static void test_map_4k_on_hidden_page_counts_a_new_leaf(void **state)
{
	(void)state;
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 0x1E100000, 8 * KiB);
	assert_int_equal(ept_build(e), 0);
	unsigned before = e->stats.pages_4k;
	assert_int_equal(ept_map_4k(e, 0x1E100000, 0x5000, EPT_R, MT_WB), 0);
	assert_int_equal(e->stats.pages_4k, before + 1);
	assert_int_equal(e->stats.tables, 4);
	assert_unmapped(e, 0x1E101000);
}

static void test_map_4k_beyond_map_top_builds_tables(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	assert_int_equal(ept_map_4k(e, 600 * GiB, 0x9000, EPT_RWX, MT_UC), 0);
	assert_int_equal(e->stats.tables, 2 + 3);
	assert_int_equal(e->stats.pages_4k, 1);
	assert_int_equal(ept_entry_addr(leaf_at(e, 600 * GiB, 0)), 0x9000);
}

static void test_map_4k_out_of_memory_fails_and_unlocks(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	host_pages_limit(host_pages_count() + 1); /* enough for the PD, not the PT */
	assert_int_equal(ept_map_4k(e, 0x40201000, 0x12345000, EPT_R, MT_UC), -1);
	assert_int_equal(e->lock, 0);
	host_pages_limit(~0u);
	assert_int_equal(ept_map_4k(e, 0x40201000, 0x12345000, EPT_R, MT_UC), 0);
	assert_int_equal(ept_entry_addr(leaf_at(e, 0x40201000, 0)), 0x12345000);
}

/*
 * A 4-level walk translates GPA bits 47:0 only (SDM Vol. 3C 28.2.2); with MAXPHYADDR > 48 a GPA
 * with any of bits 51:48 set is a different address, never an alias of the one below 2^48.
 */
static void test_4_level_map_does_not_alias_bits_51_48(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	assert_unmapped(e, (1ull << 48) + 0x1000);  /* 0x1000 is mapped; bit 48 makes it another page */
	assert_unmapped(e, (1ull << 51) + 2 * GiB);
	assert_int_equal(ept_map_4k(e, (1ull << 48) + 600 * GiB, 0x9000, EPT_RWX, MT_UC), -1);
	assert_unmapped(e, 600 * GiB);
}

static void test_build_out_of_memory_fails(void **state)
{
	(void)state;
	mtrr = mtrr_bochs_ovmf();
	host_pages_limit(3);
	struct ept *e = new_ept(4 * GiB, 1, 1);
	assert_int_equal(ept_build(e), -1);
	host_pages_limit(0);
	e = new_ept(4 * GiB, 1, 1);
	assert_int_equal(ept_build(e), -1);
}

/* ---- EPTP ---- */

static void test_ept_pointer_format(void **state)
{
	(void)state;
	struct ept *e = build(4 * GiB, 1, 1);
	uint64_t eptp = ept_pointer(e);
	assert_int_equal(eptp & 7, 6);              /* paging structures WB */
	assert_int_equal((eptp >> 3) & 7, 3);       /* 4-level walk: length - 1 */
	assert_int_equal(eptp & BIT(6), 0);         /* no A/D flags */
	assert_int_equal(eptp & ~0xFFFull, (uint64_t)(uintptr_t)e->pml4);
}

/* ---- table memory on the Bochs target ---- */

/*
 * keel on Bochs (512 MiB RAM, map to 4 GiB): image 172 KiB and pool 312 KiB together at
 * 0x1E100000, MTRRs as OVMF leaves them. keel's boot log there reads "ept tables 20 KiB (3 x 1 GiB,
 * 510 x 2 MiB, 903 x 4 KiB mappings, 121 hidden pages, map to 0x100000000)". Acceptance goal:
 * at most 64 KiB (16 pages) of tables.
 */
static struct ept *build_bochs_layout(uint64_t image, uint64_t pool)
{
	mtrr = mtrr_bochs_ovmf();
	struct ept *e = new_ept(4 * GiB, 1, 1);
	assert_int_equal(ept_hide(e, image, 172 * KiB), 0);
	assert_int_equal(ept_hide(e, pool, 312 * KiB), 0);
	assert_int_equal(ept_build(e), 0);
	return e;
}

static void test_bochs_layout_needs_at_most_16_tables(void **state)
{
	(void)state;
	struct ept *e = build_bochs_layout(0x1E100000, 0x1E12B000);
	if (e->stats.tables > 16)
		fail_msg("EPT tables %u KiB, goal <= 64 KiB", e->stats.tables * 4);
	assert_int_equal(host_pages_count(), e->stats.tables + EPT_DEV_TABLES_DEFAULT);
}

static void test_bochs_layout_matches_boot_log(void **state)
{
	(void)state;
	struct ept *e = build_bochs_layout(0x1E100000, 0x1E12B000);
	assert_int_equal(e->stats.tables, 5);
	assert_int_equal(e->stats.pages_1g, 3);
	assert_int_equal(e->stats.pages_2m, 510);
	assert_int_equal(e->stats.pages_4k, 903);
	assert_int_equal(e->stats.hidden_pages, 121);
	assert_int_equal(ept_set_hidden_present(e, 1), 121);
	assert_int_equal(ept_set_hidden_present(e, 0), 121);
}

static void test_bochs_layout_across_2m_boundary_still_small(void **state)
{
	(void)state;
	struct ept *e = build_bochs_layout(0x1E1C0000, 0x1E1EB000);
	assert_int_equal(e->stats.hidden_pages, 121);
	assert_int_equal(e->stats.tables, 6);
	assert_true(e->stats.tables <= 16);
}

static void test_bochs_layout_apart_still_small(void **state)
{
	(void)state;
	/* Image and pool in different GiBs: two PDs, two PTs more at most. */
	struct ept *e = build_bochs_layout(0x1E100000, 0x7FE00000);
	assert_int_equal(e->stats.hidden_pages, 121);
	assert_true(e->stats.tables <= 16);
}

/* ---- device memory above map_top (ept_map_device) ---- */

/* A 4 GiB map on a CPU with `phys_bits` of physical address, MTRR default UC (as firmware leaves
 * the space above RAM) with WB below 4 GiB. */
static struct ept *build_device(int use_1g, int use_2m, unsigned phys_bits, unsigned budget)
{
	mtrr = mtrr_snapshot(MT_UC, phys_bits);
	mtrr_add_var(&mtrr, 0, 4 * GiB, MT_WB);
	struct ept *e = new_ept(4 * GiB, use_1g, use_2m);
	e->dev_budget = budget;
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->stats.tables + e->stats.dev_tables, host_pages_count());
	return e;
}

/* Maps gpa, which must come back `want`, and checks the identity leaf that now covers it. */
static void map_device(struct ept *e, uint64_t gpa, int want, int level, unsigned type)
{
	struct ept_dev_map m;
	int rc = ept_map_device(e, gpa, &m);
	if (rc != want)
		fail_msg("ept_map_device(0x%llx) = %d, expected %d", (unsigned long long)gpa, rc, want);
	assert_identity(e, gpa, level, type);
	assert_int_equal(m.size, 1ull << EPT_LEVEL_SHIFT(level));
	assert_int_equal(m.base, gpa & ~(m.size - 1));
	assert_int_equal(m.type, type);
	assert_int_equal(e->lock, 0);
}

static void test_device_uses_1g_page_when_offered(void **state)
{
	(void)state;
	struct ept *e = build_device(1, 1, 46, 0);
	unsigned pages = host_pages_count();
	map_device(e, 64 * GiB + 0x12345000, EPT_DEV_MAPPED, 2, MT_UC);
	assert_int_equal(e->stats.dev_maps, 1);
	assert_int_equal(e->stats.dev_maps_1g, 1);
	assert_int_equal(e->dev_used, 0);                     /* a leaf in the build-time PDPT */
	assert_int_equal(host_pages_count(), pages);          /* nothing allocated at run time */
	assert_int_equal(e->stats.pages_1g, 4);               /* the map built at start unchanged */
	assert_identity(e, 3 * GiB, 2, MT_WB);
}

static void test_device_uses_2m_page_without_1g(void **state)
{
	(void)state;
	struct ept *e = build_device(0, 1, 46, 0);
	map_device(e, 64 * GiB + 0x12345000, EPT_DEV_MAPPED, 1, MT_UC);
	assert_int_equal(e->stats.dev_maps_2m, 1);
	assert_int_equal(e->dev_used, 1);                     /* one PD */
	assert_unmapped(e, 64 * GiB + 0x12345000 + 2 * MiB);
}

static void test_device_uses_4k_page_without_large_pages(void **state)
{
	(void)state;
	struct ept *e = build_device(0, 0, 46, 0);
	map_device(e, 64 * GiB + 0x12345678, EPT_DEV_MAPPED, 0, MT_UC);
	assert_int_equal(e->stats.dev_maps_4k, 1);
	assert_int_equal(e->dev_used, 2);                     /* a PD and a PT */
	assert_unmapped(e, 64 * GiB + 0x12346000);
}

static void test_device_memory_type_comes_from_mtrrs(void **state)
{
	(void)state;
	mtrr = mtrr_snapshot(MT_WB, 46); /* default WB: a high BAR no MTRR covers is WB natively too */
	mtrr_add_var(&mtrr, 64 * GiB, GiB, MT_WC);
	struct ept *e = new_ept(4 * GiB, 1, 1);
	assert_int_equal(ept_build(e), 0);
	map_device(e, 64 * GiB + 5 * MiB, EPT_DEV_MAPPED, 2, MT_WC);
	map_device(e, 65 * GiB, EPT_DEV_MAPPED, 2, MT_WB);
}

static void test_device_page_split_to_uniform_mtrr_type(void **state)
{
	(void)state;
	struct ept *e = build_device(1, 1, 46, 0);
	mtrr_add_var(&mtrr, 64 * GiB + 256 * MiB, 256 * MiB, MT_WC); /* a framebuffer aperture */
	mtrr_add_var(&mtrr, 64 * GiB + 0x40000, 64 * KiB, MT_WC);    /* and a small window */
	map_device(e, 64 * GiB + 300 * MiB, EPT_DEV_MAPPED, 1, MT_WC);
	map_device(e, 64 * GiB + 600 * MiB, EPT_DEV_MAPPED, 1, MT_UC);
	map_device(e, 64 * GiB + 0x41000, EPT_DEV_MAPPED, 0, MT_WC);
	map_device(e, 64 * GiB + 0x50000, EPT_DEV_MAPPED, 0, MT_UC);
	map_device(e, 64 * GiB + 0x3F000, EPT_DEV_MAPPED, 0, MT_UC);
	assert_int_equal(e->dev_used, 2);                     /* one PD, one PT */
	assert_int_equal(e->dev_nroots, 1);
}

static void test_device_page_kept_off_hidden_pages(void **state)
{
	(void)state;
	mtrr = mtrr_snapshot(MT_UC, 46);
	struct ept *e = new_ept(4 * GiB, 1, 1);
	ept_hide(e, 8 * GiB + 0x3000, 4 * KiB); /* keel's pages lie below map_top; assert the rule */
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(ept_map_device(e, 8 * GiB + 0x3000, 0), EPT_DEV_REFUSED);
	map_device(e, 8 * GiB + 0x4000, EPT_DEV_MAPPED, 0, MT_UC);
	map_device(e, 8 * GiB + 2 * MiB, EPT_DEV_MAPPED, 1, MT_UC);
	assert_unmapped(e, 8 * GiB + 0x3000);
}

static void test_device_refuses_what_is_not_device_memory(void **state)
{
	(void)state;
	struct ept *e = build_device(1, 1, 46, 0);
	assert_int_equal(ept_map_device(e, 0x1000, 0), EPT_DEV_REFUSED);          /* the map itself */
	assert_int_equal(ept_map_device(e, 4 * GiB - 1, 0), EPT_DEV_REFUSED);
	assert_int_equal(ept_map_device(e, 1ull << 46, 0), EPT_DEV_REFUSED);      /* >= 2^MAXPHYADDR */
	assert_int_equal(ept_map_device(e, ~0ull, 0), EPT_DEV_REFUSED);
	assert_int_equal(e->stats.dev_maps, 0);
	map_device(e, (1ull << 46) - 4096, EPT_DEV_MAPPED, 2, MT_UC);              /* the last page */
}

static void test_device_mapped_twice_is_present(void **state)
{
	(void)state;
	struct ept *e = build_device(0, 1, 46, 0);
	map_device(e, 64 * GiB, EPT_DEV_MAPPED, 1, MT_UC);
	assert_int_equal(ept_map_device(e, 64 * GiB + 0x1000, 0), EPT_DEV_PRESENT);
	assert_int_equal(e->stats.dev_maps, 1);
}

/* The case: ~100 MiB of distinct device memory far above the map, 1000 pages touched. The
 * guest retries its access after each exit: every page must be mapped after at most one call. */
static void touch_1000_pages(struct ept *e, uint64_t base)
{
	unsigned pages = host_pages_count();
	for (unsigned i = 0; i < 1000; i++) {
		uint64_t gpa = base + (uint64_t)i * 25 * 4096 + (i % 7) * 0x208; /* 100 KiB apart */
		int level;
		if (!ept_lookup(e, gpa, &level)) {
			int rc = ept_map_device(e, gpa, 0);
			assert_true(rc == EPT_DEV_MAPPED || rc == EPT_DEV_RECLAIMED);
		}
		uint64_t *ent = ept_lookup(e, gpa, &level);
		assert_non_null(ent);
		assert_int_equal(ept_entry_addr(*ent), gpa & ~((1ull << EPT_LEVEL_SHIFT(level)) - 1));
		assert_true(e->dev_used <= e->dev_budget);
	}
	assert_int_equal(host_pages_count(), pages); /* the tables came from the budget only */
}

static void test_device_1000_pages_in_100m_with_2m_pages(void **state)
{
	(void)state;
	struct ept *e = build_device(0, 1, 46, 0);
	touch_1000_pages(e, 3ull << 40); /* 3 TiB: beyond the first PML4 entry */
	assert_int_equal(e->stats.dev_maps, 49);                 /* 100 MiB in 2 MiB pages */
	assert_int_equal(e->dev_used, 2);                        /* a PDPT and a PD */
	assert_int_equal(e->stats.dev_reclaims, 0);
}

static void test_device_1000_pages_in_100m_with_1g_pages(void **state)
{
	(void)state;
	struct ept *e = build_device(1, 1, 46, 0);
	touch_1000_pages(e, 3ull << 40);
	assert_int_equal(e->stats.dev_maps, 1);
	assert_int_equal(e->dev_used, 1);
}

static void test_device_1000_pages_in_100m_with_4k_pages_reclaims(void **state)
{
	(void)state;
	struct ept *e = build_device(0, 0, 46, 0);
	touch_1000_pages(e, 3ull << 40); /* 50 page tables wanted, 16 in the budget */
	assert_int_equal(e->stats.dev_maps, 1000);
	assert_true(e->stats.dev_reclaims >= 3);
	assert_int_equal(e->dev_gen, e->stats.dev_reclaims);
}

static void test_device_budget_exhausted_reclaims_and_maps(void **state)
{
	(void)state;
	struct ept *e = build_device(0, 0, 46, 1); /* clamped up to EPT_DEV_TABLES_MIN */
	assert_int_equal(e->dev_budget, EPT_DEV_TABLES_MIN);
	assert_int_equal(e->stats.dev_tables, EPT_DEV_TABLES_MIN);
	map_device(e, 64 * GiB, EPT_DEV_MAPPED, 0, MT_UC);           /* PD + PT */
	map_device(e, 64 * GiB + 2 * MiB, EPT_DEV_MAPPED, 0, MT_UC); /* PT: no table left for a PT */
	assert_int_equal(e->dev_used, 3);
	map_device(e, 64 * GiB + 6 * MiB, EPT_DEV_RECLAIMED, 0, MT_UC);
	assert_int_equal(e->stats.dev_reclaims, 1);
	assert_int_equal(e->dev_gen, 1);
	assert_int_equal(e->dev_used, 2);
	assert_unmapped(e, 64 * GiB);                                /* dropped, mapped again on demand */
	assert_unmapped(e, 64 * GiB + 2 * MiB);
	map_device(e, 64 * GiB, EPT_DEV_MAPPED, 0, MT_UC);
	assert_identity(e, 3 * GiB, 0, MT_WB);                       /* the map built at start kept */
}

/* Every device table reachable from the top, each at the level it serves now, must be at the
 * level it served the first time it was seen (a stale cached pointer on another CPU then still
 * reads entries of the right level). */
static const uint64_t *seen_table[EPT_DEV_TABLES_MAX];
static int seen_level[EPT_DEV_TABLES_MAX];
static unsigned nseen;

static void check_levels(const struct ept *e, const uint64_t *t, int level)
{
	for (unsigned i = 0; i < EPT_ENTRIES; i++) {
		if (!ept_entry_present(t[i]) || level == 0 || (t[i] & EPT_PS))
			continue;
		const uint64_t *sub = (const uint64_t *)(uintptr_t)ept_entry_addr(t[i]);
		for (unsigned k = 0; k < e->dev_budget; k++) {
			if (e->dev_tables[k] != sub)
				continue;
			unsigned j = 0;
			while (j < nseen && seen_table[j] != sub)
				j++;
			if (j == nseen) {
				seen_table[nseen] = sub;
				seen_level[nseen++] = level - 1;
			} else if (seen_level[j] != level - 1) {
				fail_msg("device table %u served level %d, now %d", k, seen_level[j], level - 1);
			}
		}
		check_levels(e, sub, level - 1);
	}
}

static void test_device_table_keeps_its_level_across_reclaims(void **state)
{
	(void)state;
	struct ept *e = build_device(0, 0, 46, EPT_DEV_TABLES_MIN);
	static const uint64_t gpas[] = { 64 * GiB, 64 * GiB + 2 * MiB, 64 * GiB + 4 * MiB, 3ull << 40,
					 64 * GiB + 8 * MiB, (3ull << 40) + 2 * MiB, 65 * GiB, 5ull << 40 };
	nseen = 0;
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < sizeof(gpas) / sizeof(gpas[0]); i++) {
			int rc = ept_map_device(e, gpas[i], 0);
			assert_true(rc == EPT_DEV_MAPPED || rc == EPT_DEV_RECLAIMED || rc == EPT_DEV_PRESENT);
			assert_identity(e, gpas[i], 0, MT_UC);
			check_levels(e, e->pml4, (int)e->levels - 1);
		}
	assert_true(e->stats.dev_reclaims >= 3);
}

static void test_device_roots_full_reclaims(void **state)
{
	(void)state;
	struct ept *e = build_device(1, 1, 46, 0);
	for (unsigned i = 0; i < EPT_DEV_ROOTS_MAX; i++)
		map_device(e, (8 + (uint64_t)i) * GiB, EPT_DEV_MAPPED, 2, MT_UC);
	assert_int_equal(e->dev_nroots, EPT_DEV_ROOTS_MAX);
	map_device(e, 200 * GiB, EPT_DEV_RECLAIMED, 2, MT_UC);
	assert_int_equal(e->dev_nroots, 1);
	assert_unmapped(e, 8 * GiB);
}

/* ---- GPA bits 51:48 ---- */

static void test_5_level_walk_keeps_bits_51_48(void **state)
{
	(void)state;
	mtrr = mtrr_snapshot(MT_UC, 52);
	mtrr_add_var(&mtrr, 0, 4 * GiB, MT_WB);
	struct ept *e = new_ept(4 * GiB, 1, 1);
	e->use_5level = 1;
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->levels, 5);
	assert_int_equal(e->stats.tables, 3); /* PML5, PML4, PDPT */
	assert_int_equal((ept_pointer(e) >> 3) & 7, 4);
	assert_identity(e, 3 * GiB, 2, MT_WB);
	assert_unmapped(e, (1ull << 48) + 3 * GiB);
	map_device(e, (1ull << 48) + 600 * GiB + 0x5000, EPT_DEV_MAPPED, 2, MT_UC);
	map_device(e, (1ull << 51) + (1ull << 48) + 0x5000, EPT_DEV_MAPPED, 2, MT_UC);
	assert_unmapped(e, 600 * GiB);
	assert_unmapped(e, (1ull << 51) + 0x5000);
	assert_identity(e, 0x5000, 2, MT_WB);
	assert_int_equal(e->dev_used, 4); /* a PML4 and a PDPT for each */
}

static void test_5_level_walk_only_when_maxphyaddr_exceeds_48(void **state)
{
	(void)state;
	mtrr = mtrr_snapshot(MT_UC, 48);
	struct ept *e = new_ept(4 * GiB, 1, 1);
	e->use_5level = 1;
	assert_int_equal(ept_build(e), 0);
	assert_int_equal(e->levels, 4);
	assert_int_equal((ept_pointer(e) >> 3) & 7, 3);
}

static void test_4_level_walk_refuses_device_above_2_48(void **state)
{
	(void)state;
	struct ept *e = build_device(1, 1, 52, 0); /* MAXPHYADDR 52, no 5-level walk */
	assert_int_equal(e->levels, 4);
	assert_int_equal(ept_map_device(e, (1ull << 48) + 8 * GiB, 0), EPT_DEV_REFUSED);
	assert_unmapped(e, 8 * GiB);
	map_device(e, (1ull << 48) - 4096, EPT_DEV_MAPPED, 2, MT_UC);
}

#define T(f) cmocka_unit_test_setup_teardown(f, reset, host_pages_reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_uniform_wb_4g_uses_2_tables_and_4_1g_pages),
		T(test_without_1g_pages_uses_2m_pages),
		T(test_without_large_pages_uses_4k_pages),
		T(test_map_top_inside_a_gib_ends_with_2m_pages),
		T(test_map_beyond_512g_uses_a_second_pdpt),
		T(test_leaf_format),
		T(test_uc_variable_range_gives_uc_leaves),
		T(test_uc_variable_range_without_1g_pages),
		T(test_default_uc_with_wb_ram_range),
		T(test_range_covering_part_of_a_gib_splits_it_into_2m),
		T(test_uc_4k_range_splits_down_to_4k),
		T(test_fixed_ranges_force_4k_pages_in_first_2m),
		T(test_fixed_ranges_off_keep_first_gib_large),
		T(test_mtrrs_disabled_map_everything_uc),
		T(test_hide_rounds_out_to_pages),
		T(test_overlaps_hidden_between_and_at_the_edges),
		T(test_hide_table_full),
		T(test_hidden_range_punches_4k_holes),
		T(test_large_pages_kept_away_from_hidden_range),
		T(test_hidden_neighbours_keep_their_memory_type),
		T(test_hidden_range_across_a_2m_boundary),
		T(test_hidden_range_above_map_top_is_ignored),
		T(test_set_hidden_present_maps_identity_with_mtrr_type),
		T(test_set_hidden_present_0_removes_and_counts),
		T(test_lookup_reports_levels),
		T(test_lookup_returns_the_entry_itself),
		T(test_map_4k_splits_1g_into_2m_then_4k),
		T(test_map_4k_split_keeps_rest_of_mapping),
		T(test_map_4k_splits_2m_into_4k),
		T(test_map_4k_on_existing_4k_page_changes_no_counts),
		T(test_map_4k_on_hidden_page_counts_a_new_leaf),
		T(test_map_4k_beyond_map_top_builds_tables),
		T(test_map_4k_out_of_memory_fails_and_unlocks),
		T(test_4_level_map_does_not_alias_bits_51_48),
		T(test_build_out_of_memory_fails),
		T(test_ept_pointer_format),
		T(test_bochs_layout_needs_at_most_16_tables),
		T(test_bochs_layout_matches_boot_log),
		T(test_bochs_layout_across_2m_boundary_still_small),
		T(test_bochs_layout_apart_still_small),
		T(test_device_uses_1g_page_when_offered),
		T(test_device_uses_2m_page_without_1g),
		T(test_device_uses_4k_page_without_large_pages),
		T(test_device_memory_type_comes_from_mtrrs),
		T(test_device_page_split_to_uniform_mtrr_type),
		T(test_device_page_kept_off_hidden_pages),
		T(test_device_refuses_what_is_not_device_memory),
		T(test_device_mapped_twice_is_present),
		T(test_device_1000_pages_in_100m_with_2m_pages),
		T(test_device_1000_pages_in_100m_with_1g_pages),
		T(test_device_1000_pages_in_100m_with_4k_pages_reclaims),
		T(test_device_budget_exhausted_reclaims_and_maps),
		T(test_device_table_keeps_its_level_across_reclaims),
		T(test_device_roots_full_reclaims),
		T(test_5_level_walk_keeps_bits_51_48),
		T(test_5_level_walk_only_when_maxphyaddr_exceeds_48),
		T(test_4_level_walk_refuses_device_above_2_48),
	};
	return cmocka_run_group_tests_name("ept", tests, NULL, NULL);
}
