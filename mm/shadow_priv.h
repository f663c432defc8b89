/* The shadow MMU's private definitions, shared by mm/shadow*.c: entry formats, keel's bits in
 * shadow entries, and the functions one file of the shadow MMU offers the others. */
#ifndef KEEL_MM_SHADOW_PRIV_H
#define KEEL_MM_SHADOW_PRIV_H

#include "shadow.h"

#include "../arch/x86/cpu.h"

#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_PWT BIT(3)
#define PTE_PCD BIT(4)
#define PTE_A BIT(5)
#define PTE_D BIT(6)
#define PTE_PS BIT(7)      /* in a 4 KiB PTE: PAT */
#define PTE_PAT_4K BIT(7)
#define PTE_G BIT(8)
#define PTE_PAT_LARGE BIT(12)
#define PTE_PK_MASK (0xFULL << 59) /* protection key, 4-level leaves (SDM Vol. 3A 4.6.2) */
#define PTE_XD BIT(63)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL

/* keel's bits in shadow entries: ignored by the CPU in every PAE and 4-level entry */
#define SW_CODE_SHIFT 9
#define SW_CODE_MASK (3ULL << SW_CODE_SHIFT)
#define SW_GLOBAL BIT(11)

/* Guest page sizes as recorded in SW_CODE */
#define CODE_4K 0
#define CODE_2M 1
#define CODE_4M 2
#define CODE_1G 3

#define PF_P BIT(0) /* #PF error code (SDM Vol. 3A 4.7) */
#define PF_W BIT(1)
#define PF_U BIT(2)
#define PF_RSVD BIT(3)
#define PF_I BIT(4)
#define PF_PK BIT(5)
#define PF_SS BIT(6)
#define PF_SGX BIT(15)

#define SZ_4K 0x1000ULL
#define SZ_2M 0x200000ULL
#define SZ_4M 0x400000ULL
#define SZ_1G 0x40000000ULL

static inline uint64_t code_size(unsigned code)
{
	static const uint64_t size[4] = { SZ_4K, SZ_2M, SZ_4M, SZ_1G };
	return size[code & 3];
}

static inline uint64_t bits(unsigned hi, unsigned lo) { return (BIT(hi) - BIT(lo)) | BIT(hi); }
static inline uint64_t level_size(int level) { return 1ULL << (12 + 9 * level); }
static inline unsigned shadow_index(uint64_t gva, int level) { return (unsigned)(gva >> (12 + 9 * level)) & 511; }
static inline uint64_t *table_of(uint64_t e) { return (uint64_t *)(uintptr_t)(e & PTE_ADDR); }
static inline int is_leaf(uint64_t e, int level) { return level == 0 || (e & PTE_PS); }
static inline unsigned entry_code(uint64_t e) { return (unsigned)((e & SW_CODE_MASK) >> SW_CODE_SHIFT); }
static inline int pae_format(enum shadow_mode m) { return m != SHADOW_MODE_4LEVEL; }
static inline int top_level(enum shadow_mode m) { return pae_format(m) ? 2 : 3; }
static inline uint64_t phys_mask(const struct shadow_mmu *s) { return BIT(s->phys_bits) - 1; }

/* The linear address bits a shadow of mode m translates: 32 below IA-32e, 48 in it. */
static inline uint64_t linear_mask(enum shadow_mode m) { return pae_format(m) ? 0xFFFFFFFFULL : BIT(48) - 1; }

struct access {
	int write, user, fetch, implicit, ac;
	int fetch_known; /* the hardware reports fetches in the error code (I/D) */
};

/* What a successful walk found. */
struct walk {
	uint64_t gpa;     /* base of the guest page */
	unsigned code;    /* its size */
	uint64_t leaf;    /* the guest's leaf (memory type bits, G) */
	int rw, us, xd;   /* granted by every level */
	int dirty;
	unsigned n, esize;
	uint64_t addr[4], val[4]; /* the entries used, top first: for A and D */
	uint32_t error;   /* when the walk faults */
};

/* The walk above the last PTE shadow_revalidate walked to: the guest page table of linear
 * addresses region - 1 (gva >> 21; 0: none), where keel reads it, and the rights of the levels
 * above it (every A flag there set). Valid for one drop: the guest does not run meanwhile. */
struct shadow_reval {
	uint64_t region;
	const volatile uint8_t *pt;
	int rw, us, xd;
};

/* mm/shadow.c: [base, base + size) holds keel's memory or the write-trapped page, either of which
 * only a 4 KiB shadow leaf may cover. */
int shadow_overlaps_hidden(const struct shadow_mmu *s, uint64_t base, uint64_t size);

