/* Shadow paging: per-vCPU shadow page tables built on demand from the guest's own tables, for
 * CPUs without EPT. Pure logic with no VMCS access; called from VMX root inside exit handlers. */
#ifndef KEEL_MM_SHADOW_H
#define KEEL_MM_SHADOW_H

#include <stdint.h>

#define SHADOW_MAX_HIDDEN 8
#define SHADOW_MAX_ROOTS 16  /* cached shadow roots (one per recently loaded guest CR3 and PCID) */
#define SHADOW_PREFETCH 8   /* guest PTEs looked at around a 4 KiB fill (aligned group) */
#define SHADOW_LOG_MAX 512   /* filled leaves a root remembers (one pool page), for a cheap drop */
#define SHADOW_POOL_MIN 4    /* a root and one table per level below it: one fill always fits */
#define SHADOW_POOL_MAX 4096

/* The guest's paging mode, from its CR0.PG, CR4.PAE and EFER.LMA (SDM Vol. 3A 4.1.1). */
enum shadow_mode {
	SHADOW_MODE_UNPAGED, /* CR0.PE = 1, CR0.PG = 0: linear = physical (32 bits) */
	SHADOW_MODE_32BIT,   /* 32-bit paging, 4 MiB pages with CR4.PSE (PSE-36 addresses) */
	SHADOW_MODE_PAE,     /* PAE paging: four PDPTEs loaded at MOV CR3 */
	SHADOW_MODE_4LEVEL   /* IA-32e 4-level paging (5-level is refused: LA57 hidden) */
};

/*
 * What the guest's control registers say about paging, as the guest sees them (its CR0/CR4 read
 * shadows, its EFER). Any change of a field other than cr3 and pdpte drops every translation:
 * the SDM has most of them flush the TLB (Vol. 3A 4.10.4.1), and the rest (WP, SMAP, NXE) change
 * what keel wrote into shadow entries.
 */
struct shadow_regs {
	enum shadow_mode mode;
	uint64_t cr3;      /* the guest's CR3 as MOV from CR3 reads it: with PCIDE, the PCID in 11:0 */
	uint64_t pdpte[4]; /* PAE: the PDPTEs the guest's MOV CR3 loaded (reserved bits checked) */
	uint8_t wp, pse, pge, smep, smap, nxe; /* CR0.WP, CR4.PSE/PGE/SMEP/SMAP, EFER.NXE: 0 or 1 */
	uint8_t pcide;     /* CR4.PCIDE (IA-32e mode only): translations are tagged with CR3[11:0] */
};

/*
 * Guest-physical memory, for the walk of the guest's tables. read: size 4 or 8 bytes at gpa into
 * *val; 0, or -1 where there is no memory (the walk then reads all ones, as from a bus with
 * nothing on it). cmpxchg: stores new at gpa if it still holds old, atomically against the other
 * vCPUs (LOCK CMPXCHG in keel), for the accessed and dirty flags; 0 done, 1 the entry changed
 * (the walk restarts), -1 no memory. gpa is never in a hidden range: keel does not ask.
 */
struct shadow_guest_ops {
	int (*read)(void *opaque, uint64_t gpa, unsigned size, uint64_t *val);
	int (*cmpxchg)(void *opaque, uint64_t gpa, unsigned size, uint64_t old, uint64_t new_val);
	/* Optional (NULL: read does it all): where keel may read the 4 KiB page at gpa (aligned),
	 * or NULL where read would fail. The walk and prefetch read guest tables through it, one
	 * aligned load per entry, instead of a call per entry. */
	const volatile void *(*page)(void *opaque, uint64_t gpa);
	void *opaque;
};

struct shadow_range {
	uint64_t base, size;
};

/* A guest page table keel read last at one level of the walk (mm/shadow_walk.c). */
struct shadow_table_cache {
	uint64_t gpa;                /* its address + 1 (0: empty) */
	const volatile void *ptr;    /* where keel reads it, or NULL (guest.page said no, or hidden) */
};

