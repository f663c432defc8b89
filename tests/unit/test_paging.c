/* Host unit tests for mm/paging.c: keel's VMX-root identity page tables (1 GiB and 2 MiB
 * variants), table counts, entries, the 4 GiB minimum and allocation failure. Host program
 * (cmocka); links mm/paging.c and the host page allocator (host_pages.c). */
#include "unit.h"

#include "../../mm/paging.h"
#include "host_pages.h"

#define MiB 0x100000ull
#define GiB 0x40000000ull
#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000FFFFFFFFFF000ull

/* Walks the 4-level tables at cr3 like the CPU: the physical address of va and the leaf level
 * (2 = 1 GiB, 1 = 2 MiB), or ~0 when not mapped. *flags receives the leaf's low 12 bits. */
static uint64_t walk(uint64_t cr3, uint64_t va, int *level, uint64_t *flags)
{
	const uint64_t *t = (const uint64_t *)(uintptr_t)(cr3 & PTE_ADDR);
	for (int l = 3; l >= 0; l--) {
		uint64_t e = t[(va >> (12 + 9 * l)) & 511];
		if (!(e & PTE_P))
			return ~0ull;
		if (l == 0 || (l < 3 && (e & PTE_PS))) {
			uint64_t size = 1ull << (12 + 9 * l);
			*level = l;
			*flags = e & 0xFFF;
			return (e & PTE_ADDR & ~(size - 1)) | (va & (size - 1));
		}
		t = (const uint64_t *)(uintptr_t)(e & PTE_ADDR);
	}
	return ~0ull;
}

static void assert_identity(uint64_t cr3, uint64_t va, int want_level)
{
	int level = -1;
	uint64_t flags = 0;
	uint64_t pa = walk(cr3, va, &level, &flags);
	if (pa != va)
		fail_msg("va 0x%llx -> 0x%llx", (unsigned long long)va, (unsigned long long)pa);
	assert_int_equal(level, want_level);
	assert_int_equal(flags & (PTE_P | PTE_W | PTE_PS), PTE_P | PTE_W | PTE_PS);
	assert_int_equal(flags & (PTE_PWT | PTE_PCD), 0); /* PAT entry 0: write-back */
}

static void assert_unmapped(uint64_t cr3, uint64_t va)
{
	int level;
	uint64_t flags;
	assert_int_equal(walk(cr3, va, &level, &flags), ~0ull);
}

static void test_1g_pages_for_4g_use_2_tables(void **state)
{
	(void)state;
	unsigned tables = 0;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 4 * GiB, 1, &tables);
	assert_int_not_equal(cr3, 0);
	assert_int_equal(tables, 2);
	assert_int_equal(host_pages_count(), 2);
	assert_identity(cr3, 0, 2);
	assert_identity(cr3, 0x12345678, 2);
	assert_identity(cr3, 0xFEE00000, 2);
	assert_identity(cr3, 0xFFFFFFFF, 2);
	assert_unmapped(cr3, 4 * GiB);
}

static void test_2m_pages_for_4g_use_6_tables(void **state)
{
	(void)state;
	unsigned tables = 0;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 4 * GiB, 0, &tables);
	assert_int_not_equal(cr3, 0);
	assert_int_equal(tables, 6); /* PML4, PDPT, 4 PDs */
	assert_int_equal(host_pages_count(), 6);
	assert_identity(cr3, 0, 1);
	assert_identity(cr3, 0x1E12B123, 1);
	assert_identity(cr3, 0xC0200000, 1);
	assert_identity(cr3, 0xFFFFFFFF, 1);
	assert_unmapped(cr3, 4 * GiB);
}

static void test_cr3_is_the_pml4_page(void **state)
{
	(void)state;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 4 * GiB, 1, NULL);
	assert_int_equal(cr3 & 0xFFF, 0); /* no PWT/PCD, no PCID */
	const uint64_t *pml4 = (const uint64_t *)(uintptr_t)cr3;
	assert_int_equal(pml4[0] & 0xFFF, PTE_P | PTE_W);
	for (unsigned i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
}