/* The write-trapped page (struct shadow_mmu.write_trap) holds gpa / lies in [base, base + size). */
static inline int shadow_is_write_trap(const struct shadow_mmu *s, uint64_t gpa)
{
	return s->write_trap && (gpa & ~0xFFFULL) == s->write_trap;
}
static inline int shadow_overlaps_trap(const struct shadow_mmu *s, uint64_t base, uint64_t size)
{
	return s->write_trap && s->write_trap >= base && s->write_trap - base < size;
}

/* mm/shadow_pool.c: pages and roots */
uint64_t *shadow_page_alloc(struct shadow_mmu *s); /* a zeroed page, or 0 when none is free */
void shadow_page_free(struct shadow_mmu *s, uint64_t *p);
/* The same for a page whose 512 entries are all 0 (keel never leaves a non-present entry nonzero). */
void shadow_page_free_zeroed(struct shadow_mmu *s, uint64_t *p);
void shadow_root_release(struct shadow_mmu *s, struct shadow_root *r);
/* Evicts the least recently used root other than keep; 0 when there is none. */
int shadow_evict_lru(struct shadow_mmu *s, const struct shadow_root *keep);

/* mm/shadow_inval.c: dropping translations, TLB requests */
void shadow_tlb_note(struct shadow_mmu *s, uint64_t gva, int one_page);
void shadow_free_subtree(struct shadow_mmu *s, uint64_t e, int level);
unsigned shadow_prune(struct shadow_mmu *s, uint64_t *t, int level, int keep_global);
/* The fill log of root r (mm/shadow_inval.c): keel filled non-global leaf *e at level; r's log
 * can no longer be trusted (one of its tables was freed). */
void shadow_log_fill(struct shadow_mmu *s, struct shadow_root *r, uint64_t *e, int level, uint64_t gva);
void shadow_log_lost(struct shadow_root *r);
/* Drops r's non-global leaves (MOV CR3), by its log or by a scan; keeps its tables, and refills
 * the logged leaves the guest's current tables give without any A or D update (shadow_revalidate).
 * r uses s->regs (the state being loaded). */
void shadow_drop_nonglobal(struct shadow_mmu *s, struct shadow_root *r);
/* Drops every translation of r, frees its tables below the top and its log. */
void shadow_drop_all(struct shadow_mmu *s, struct shadow_root *r);

/* mm/shadow_walk.c: the guest's walk */
/* The guest page at gpa for direct reads (guest.page), or NULL: hidden, no memory, no such op;
 * _at: a table of the walk at level (a cache per level). */
const volatile uint8_t *shadow_guest_table(struct shadow_mmu *s, uint64_t gpa);
const volatile uint8_t *shadow_guest_table_at(struct shadow_mmu *s, uint64_t gpa, int level);
/* A guest entry of size 4 or 8 at gpa; all ones where keel will not read (hidden, no memory). */
uint64_t shadow_read_entry(struct shadow_mmu *s, uint64_t gpa, unsigned size);
uint64_t shadow_read_entry_at(struct shadow_mmu *s, uint64_t gpa, unsigned size, int level);
/* s->rsvd from s->regs, s->phys_bits and s->has_1g (set_root, after each change of s->regs). */
void shadow_reserved_update(struct shadow_mmu *s);
/* The reserved bits of present guest entry e at level in the current mode (SDM Vol. 3A 4.3-4.5). */
static inline uint64_t shadow_reserved_bits(const struct shadow_mmu *s, int level, uint64_t e)
{
	return s->rsvd[level][(e >> 7) & 1];
}
int shadow_guest_walk(struct shadow_mmu *s, uint64_t gva, const struct access *a, struct walk *w);
int shadow_guest_set_ad(const struct shadow_mmu *s, struct walk *w, int write);

/* mm/shadow_fill.c: filling the shadow */
uint64_t shadow_make_leaf(struct shadow_mmu *s, uint64_t gva, const struct walk *w, const struct access *a,
			  int *level);
int shadow_install(struct shadow_mmu *s, uint64_t gva, uint64_t leaf, int level, unsigned code);
/* The leaf at level for the guest page of size code at gva that the guest's tables give now with
 * every A flag (and D, for a writable leaf) set already, or 0: a translation the CPU could cache
 * at any time (the revalidation of a logged leaf, mm/shadow_inval.c). */
uint64_t shadow_revalidate(struct shadow_mmu *s, struct shadow_reval *c, uint64_t gva, int level, unsigned code);
/* After a 4 KiB fill for gva from walk w: the neighbours the guest has already used. */
void shadow_prefetch(struct shadow_mmu *s, uint64_t gva, const struct walk *w);

#endif
