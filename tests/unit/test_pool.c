/* Host unit tests for mm/pool.c: keel's bump page allocator over host memory from aligned_alloc.
 * Host program (cmocka); links mm/pool.c, lib/string.c. */
#include "unit.h"

#include <stdlib.h>

#include "../../mm/pool.h"

#define POOL_PAGES 8

static uint8_t *mem;

static int setup(void **state)
{
	(void)state;
	mem = aligned_alloc(4096, POOL_PAGES * PAGE_SIZE);
	if (!mem)
		return -1;
	memset(mem, 0xA5, POOL_PAGES * PAGE_SIZE); /* what the firmware left there */
	pool_init((uint64_t)(uintptr_t)mem, POOL_PAGES);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	mem = NULL;
	return 0;
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void test_init_reports_base_and_size(void **state)
{
	(void)state;
	assert_int_equal(pool_base(), (uint64_t)(uintptr_t)mem);
	assert_int_equal(pool_total_pages(), POOL_PAGES);
	assert_int_equal(pool_used_pages(), 0);
}

static void test_allocations_are_consecutive_pages(void **state)
{
	(void)state;
	assert_ptr_equal(pool_alloc_pages(1), mem);
	assert_ptr_equal(pool_alloc_pages(2), mem + PAGE_SIZE);
	assert_ptr_equal(pool_alloc_pages(1), mem + 3 * PAGE_SIZE);
	assert_int_equal(pool_used_pages(), 4);
}

static void test_allocation_is_zeroed(void **state)
{
	(void)state;
	uint8_t *p = pool_alloc_pages(3);
	assert_non_null(p);
	assert_true(all_bytes(p, 3 * PAGE_SIZE, 0));
	/* Only what was handed out is cleared. */
	assert_true(all_bytes(mem + 3 * PAGE_SIZE, PAGE_SIZE, 0xA5));
}

static void test_exact_fit_then_exhaustion_returns_null(void **state)
{
	(void)state;
	assert_non_null(pool_alloc_pages(POOL_PAGES - 1));
	assert_non_null(pool_alloc_pages(1));
	assert_int_equal(pool_used_pages(), POOL_PAGES);
	assert_null(pool_alloc_pages(1));
	assert_int_equal(pool_used_pages(), POOL_PAGES);
}

static void test_too_large_request_returns_null_and_keeps_pool(void **state)
{
	(void)state;
	assert_non_null(pool_alloc_pages(2));
	assert_null(pool_alloc_pages(POOL_PAGES - 1));
	assert_int_equal(pool_used_pages(), 2);
	/* What remains is still handed out. */
	assert_ptr_equal(pool_alloc_pages(POOL_PAGES - 2), mem + 2 * PAGE_SIZE);
}

static void test_huge_request_does_not_wrap(void **state)
{
	(void)state;
	assert_non_null(pool_alloc_pages(1));
	assert_null(pool_alloc_pages((size_t)-1));
	assert_int_equal(pool_used_pages(), 1);
}

static void test_zero_pages_returns_null(void **state)
{
	(void)state;
	assert_null(pool_alloc_pages(0));
	assert_int_equal(pool_used_pages(), 0);
}

static void test_reinit_starts_over(void **state)
{
	(void)state;
	assert_non_null(pool_alloc_pages(POOL_PAGES));
	pool_init((uint64_t)(uintptr_t)mem, 2);
	assert_int_equal(pool_used_pages(), 0);
	assert_int_equal(pool_total_pages(), 2);
	assert_ptr_equal(pool_alloc_pages(2), mem);
	assert_null(pool_alloc_pages(1));
}

static void test_empty_pool_returns_null(void **state)
{
	(void)state;
	pool_init((uint64_t)(uintptr_t)mem, 0);
	assert_null(pool_alloc_pages(1));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_reports_base_and_size),
		T(test_allocations_are_consecutive_pages),
		T(test_allocation_is_zeroed),
		T(test_exact_fit_then_exhaustion_returns_null),
		T(test_too_large_request_returns_null_and_keeps_pool),
		T(test_huge_request_does_not_wrap),
		T(test_zero_pages_returns_null),
		T(test_reinit_starts_over),
		T(test_empty_pool_returns_null),
	};
	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
