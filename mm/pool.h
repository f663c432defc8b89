/* keel's page allocator: hands out zeroed 4 KiB pages from the one pool boot/ took from the
 * firmware. Setup time (UEFI boot services) and VMX root; one lock. */
#ifndef KEEL_MM_POOL_H
#define KEEL_MM_POOL_H

#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE 4096ULL

/* base: physical (= virtual) address of `pages` 4 KiB pages, page-aligned. */
void pool_init(uint64_t base, size_t pages);
/* n zeroed contiguous pages, or NULL when the pool is exhausted (never panics). */
void *pool_alloc_pages(size_t n);
size_t pool_used_pages(void);
size_t pool_total_pages(void);
uint64_t pool_base(void);

#endif
