/* Host unit tests for mm/memmap.c: memory-map summary and its problem counters.
 * Host program (cmocka); links mm/memmap.c, lib/string.c. */
#include "unit.h"

#include "../../mm/memmap.h"

#define KiB 0x400ull
#define MiB 0x100000ull
#define GiB 0x40000000ull
#define N(a) (sizeof(a) / sizeof((a)[0]))

static unsigned problems(const struct memmap_summary *s)
{
	return s->empty + s->unaligned + s->wrapped + s->overlaps + s->unsorted + s->bad_type;
}

/* A typical small PC map as OVMF reports it, already converted (4 GiB RAM, hole below 4 GiB). */
static const struct mem_region pc_map[] = {
	{ 0x0, 0x9F000, MEM_USABLE },
	{ 0x9F000, 0x1000, MEM_RESERVED },
	{ 0x100000, 0x7FE00000 - 0x100000, MEM_USABLE },
	{ 0x7FE00000, 0x100000, MEM_RUNTIME },
	{ 0x7FF00000, 0x80000, MEM_ACPI },
	{ 0x7FF80000, 0x80000, MEM_NVS },
	{ 0xFEC00000, 0x1000, MEM_MMIO },
	{ 0x100000000, 2 * GiB, MEM_USABLE },
};

/* ---- normal maps ---- */

static void test_normal_map_has_no_problems(void **state)
{
	(void)state;
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(pc_map, N(pc_map), &s), 0);
	assert_int_equal(problems(&s), 0);
	assert_int_equal(s.regions, N(pc_map));
}

static void test_by_type_counts(void **state)
{
	(void)state;
	struct memmap_summary s;
	memmap_summarize(pc_map, N(pc_map), &s);
	assert_int_equal(s.by_type[MEM_USABLE], 3);
	assert_int_equal(s.by_type[MEM_RESERVED], 1);
	assert_int_equal(s.by_type[MEM_RUNTIME], 1);
	assert_int_equal(s.by_type[MEM_ACPI], 1);
	assert_int_equal(s.by_type[MEM_NVS], 1);
	assert_int_equal(s.by_type[MEM_MMIO], 1);
	assert_int_equal(s.by_type[MEM_UNUSABLE], 0);
	assert_int_equal(s.by_type[MEM_PERSISTENT], 0);
}

static void test_usable_and_per_type_bytes(void **state)
{
	(void)state;
	struct memmap_summary s;
	memmap_summarize(pc_map, N(pc_map), &s);
	uint64_t usable = 0x9F000 + (0x7FE00000 - 0x100000) + 2 * GiB;
	assert_int_equal(s.usable_bytes, usable);
	assert_int_equal(s.bytes[MEM_USABLE], usable);
	assert_int_equal(s.bytes[MEM_ACPI], 0x80000);
	assert_int_equal(s.bytes[MEM_MMIO], 0x1000);
}

static void test_tops_of_normal_map(void **state)
{
	(void)state;
	struct memmap_summary s;
	memmap_summarize(pc_map, N(pc_map), &s);
	assert_int_equal(s.ram_top, 0x100000000ull + 2 * GiB);
	assert_int_equal(s.phys_top, 0x100000000ull + 2 * GiB);
}

static void test_ram_top_excludes_mmio(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 512 * MiB, MEM_USABLE },
		{ 0x20000000, 4 * KiB, MEM_RESERVED },
		{ 0xE0000000, 256 * MiB, MEM_MMIO },
		{ 0xFD00000000ull, 16 * MiB, MEM_MMIO },
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 0);
	assert_int_equal(s.ram_top, 0x20001000);
	assert_int_equal(s.phys_top, 0xFD00000000ull + 16 * MiB);
}

static void test_ram_top_counts_non_usable_ram(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 1 * GiB, MEM_USABLE },
		{ 1 * GiB, 4 * KiB, MEM_PERSISTENT },
	};
	struct memmap_summary s;
	memmap_summarize(map, N(map), &s);
	assert_int_equal(s.ram_top, 1 * GiB + 4 * KiB);
	assert_int_equal(s.usable_bytes, 1 * GiB);
}

