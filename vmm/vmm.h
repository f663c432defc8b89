/* keel's VMX monitor: the one entry boot/ calls to virtualize the machine.
 * Setup runs under UEFI boot services on the BSP (and APs through the platform callback). */
#ifndef KEEL_VMM_VMM_H
#define KEEL_VMM_VMM_H

#include <stddef.h>
#include <stdint.h>

#include "../mm/memmap.h"
#include "caps.h"

/* What boot/ hands the monitor: memory, the memory map, and a way to run code on every AP. */
struct vmm_platform {
	const struct vmx_caps *caps;   /* probed on the BSP */
	uint64_t t_entry;              /* TSC at keel's entry point */
	uint64_t pool_base;            /* zeroed pages that survive ExitBootServices */
	size_t pool_pages;
	uint64_t image_base, image_size; /* keel's running image, to hide from the guest */
	const struct mem_region *regions;
	size_t nregions;
	unsigned ncpus;                /* enabled logical CPUs */
	/* Runs fn(arg) on every enabled AP, one at a time; returns 0 or -1. */
	int (*run_on_aps)(void (*fn)(void *arg), void *arg);
	int check;                     /* run the VM-entry self-check before launch */
	unsigned break_mask;           /* VMM_BREAK_*: magic breakpoints for the Bochs debugger */
	unsigned stats_interval;       /* seconds between exit-statistics tables (CPU 0); 0 = off */
	int corrupt_guest_tr;          /* test hook: make the guest TR unusable so the first entry fails */
	unsigned trap_mask;            /* TRAP_* (vmm/trap.h): classes to intercept beyond the minimal set */
	int shadow;                    /* mmu=shadow (or auto without EPT): shadow paging, EPT off */
};

#define VMM_BREAK_LAUNCH 0x1u
#define VMM_BREAK_EXIT 0x2u

/* Pool pages vmm_start needs for ncpus CPUs, with shadow paging or without (boot/ allocates them). */
size_t vmm_pool_pages(unsigned ncpus, int shadow);

/*
 * Virtualizes every logical CPU. Returns NULL on success (at least the BSP virtualized), or the
 * reason virtualization failed on the BSP, with VMX left off.
 */
const char *vmm_start(const struct vmm_platform *p);

/*
 * Guest side, for keel's loader after vmm_start: asks keel to remove its own memory from the
 * guest's view on this CPU (KEEL_HC_SEAL). Touches none of keel's data, so it may run from the
 * loader's copy of the image. Returns 0, or -1 when this CPU is not under keel.
 */
int vmm_seal_this_cpu(void);

/* True while this CPU runs keel in VMX root (an exit, fast path or slow, or a root exception). */
int vmm_in_root(void);

/* keel's index of the CPU running this code (APIC ID lookup); 0 before setup. */
unsigned vmm_cpu_index(void);

#endif
