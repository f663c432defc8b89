/* Firmware-neutral view of the physical memory map and its summary.
 * Pure logic; boot/ converts the firmware's descriptors into struct mem_region. */
#ifndef KEEL_MM_MEMMAP_H
#define KEEL_MM_MEMMAP_H

#include <stddef.h>
#include <stdint.h>

enum mem_type {
	MEM_USABLE,      /* RAM the OS gets (free, loader, boot-services) */
	MEM_RESERVED,    /* firmware-reserved RAM */
	MEM_RUNTIME,     /* firmware runtime code/data (keel's own memory is here too) */
	MEM_ACPI,        /* ACPI reclaimable */
	MEM_NVS,         /* ACPI NVS */
	MEM_MMIO,        /* memory-mapped I/O and port space */
	MEM_UNUSABLE,    /* errors detected */
	MEM_PERSISTENT,  /* persistent memory */
	MEM_TYPE_COUNT
};

struct mem_region {
	uint64_t base; /* bytes */
	uint64_t size; /* bytes */
	enum mem_type type;
};

struct memmap_summary {
	unsigned regions;                   /* entries given */
	unsigned by_type[MEM_TYPE_COUNT];   /* entries per type */
	uint64_t bytes[MEM_TYPE_COUNT];     /* bytes per type */
	uint64_t usable_bytes;
	uint64_t ram_top;                   /* end of the highest RAM (non-MMIO) region */
	uint64_t phys_top;                  /* end of the highest region of any type */
	/* Problems; each is counted, the region still contributes where it can. */
	unsigned empty;       /* size 0 */
	unsigned unaligned;   /* base or size not a multiple of 4 KiB */
	unsigned wrapped;     /* base + size overflows 64 bits: clipped */
	unsigned overlaps;    /* regions overlapping an earlier one */
	unsigned unsorted;    /* base lower than the previous region's base */
	unsigned bad_type;    /* type out of range: counted as MEM_UNUSABLE */
};

const char *mem_type_name(enum mem_type t);

/* Summarizes n regions (any order). Returns the total number of problems found. */
unsigned memmap_summarize(const struct mem_region *r, size_t n, struct memmap_summary *s);

#endif
