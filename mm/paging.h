/* keel's host page tables: an identity map for VMX root, built once from keel's own pool so the
 * OS cannot reclaim them. Setup time. */
#ifndef KEEL_MM_PAGING_H
#define KEEL_MM_PAGING_H

#include <stdint.h>

/*
 * Identity-maps [0, top) (rounded up to 1 GiB, at least 4 GiB) with 1 GiB pages when use_1g,
 * else 2 MiB pages; write-back through PAT entry 0. Returns the CR3 value, or 0 when alloc fails.
 * *tables receives the number of table pages used.
 */
uint64_t paging_build_identity(void *(*alloc_page)(void), uint64_t top, int use_1g, unsigned *tables);

#endif
