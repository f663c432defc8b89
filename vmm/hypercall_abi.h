/* keel's hypercall ABI, shared with guest programs (guest/ includes this file).
 * Pure definitions; documented in docs/hypercalls.md.
 *
 * A guest calls keel with VMCALL:
 *   in:  RAX = call number, RBX/RCX/RDX = arguments
 *   out: RAX = status (KEEL_HC_OK or a negative KEEL_HC_E*), RBX/RCX/RDX = results
 * Calls marked "CPL 3" may be made from user mode; any other call from CPL > 0 raises #UD, as VMCALL
 * does on hardware without a hypervisor. Unknown call numbers return KEEL_HC_ENOSYS. */
#ifndef KEEL_VMM_HYPERCALL_ABI_H
#define KEEL_VMM_HYPERCALL_ABI_H

/* CPUID leaf 0x40000000: EAX = highest hypervisor leaf, EBX:ECX:EDX = "KeelKeelKeel". */
#define KEEL_CPUID_LEAF 0x40000000u
#define KEEL_CPUID_MAX_LEAF 0x40000001u
#define KEEL_CPUID_SIG_EBX 0x6c65654bu /* "Keel" */
#define KEEL_CPUID_SIG_ECX 0x6c65654bu
#define KEEL_CPUID_SIG_EDX 0x6c65654bu
/* CPUID leaf 0x40000001: EAX = keel version (major << 16 | minor << 8 | patch). */

#define KEEL_HC_VERSION 0x0     /* CPL 3. out: RBX = version (as leaf 0x40000001), RCX = CPUs virtualized */
#define KEEL_HC_NOP 0x1         /* CPL 3. does nothing: the cheapest round trip, for benchmarks */
#define KEEL_HC_STATS 0x2       /* CPL 3. in: RBX = CPU index, RCX = basic exit reason, or
				   KEEL_STATS_TOTAL; out: RBX = exits counted, RCX = number of CPUs */
#define KEEL_HC_LOG 0x3         /* CPL 0. in: RBX = guest-virtual address, RCX = length (<= 200);
				   prints the bytes (printable ASCII; others shown as '.') to keel's log */
#define KEEL_HC_STATS_PRINT 0x4 /* CPL 0. keel prints its exit-statistics table to its log */
#define KEEL_HC_MEMRANGE 0x5    /* CPL 0. out: RBX = physical base of keel's memory, RCX = bytes */
#define KEEL_HC_SEAL 0x6        /* CPL 0. hides keel's memory from the guest for good and flushes this
				   CPU's EPT caches; keel's loader calls it on every CPU before the
				   next stage starts. Idempotent; there is no way back. */
#define KEEL_HC_MMU_STATS 0x7   /* CPL 3. in: RBX = CPU index, RCX = KEEL_MMU_STAT_*; out: RBX = that
				   counter (0 under EPT), RCX = the CPU's KEEL_MMU_* mode */

/* The one I/O port keel traps: the 0xE9 debug console, which keel performs for the guest. */
#define KEEL_TRAPPED_PORT 0xE9

#define KEEL_STATS_TOTAL 0xFFFFu

/* KEEL_HC_MMU_STATS: the mode (RCX) and the shadow MMU's counters (RBX, mm/shadow.h struct
 * shadow_stats), cumulative since the vCPU started. */
#define KEEL_MMU_EPT 0
#define KEEL_MMU_SHADOW 1
#define KEEL_MMU_STAT_HIDDEN_FAULTS 0    /* #PF exits answered by filling the shadow */
#define KEEL_MMU_STAT_REFLECTED_FAULTS 1 /* #PF exits handed back to the guest */
#define KEEL_MMU_STAT_CR3_LOADS 2        /* guest CR3 loads and paging-control changes */
#define KEEL_MMU_STAT_ROOT_HITS 3        /* ... that found their shadow root cached */
#define KEEL_MMU_STAT_INVLPGS 4
#define KEEL_MMU_STAT_FLUSHES 5          /* every translation dropped */
#define KEEL_MMU_STAT_KEEL_PAGE_MAPS 6   /* guest mappings of keel's memory */
#define KEEL_MMU_STAT_RECLAIMS 7         /* roots evicted, or the current one emptied, for lack of pages */
#define KEEL_MMU_STAT_PAGES_IN_USE 8     /* shadow table pages in use now */
#define KEEL_MMU_STAT_PAGES_TOTAL 9      /* the pool's size */
#define KEEL_MMU_STAT_COUNT 10
#define KEEL_HC_LOG_MAX 200

#define KEEL_HC_OK 0
#define KEEL_HC_ENOSYS (-1L)  /* unknown call number */
#define KEEL_HC_EINVAL (-2L)  /* bad argument */
#define KEEL_HC_EFAULT (-3L)  /* a guest address could not be read */
#define KEEL_HC_EBUSY (-4L)   /* refused in this state (SEAL with CPUs left native) */

#endif
