/* Page allocator for host unit tests of code that takes an alloc_page callback (mm/ept.c,
 * mm/paging.c): zeroed 4 KiB pages from aligned_alloc, whose addresses stand in for physical ones.
 * Host only: never linked into keel.efi. */
#ifndef KEEL_TESTS_UNIT_HOST_PAGES_H
#define KEEL_TESTS_UNIT_HOST_PAGES_H

/* A zeroed, 4 KiB-aligned page, or NULL once host_pages_limit pages have been handed out. */
void *host_page_alloc(void);

/* Frees every page handed out and lifts the limit. Usable as a cmocka setup/teardown. */
int host_pages_reset(void **state);

/* Pages handed out since the last reset. */
unsigned host_pages_count(void);

/* From now on host_page_alloc fails after `total` pages in all (counted since the last reset). */
void host_pages_limit(unsigned total);

#endif