static void test_small_top_still_maps_4g(void **state)
{
	(void)state;
	unsigned tables = 0;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 512 * MiB, 1, &tables);
	assert_int_equal(tables, 2);
	assert_identity(cr3, 0xFFFFF000, 2);
	assert_unmapped(cr3, 4 * GiB);
	cr3 = paging_build_identity(host_page_alloc, 0, 0, &tables);
	assert_int_equal(tables, 6);
	assert_identity(cr3, 0xFFE00000, 1);
}

static void test_top_rounded_up_to_gib(void **state)
{
	(void)state;
	unsigned tables = 0;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 5 * GiB + 1, 0, &tables);
	assert_int_equal(tables, 2 + 6);
	assert_identity(cr3, 6 * GiB - 1, 1);
	assert_unmapped(cr3, 6 * GiB);
}

static void test_above_512g_uses_second_pdpt(void **state)
{
	(void)state;
	unsigned tables = 0;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 513 * GiB, 1, &tables);
	assert_int_equal(tables, 3);
	assert_identity(cr3, 511 * GiB, 2);
	assert_identity(cr3, 512 * GiB + 0x1000, 2);
	assert_unmapped(cr3, 513 * GiB);
}

static void test_1g_leaf_entry_value(void **state)
{
	(void)state;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 4 * GiB, 1, NULL);
	const uint64_t *pml4 = (const uint64_t *)(uintptr_t)cr3;
	const uint64_t *pdpt = (const uint64_t *)(uintptr_t)(pml4[0] & PTE_ADDR);
	assert_int_equal(pdpt[3], 3 * GiB | PTE_P | PTE_W | PTE_PS);
	assert_int_equal(pdpt[4], 0);
}

static void test_2m_leaf_entry_value(void **state)
{
	(void)state;
	uint64_t cr3 = paging_build_identity(host_page_alloc, 4 * GiB, 0, NULL);
	const uint64_t *pml4 = (const uint64_t *)(uintptr_t)cr3;
	const uint64_t *pdpt = (const uint64_t *)(uintptr_t)(pml4[0] & PTE_ADDR);
	const uint64_t *pd = (const uint64_t *)(uintptr_t)(pdpt[2] & PTE_ADDR);
	assert_int_equal(pdpt[2] & 0xFFF, PTE_P | PTE_W);
	assert_int_equal(pd[5], (2 * GiB + 5 * 2 * MiB) | PTE_P | PTE_W | PTE_PS);
}

static void test_alloc_failure_returns_0(void **state)
{
	(void)state;
	unsigned tables = 77;
	host_pages_limit(0);
	assert_int_equal(paging_build_identity(host_page_alloc, 4 * GiB, 1, &tables), 0);
	host_pages_reset(NULL);
	host_pages_limit(1);
	assert_int_equal(paging_build_identity(host_page_alloc, 4 * GiB, 1, &tables), 0);
	host_pages_reset(NULL);
	host_pages_limit(4);
	assert_int_equal(paging_build_identity(host_page_alloc, 4 * GiB, 0, &tables), 0);
	assert_int_equal(tables, 77); /* untouched on failure */
}

#define T(f) cmocka_unit_test_setup_teardown(f, host_pages_reset, host_pages_reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_1g_pages_for_4g_use_2_tables),
		T(test_2m_pages_for_4g_use_6_tables),
		T(test_cr3_is_the_pml4_page),
		T(test_small_top_still_maps_4g),
		T(test_top_rounded_up_to_gib),
		T(test_above_512g_uses_second_pdpt),
		T(test_1g_leaf_entry_value),
		T(test_2m_leaf_entry_value),
		T(test_alloc_failure_returns_0),
	};
	return cmocka_run_group_tests_name("paging", tests, NULL, NULL);
}