static void test_empty_input(void **state)
{
	(void)state;
	struct memmap_summary s;
	memset(&s, 0x5A, sizeof(s));
	assert_int_equal(memmap_summarize(NULL, 0, &s), 0);
	assert_int_equal(s.regions, 0);
	assert_int_equal(s.usable_bytes, 0);
	assert_int_equal(s.ram_top, 0);
	assert_int_equal(s.phys_top, 0);
	assert_int_equal(s.by_type[MEM_USABLE], 0);
}

static void test_adjacent_regions_do_not_overlap(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0x1000, 0x1000, MEM_RESERVED },
		{ 0x2000, 0x1000, MEM_USABLE },
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 0);
}

static void test_adjacent_below_earlier_region_does_not_overlap(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x1000, 0x1000, MEM_USABLE },
		{ 0x0, 0x1000, MEM_RESERVED }, /* ends where the first begins */
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.unsorted, 1);
	assert_int_equal(s.overlaps, 0);
}

/* ---- problem classes ---- */

static void test_empty_region(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0x1000, 0, MEM_USABLE },
		{ 0x2000, 0x1000, MEM_USABLE },
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.empty, 1);
	assert_int_equal(s.by_type[MEM_USABLE], 2);
	assert_int_equal(s.regions, 3);
	assert_int_equal(s.usable_bytes, 0x2000);
}

static void test_unaligned_base(void **state)
{
	(void)state;
	static const struct mem_region map[] = { { 0x1800, 0x1000, MEM_USABLE } };
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.unaligned, 1);
	/* Still counted. */
	assert_int_equal(s.usable_bytes, 0x1000);
	assert_int_equal(s.ram_top, 0x2800);
}

static void test_unaligned_size(void **state)
{
	(void)state;
	static const struct mem_region map[] = { { 0x1000, 0x123, MEM_RESERVED } };
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.unaligned, 1);
	assert_int_equal(s.bytes[MEM_RESERVED], 0x123);
}

static void test_wrapped_region_clipped(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0xFFFFFFFFFFFF0000ull, 0x20000, MEM_RESERVED },
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.wrapped, 1);
	assert_int_equal(s.bytes[MEM_RESERVED], 0xFFFF);
	assert_int_equal(s.ram_top, UINT64_MAX);
	assert_int_equal(s.phys_top, UINT64_MAX);
}

static void test_overlapping_regions(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 0x3000, MEM_USABLE },
		{ 0x2000, 0x2000, MEM_RESERVED },
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.overlaps, 1);
	assert_int_equal(s.unsorted, 0);
}

static void test_overlap_with_earlier_non_neighbour(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 0x10000, MEM_USABLE },
		{ 0x10000, 0x1000, MEM_RESERVED },
		{ 0x20000, 0x1000, MEM_RESERVED },
		{ 0x30000, 0x1000, MEM_RESERVED },
		{ 0x8000, 0x1000, MEM_MMIO }, /* inside the first one */
	};
	struct memmap_summary s;
	memmap_summarize(map, N(map), &s);
	assert_int_equal(s.overlaps, 1);
	assert_int_equal(s.unsorted, 1);
}

static void test_region_inside_wrapped_region_overlaps(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0xFFFFFFFFFFFF0000ull, 0x20000, MEM_RESERVED },
		{ 0xFFFFFFFFFFFF8000ull, 0x1000, MEM_RESERVED },
	};
	struct memmap_summary s;
	memmap_summarize(map, N(map), &s);
	assert_int_equal(s.wrapped, 1);
	assert_int_equal(s.overlaps, 1);
}

static void test_unsorted_regions(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x100000, 0x1000, MEM_USABLE },
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0x200000, 0x1000, MEM_USABLE },
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.unsorted, 1);
	assert_int_equal(s.overlaps, 0);
	assert_int_equal(s.ram_top, 0x201000);
}

