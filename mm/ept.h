/* Extended page tables: keel's identity map of guest-physical memory, with the firmware's memory
 * types and keel's own memory left out. Built at setup; changed in VMX root under a lock. */
#ifndef KEEL_MM_EPT_H
#define KEEL_MM_EPT_H

#include <stdint.h>

#include "mtrr.h"

#define EPT_MAX_HIDDEN 8

/* Table pages set aside for on-demand device mappings (ept_map_device). One mapping needs at
 * most one table per level below the top: 4 with a 5-level walk. */
#define EPT_DEV_TABLES_MIN 4
#define EPT_DEV_TABLES_DEFAULT 16
#define EPT_DEV_TABLES_MAX 64
#define EPT_DEV_ROOTS_MAX 64 /* entries of build-time tables that hold device mappings */

struct ept_range {
	uint64_t base, size;
};

struct ept_stats {
	unsigned pages_1g, pages_2m, pages_4k; /* leaves of the map built at start (and ept_map_4k) */
	unsigned tables;                        /* paging-structure pages of that map, root included */
	unsigned hidden_pages;                  /* 4 KiB pages left out for keel */
	unsigned dev_tables;                    /* table pages reserved for device mappings */
	unsigned dev_maps;                      /* device mappings made by ept_map_device */
	unsigned dev_maps_1g, dev_maps_2m, dev_maps_4k;
	unsigned dev_reclaims;                  /* times every device mapping was dropped */
};

struct ept {
	uint64_t *pml4;                         /* the top table: PML4, or PML5 when levels == 5 */
	uint64_t map_top;                       /* identity map covers [0, map_top) */
	int use_1g, use_2m;
	int use_5level;                         /* the CPU offers a 5-level walk (EPT_VPID_CAP bit 7) */
	unsigned levels;                        /* set by ept_build: 5 when use_5level and MAXPHYADDR > 48 */
	const struct mtrr_state *mtrr;          /* its phys_mask also gives MAXPHYADDR */
	struct ept_range hidden[EPT_MAX_HIDDEN];
	unsigned nhidden;
	uint64_t hidden_lo, hidden_hi;          /* the hidden ranges lie in [hidden_lo, hidden_hi) */
	void *(*alloc_page)(void);              /* a zeroed page whose address is its physical address */
	unsigned dev_budget;                    /* device table pages; 0 = EPT_DEV_TABLES_DEFAULT */
	uint64_t *dev_tables[EPT_DEV_TABLES_MAX];
	signed char dev_level[EPT_DEV_TABLES_MAX]; /* the level each table serves for good; -1 none yet */
	unsigned char dev_busy[EPT_DEV_TABLES_MAX];
	unsigned dev_used;                      /* tables holding mappings; the rest are free */
	uint64_t *dev_roots[EPT_DEV_ROOTS_MAX];
	unsigned dev_nroots;
	volatile unsigned dev_gen;              /* + 1 per reclaim: a vCPU that saw another flushes */
	struct ept_stats stats;
	volatile int lock;
};

/* Adds a range to leave out of the map (before ept_build). Returns 0, or -1 when the table is full. */
int ept_hide(struct ept *e, uint64_t base, uint64_t size);

/* True when addr lies in a hidden range. */
int ept_is_hidden(const struct ept *e, uint64_t addr);
/* 1 when [base, base + size) meets a hidden range. Inline: every guest-table read keel makes for
 * the guest asks it. */
static inline int ept_overlaps_hidden(const struct ept *e, uint64_t base, uint64_t size)
{
	if (base >= e->hidden_hi || base + size <= e->hidden_lo)
		return 0; /* the common case: outside keel's span */
	for (unsigned i = 0; i < e->nhidden; i++)
		if (base < e->hidden[i].base + e->hidden[i].size && e->hidden[i].base < base + size)
			return 1;
	return 0;
}

/* Guest-physical memory keel may read or write for the guest: inside the identity map built at
 * start (RAM and the firmware's holes, never a device placed above it) and none of keel's own. */