struct shadow_stats {
	uint64_t hidden_faults;    /* #PF exits keel answered by filling the shadow */
	uint64_t reflected_faults; /* #PF exits handed back to the guest */
	uint64_t cr3_loads;        /* shadow_set_root calls */
	uint64_t root_hits;        /* ... that found their root cached */
	uint64_t invlpgs;
	uint64_t flushes;          /* every translation dropped (shadow_flush, control changes) */
	uint64_t keel_page_maps;   /* guest mappings of keel's memory given the ones or sink page */
	uint64_t prefetched;       /* leaves filled beside a hidden fault's (mm/shadow_fill.c) */
	uint64_t revalidated;      /* logged leaves refilled at once when their PCID was flushed */
	uint64_t reclaims;         /* roots evicted or the current root emptied for lack of pages */
	unsigned pages_in_use;     /* shadow table pages holding a root or a table */
	unsigned pages_total;
};

struct shadow_root {
	uint64_t cr3;          /* the guest CR3 it shadows (address bits) */
	enum shadow_mode mode;
	uint16_t pcid;         /* the PCID its translations are tagged with (0 without PCIDE) */
	uint8_t stale;         /* a flush of its PCID came while it was not current: drop before use */
	uint64_t *top;         /* PML4 (4-level) or PDPT (the other modes: PAE format); NULL = free */
	uint64_t *log;         /* a pool page, or NULL: where its non-global leaves were filled */
	unsigned nlog;         /* entries in log; above SHADOW_LOG_MAX: lost track, drop by a scan */
	uint64_t pdpte[4];
	uint64_t stamp;        /* last shadow_set_root that chose it: LRU */
};

/* The TLB work shadow_tlb_take asks for (the hardware may cache what keel removed). */
enum shadow_tlb {
	SHADOW_TLB_NONE,
	SHADOW_TLB_ADDR, /* one translation: INVVPID individual-address for *gva */
	SHADOW_TLB_ALL   /* INVVPID single-context for the vCPU's VPID */
};

struct shadow_mmu {
	/* Set by the caller before shadow_init. */
	void *(*alloc_page)(void);  /* a zeroed 4 KiB page below 4 GiB, address = physical address */
	unsigned npages;            /* pool size, [SHADOW_POOL_MIN, SHADOW_POOL_MAX] */
	unsigned max_roots;         /* 0 = SHADOW_MAX_ROOTS; at most SHADOW_MAX_ROOTS */
	unsigned phys_bits;         /* MAXPHYADDR, CPUID.80000008H:EAX[7:0] */
	int has_1g;                 /* CPUID.80000001H:EDX.Page1GB: the guest may use 1 GiB pages */
	uint64_t ones_page, sink_page; /* keel's all-ones page (read-only to the guest) and scratch page */
	/* A guest-physical page (4 KiB aligned; 0: none) that no shadow leaf maps writable: a write
	 * the guest's tables allow there is SHADOW_WRITE_TRAP, for the caller to emulate (the xAPIC
	 * page, whose ICR writes keel intercepts: vmm/sipi.c). May change at any time; the caller
	 * flushes after clearing it. */
	uint64_t write_trap;
	struct shadow_guest_ops guest;

	/* Private to mm/shadow.c. */
	struct shadow_range hidden[SHADOW_MAX_HIDDEN];
	unsigned nhidden;
	uint64_t hidden_lo, hidden_hi; /* every hidden range lies in [lo, hi) */
	struct shadow_table_cache table_cache[4];
	uint64_t rsvd[4][2];        /* reserved bits of a guest entry by level and PS (shadow_walk.c) */
	uint64_t *free_list;        /* free pages linked through their first word */
	struct shadow_root roots[SHADOW_MAX_ROOTS];
	struct shadow_root *cur;    /* the root in the real CR3; NULL before shadow_set_root */
	struct shadow_regs regs;    /* the guest's paging state at the last shadow_set_root */
	uint64_t clock;
	enum shadow_tlb tlb;
	uint64_t tlb_gva;
	uint64_t spurious_gva;      /* last fault keel could not explain (see shadow_page_fault) */
	uint32_t spurious_error;
	uint64_t reflected_page;    /* page of the last reflected fault + 1 (0: none): no prefetch */
	int spurious;
	struct shadow_stats stats;
};

/* Adds a range of keel's memory that no shadow entry may map (before or after shadow_init;
 * the caller flushes after adding one later). Returns 0, or -1 when the table is full. */
int shadow_hide(struct shadow_mmu *s, uint64_t base, uint64_t size);

/* True when gpa lies in a hidden range. */
int shadow_is_hidden(const struct shadow_mmu *s, uint64_t gpa);