static void test_bad_type_counted_as_unusable(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0x1000, 0x1000, (enum mem_type)99 },
	};
	struct memmap_summary s;
	assert_int_equal(memmap_summarize(map, N(map), &s), 1);
	assert_int_equal(s.bad_type, 1);
	assert_int_equal(s.by_type[MEM_UNUSABLE], 1);
	assert_int_equal(s.bytes[MEM_UNUSABLE], 0x1000);
	assert_int_equal(s.usable_bytes, 0x1000);
}

static void test_return_is_sum_of_all_problems(void **state)
{
	(void)state;
	static const struct mem_region map[] = {
		{ 0x10000, 0x1000, MEM_USABLE },
		{ 0x0, 0x1000, MEM_USABLE },                        /* unsorted */
		{ 0x5000, 0x0, MEM_USABLE },                        /* empty */
		{ 0x10800, 0x1000, MEM_USABLE },                    /* unaligned + overlap */
		{ 0x20000, 0x1000, (enum mem_type)MEM_TYPE_COUNT }, /* bad type */
	};
	struct memmap_summary s;
	unsigned n = memmap_summarize(map, N(map), &s);
	assert_int_equal(s.empty, 1);
	assert_int_equal(s.unsorted, 1);
	assert_int_equal(s.unaligned, 1);
	assert_int_equal(s.overlaps, 1);
	assert_int_equal(s.bad_type, 1);
	assert_int_equal(s.wrapped, 0);
	assert_int_equal(n, 5);
}

/* ---- mem_type_name ---- */

static void test_mem_type_names(void **state)
{
	(void)state;
	assert_string_equal(mem_type_name(MEM_USABLE), "usable");
	assert_string_equal(mem_type_name(MEM_RESERVED), "reserved");
	assert_string_equal(mem_type_name(MEM_RUNTIME), "runtime");
	assert_string_equal(mem_type_name(MEM_ACPI), "acpi");
	assert_string_equal(mem_type_name(MEM_NVS), "nvs");
	assert_string_equal(mem_type_name(MEM_MMIO), "mmio");
	assert_string_equal(mem_type_name(MEM_UNUSABLE), "unusable");
	assert_string_equal(mem_type_name(MEM_PERSISTENT), "persistent");
}

static void test_mem_type_name_out_of_range(void **state)
{
	(void)state;
	assert_string_equal(mem_type_name(MEM_TYPE_COUNT), "invalid");
	assert_string_equal(mem_type_name((enum mem_type)-1), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_map_has_no_problems),
		cmocka_unit_test(test_by_type_counts),
		cmocka_unit_test(test_usable_and_per_type_bytes),
		cmocka_unit_test(test_tops_of_normal_map),
		cmocka_unit_test(test_ram_top_excludes_mmio),
		cmocka_unit_test(test_ram_top_counts_non_usable_ram),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_adjacent_regions_do_not_overlap),
		cmocka_unit_test(test_adjacent_below_earlier_region_does_not_overlap),
		cmocka_unit_test(test_empty_region),
		cmocka_unit_test(test_unaligned_base),
		cmocka_unit_test(test_unaligned_size),
		cmocka_unit_test(test_wrapped_region_clipped),
		cmocka_unit_test(test_overlapping_regions),
		cmocka_unit_test(test_overlap_with_earlier_non_neighbour),
		cmocka_unit_test(test_region_inside_wrapped_region_overlaps),
		cmocka_unit_test(test_unsorted_regions),
		cmocka_unit_test(test_bad_type_counted_as_unusable),
		cmocka_unit_test(test_return_is_sum_of_all_problems),
		cmocka_unit_test(test_mem_type_names),
		cmocka_unit_test(test_mem_type_name_out_of_range),
	};
	return cmocka_run_group_tests_name("memmap", tests, NULL, NULL);
}