static inline int ept_guest_mem_ok(const struct ept *e, uint64_t gpa, uint64_t len)
{
	return gpa < e->map_top && len <= e->map_top - gpa && !ept_overlaps_hidden(e, gpa, len);
}

/*
 * Builds the identity map of [0, e->map_top): the largest page the CPU allows (use_1g, use_2m)
 * wherever the range has one MTRR memory type and holds no hidden page; 4 KiB pages elsewhere;
 * hidden pages not present. Also reserves the device tables (dev_budget, clamped to
 * [EPT_DEV_TABLES_MIN, EPT_DEV_TABLES_MAX]), so that ept_map_device never allocates.
 * Returns 0, or -1 when alloc_page fails.
 */
int ept_build(struct ept *e);

/*
 * Maps the hidden ranges identity (present = 1, memory type from the MTRRs) or removes them
 * (present = 0). keel's own boot code runs as a guest until hand-off, so the map starts with them
 * present; they go away once, at hand-off. Returns the number of pages changed.
 */
unsigned ept_set_hidden_present(struct ept *e, int present);
/* Pages in the hidden ranges (keel's memory), whether or not EPT tables exist. */
unsigned ept_hidden_pages(const struct ept *e);

/* The EPTP value for this map (write-back paging structures, e->levels-level walk). */
uint64_t ept_pointer(const struct ept *e);

/*
 * Maps the 4 KiB guest page gpa to host page hpa with permissions perms (EPT_R/W/X) and memory
 * type type, splitting a large page on the way (the split keeps the rest of it as it was).
 * For pages below map_top (keel's hidden pages); device memory above it goes to ept_map_device.
 * Returns 0, or -1 when out of memory or gpa is beyond the walk. The caller invalidates (INVEPT)
 * afterwards.
 */
int ept_map_4k(struct ept *e, uint64_t gpa, uint64_t hpa, uint64_t perms, unsigned type);

/* The leaf entry mapping gpa and its level (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB), or NULL. */
uint64_t *ept_lookup(const struct ept *e, uint64_t gpa, int *level);

/* What ept_map_device returns. */
enum ept_dev_result {
	EPT_DEV_REFUSED = -1, /* not device memory keel maps: see ept_map_device */
	EPT_DEV_MAPPED = 0,   /* a new mapping where nothing was present: no INVEPT needed */
	EPT_DEV_PRESENT = 1,  /* already mapped (another vCPU won the race): nothing to do */
	EPT_DEV_RECLAIMED = 2 /* earlier device mappings were dropped to make room: INVEPT needed */
};

struct ept_dev_map {
	uint64_t base, size; /* the page mapped: identity, read/write/execute */
	unsigned type;       /* its memory type, from the MTRRs */
};

/*
 * Maps the device memory around gpa on demand, after an EPT violation there: identity, with the
 * memory type the MTRRs give that range (what the CPU would use without keel), in the largest
 * page the CPU offers (1 GiB, else 2 MiB, else 4 KiB) that has one MTRR type, lies wholly at or
 * above map_top and holds no hidden page.
 * Refuses (EPT_DEV_REFUSED) gpa below map_top (the map built at start: a violation there is
 * keel's business), at or above 2^MAXPHYADDR (the guest's own paging faults on such an address,
 * so it never reaches EPT), beyond what the walk translates (2^48 with 4 levels), or hidden.
 * Table pages come only from the reserved budget; when it or the root table is full, every
 * device mapping is dropped and the budget reused (EPT_DEV_RECLAIMED): it never fails for lack
 * of memory. After EPT_DEV_RECLAIMED the caller does INVEPT single-context for ept_pointer(e)
 * on this CPU, and every other vCPU does so before its next VM entry (it sees dev_gen change).
 * Fills *out (when not NULL) for EPT_DEV_MAPPED and EPT_DEV_RECLAIMED. Takes e->lock.
 */
int ept_map_device(struct ept *e, uint64_t gpa, struct ept_dev_map *out);

#endif
