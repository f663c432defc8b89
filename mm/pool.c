/* keel's page allocator: a bump allocator over the one pool boot/ took from the firmware.
 * Setup time and VMX root; keel never frees, so a lock-protected cursor is all it needs. */
#include "pool.h"

#include "../lib/string.h"

static uint64_t base_pa;
static size_t total, used;
static volatile int lock;

void pool_init(uint64_t base, size_t pages)
{
	base_pa = base;
	total = pages;
	used = 0;
}

void *pool_alloc_pages(size_t n)
{
	void *p = NULL;
	while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	if (n && n <= total - used) { /* not used + n: a huge n would wrap */
		p = (void *)(uintptr_t)(base_pa + used * PAGE_SIZE);
		used += n;
	}
	__atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
	if (p)
		memset(p, 0, n * PAGE_SIZE);
	return p;
}

size_t pool_used_pages(void) { return used; }
size_t pool_total_pages(void) { return total; }
uint64_t pool_base(void) { return base_pa; }
