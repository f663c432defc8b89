/* Extended page tables: keel's identity map of guest-physical memory, with the firmware's memory
 * types and keel's own memory left out. Built at setup; changed in VMX root under a lock. */
#ifndef KEEL_MM_EPT_H
#define KEEL_MM_EPT_H

#include <stdint.h>

#include "mtrr.h"

#define EPT_MAX_HIDDEN 8

struct ept_range {
	uint64_t base, size;
};

struct ept_stats {
	unsigned pages_1g, pages_2m, pages_4k; /* leaves */
	unsigned tables;                        /* paging-structure pages, PML4 included */
	unsigned hidden_pages;                  /* 4 KiB pages left out for keel */
};

struct ept {
	uint64_t *pml4;
	uint64_t map_top;                       /* identity map covers [0, map_top) */
	int use_1g, use_2m;
	const struct mtrr_state *mtrr;
	struct ept_range hidden[EPT_MAX_HIDDEN];
	unsigned nhidden;
	void *(*alloc_page)(void);              /* a zeroed page whose address is its physical address */
	struct ept_stats stats;
	volatile int lock;
};

/* Adds a range to leave out of the map (before ept_build). Returns 0, or -1 when the table is full. */
int ept_hide(struct ept *e, uint64_t base, uint64_t size);

/* True when addr lies in a hidden range. */
int ept_is_hidden(const struct ept *e, uint64_t addr);

/*
 * Builds the identity map of [0, e->map_top): the largest page the CPU allows (use_1g, use_2m)
 * wherever the range has one MTRR memory type and holds no hidden page; 4 KiB pages elsewhere;
 * hidden pages not present. Returns 0, or -1 when alloc_page fails.
 */
int ept_build(struct ept *e);

/*
 * Maps the hidden ranges identity (present = 1, memory type from the MTRRs) or removes them
 * (present = 0). keel's own boot code runs as a guest until hand-off, so the map starts with them
 * present; they go away once, at hand-off. Returns the number of pages changed.
 */
unsigned ept_set_hidden_present(struct ept *e, int present);

/* The EPTP value for this map (write-back paging structures, 4-level walk). */
uint64_t ept_pointer(const struct ept *e);

/*
 * Maps the 4 KiB guest page gpa to host page hpa with permissions perms (EPT_R/W/X) and memory
 * type type, splitting a large page on the way (the split keeps the rest of it as it was).
 * Returns 0 or -1 when out of memory. The caller invalidates (INVEPT) afterwards.
 */
int ept_map_4k(struct ept *e, uint64_t gpa, uint64_t hpa, uint64_t perms, unsigned type);

/* The leaf entry mapping gpa and its level (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB), or NULL. */
uint64_t *ept_lookup(const struct ept *e, uint64_t gpa, int *level);

#endif