/*
 * Takes the pool (npages pages from alloc_page, all up front: exit handlers never allocate) and
 * clamps max_roots. The pool pages must lie below 4 GiB (a PAE root is loaded from a 32-bit CR3,
 * SDM Vol. 3A 4.4.1), and the caller hides them with shadow_hide (they are keel's memory: no
 * guest mapping may reach its own shadow tables). Returns 0, or -1 when npages is out of range,
 * allocation fails or a page lies above 4 GiB.
 */
int shadow_init(struct shadow_mmu *s);

/*
 * The guest loaded CR3 (MOV CR3, task switch) or changed a paging control (CR0.PG/WP,
 * CR4.PAE/PSE/PGE/SMEP/SMAP/PCIDE, EFER.NXE/LMA, each through its CR/MSR exit): r is the guest's
 * new state. Returns the host-physical address of the shadow root to put in the real CR3 (with
 * the PAE-format modes the CPU loads its PDPTEs from there at VM entry); 0 only from a corrupt
 * pool. Drops the non-global translations of the new PCID (PCID 0 without PCIDE) in every root,
 * as MOV CR3 drops non-global TLB entries (SDM Vol. 3A 4.10.4.1); a root cached for this CR3 and
 * PCID keeps its global ones. A change of a control field drops every translation of every root
 * first. Reuses the least recently used root when all max_roots are taken.
 */
uint64_t shadow_set_root(struct shadow_mmu *s, const struct shadow_regs *r);

/* As shadow_set_root for MOV CR3 with bit 63 set under CR4.PCIDE (r->pcide): the PCID's
 * translations need not be dropped, and a root cached for this CR3 and PCID keeps them all. */
uint64_t shadow_switch_root(struct shadow_mmu *s, const struct shadow_regs *r);

/* What shadow_page_fault decided. */
enum shadow_fault_kind {
	SHADOW_FILLED,     /* a hidden fault: keel changed the shadow; resume the guest at the same RIP */
	SHADOW_REFLECT,    /* a fault of the guest's own: inject #PF(error) with CR2 = cr2 */
	SHADOW_WRITE_TRAP  /* a write the guest may make to the write_trap page at gpa: emulate it
			    * (A and D are set in the guest's entries, as the CPU would) */
};

struct shadow_fault {
	enum shadow_fault_kind kind;
	uint32_t error; /* #PF error code for the guest (SDM Vol. 3A 4.7) */
	uint64_t cr2;
	uint64_t gpa;   /* SHADOW_WRITE_TRAP: the guest-physical address written */
};

/*
 * A #PF exit (exception bitmap bit 14, error-code mask/match 0): gva is the exit qualification,
 * error the VM-exit interruption error code, cpl the guest's CPL (SS.DPL), ac its RFLAGS.AC.
 * Walks the guest's tables with the checks the CPU makes for the access the error code
 * describes; when the guest's own tables forbid it, REFLECT; otherwise sets the guest's A and D
 * flags as the CPU would, fills the shadow and returns FILLED. Never fails for lack of memory
 * (reclaims), never loops. Precondition: shadow_set_root was called.
 */
void shadow_page_fault(struct shadow_mmu *s, uint64_t gva, uint32_t error, unsigned cpl, int ac,
		       struct shadow_fault *out);

/* INVLPG gva (INVLPG exiting): drops the translation of the guest page holding gva, a whole large
 * page with its pieces, in every cached root (global ones included, SDM Vol. 3A 4.10.4.1; other
 * PCIDs' too, which INVLPG may drop). Walks only gva's path in each root. */
void shadow_invlpg(struct shadow_mmu *s, uint64_t gva);

/* Drops every translation of every root, global ones included (INVPCID all-context emulated,
 * or whatever else must start from nothing). Root pages stay cached. */
void shadow_flush(struct shadow_mmu *s);

/*
 * What the real TLB needs before the next VM entry, since the last call: shadow entries that were
 * present changed or went away, so the CPU (whose TLB is tagged with the vCPU's VPID) may still
 * hold them. Clears the request. Without VPID, VM entry already flushes (SDM Vol. 3C 28.3.3.3).
 */
enum shadow_tlb shadow_tlb_take(struct shadow_mmu *s, uint64_t *gva);

/* Read-only look-up for tests and keelctl: the shadow leaf that maps gva in the current root and
 * the size it maps (4 KiB, 2 MiB or 1 GiB), or 0 when none is present. */
uint64_t shadow_lookup(const struct shadow_mmu *s, uint64_t gva, uint64_t *size);

#endif
