/* Shadow paging: per-vCPU shadow page tables built on demand from the guest's own tables, for
 * CPUs without EPT. Pure logic with no VMCS access; called from VMX root inside exit handlers. */
#include "shadow.h"

#include "../arch/x86/cpu.h"

/*
 * Design.
 *
 * Without EPT the CPU translates the guest's linear addresses with the tables in the real CR3,
 * straight to host-physical addresses. keel puts there a shadow root of its own, and fills it
 * from the guest's tables (guest CR3) one translation at a time, on the #PF exits the empty
 * shadow causes. A shadow entry is a cached translation, like a TLB entry: the guest invalidates
 * it as it would a TLB entry (MOV CR3, INVLPG, paging-control changes), and keel drops it then.
 * Guest-physical equals host-physical (keel's identity model), except keel's hidden memory.
 *
 * Format. The real paging mode is the guest's, with one exception: VMX non-root without
 * unrestricted guest needs CR0.PG = 1 (SDM Vol. 3C 26.3.1.1 via CR0_FIXED1), and a 32-bit or
 * unpaged guest runs on PAE-format shadow tables with CR4.PAE forced to 1 in the real CR4 (the
 * CR4 guest/host mask owns PAE and the read shadow shows the guest's value). Why PAE and not
 * 32-bit shadow tables: one 8-byte entry format for every mode (4-level PDEs and PTEs are PAE
 * PDEs and PTEs, SDM Vol. 3A 4.4.2 and 4.5), PSE-36 addresses above 4 GiB need no special case,
 * and an unpaged guest needs no PSE. The cost: a guest 4 MiB page becomes two 2 MiB shadow
 * pages, and a guest page table (4 MiB of linear space) two shadow page tables. EFER.LMA cannot
 * be changed behind a guest's back (it selects IA-32e mode), so a 4-level guest has 4-level
 * shadow tables. 5-level paging is not shadowed (keel hides LA57).
 *
 *   guest mode   guest walk                   shadow (real) mode    real CR4.PAE
 *   unpaged      none, linear = physical      PAE                   forced 1
 *   32-bit       PDE (4 MiB with PSE), PTE    PAE                   forced 1
 *   PAE          PDPTE registers, PDE, PTE    PAE (keel's PDPT)     guest's (1)
 *   4-level      PML4E, PDPTE, PDE, PTE       4-level               guest's (1)
 *
 * Permissions. Shadow tables above the leaf grant everything (R/W = U/S = 1, XD = 0); the leaf
 * grants the intersection of every level of the guest walk (R/W and U/S AND-ed, XD OR-ed with
 * EFER.NXE, SDM Vol. 3A 4.6). With the real CR0.WP = 1, CR4.SMEP/SMAP = the guest's, EFER.NXE =
 * the guest's and RFLAGS.AC the guest's own, the hardware then makes every check the guest
 * configured, on keel's tables. keel narrows a leaf in two cases and widens it in one:
 *   - a page the guest's leaf marks clean is mapped read-only until the first write, whose fault
 *     sets D in the guest's leaf (SDM Vol. 3A 4.8) and makes the shadow writable;
 *   - keel's own memory is never mapped: a guest page over it maps keel's all-ones page
 *     read-only, or after a write keel's sink page writable, as under EPT (docs/memory.md);
 *   - CR0.WP = 0 (supervisor writes to read-only pages succeed, SDM Vol. 3A 4.6.1): the real
 *     WP stays 1, because a real WP = 0 would let supervisor writes through keel's own read-only
 *     entries (clean pages, the all-ones page). A supervisor write to a page the guest maps
 *     read-only instead gets a shadow leaf that is writable and supervisor-only (U/S = 0), and
 *     for a user page also XD when NXE = 1: supervisor reads and writes then work as the guest
 *     expects, a user access faults into keel, which maps the page back as the guest has it,
 *     and a supervisor fetch faults so that keel re-checks SMEP. What this cannot express, and
 *     keel does not emulate: while such a leaf is in place, SMAP does not stop supervisor data
 *     accesses to that (user) page, and without NXE neither does SMEP stop fetches from it.
 *     It lasts until the next user access to the page, INVLPG, CR3 load or flush.
 *
 * A and D. A is set in every guest entry the walk used, D in the leaf on a write, each with a
 * compare-exchange (the CPU does the same with a locked update, SDM Vol. 3A 4.8); a changed
 * entry restarts the walk. keel sets them when it fills a translation, which is when the CPU
 * would: at first use, since the shadow entry then stays until invalidated.
 *
 * Not-present guest entries are never cached: a shadow entry is only made from a complete,
 * successful walk. A guest that makes an entry present without invalidating (allowed, SDM Vol.
 * 3A 4.10.4.3) takes a #PF exit on the empty shadow entry, keel's walk finds the new entry, and
 * the fault is a hidden one.
 *
 * Large pages. A guest page of 2 MiB or 1 GiB is one shadow leaf of its size when none of keel's
 * memory lies inside it (and, for 1 GiB, the CPU has 1 GiB pages); a 4 MiB page two 2 MiB leaves.
 * Otherwise it is split: 2 MiB pieces, and 4 KiB pieces within the 2 MiB that hold keel's
 * memory, each piece filled on its own fault. So that INVLPG drops all of a guest page's pieces,
 * the shadow entry at the guest page's level (PDPTE for 1 GiB, PDE for 2 and 4 MiB; leaf or
 * table pointer) records the guest page size in bits 10:9, which the CPU ignores in every entry
 * of both formats (SDM Vol. 3A Tables 4-8 to 4-19); INVLPG meets it on the way down and drops the
 * whole guest page. A 4 MiB page spans two PDEs, so INVLPG looks at both.
 *
 * Global pages. A guest leaf with G (CR4.PGE) is marked in bit 11 of the shadow leaf (ignored by
 * the CPU); the hardware G bit is never set. MOV CR3 drops a root's other leaves and keeps these
 * (SDM Vol. 3A 4.10.4.1); INVLPG and control changes drop them too.
 *
 * Roots. Up to max_roots shadow roots, one per recently loaded guest CR3, least recently used
 * reused first. A root keeps only its global translations across a switch away and back: the
 * guest may rewrite the tables of a CR3 that is not loaded without any invalidation, so nothing
 * else of it may be trusted when it is loaded again.
 *
 * Pool. npages pages taken at init; tables are freed when a range is dropped. When a fill finds
 * no free page, keel evicts the least recently used other root; with none left, it empties the
 * current root (every translation refaults). A fill needs at most three tables below the root,
 * and SHADOW_POOL_MIN is four pages, so one empty-out always makes room: a fill never fails
 * and never loops.
 *
 * Entries keel will not read. A guest table in keel's memory, or where the accessor finds no
 * memory, reads as all ones (what a guest would read there under EPT); A/D updates to it are
 * dropped. All ones in a PAE or 4-level entry sets reserved bits, so such a walk ends in a #PF
 * with RSVD, as it would under EPT.
 */

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

static const uint64_t code_size[4] = { SZ_4K, SZ_2M, SZ_4M, SZ_1G };

static uint64_t bits(unsigned hi, unsigned lo) { return (BIT(hi) - BIT(lo)) | BIT(hi); }
static uint64_t level_size(int level) { return 1ULL << (12 + 9 * level); }
static unsigned shadow_index(uint64_t gva, int level) { return (unsigned)(gva >> (12 + 9 * level)) & 511; }
static uint64_t *table_of(uint64_t e) { return (uint64_t *)(uintptr_t)(e & PTE_ADDR); }
static int is_leaf(uint64_t e, int level) { return level == 0 || (e & PTE_PS); }
static unsigned entry_code(uint64_t e) { return (unsigned)((e & SW_CODE_MASK) >> SW_CODE_SHIFT); }
static int pae_format(enum shadow_mode m) { return m != SHADOW_MODE_4LEVEL; }
static int top_level(enum shadow_mode m) { return pae_format(m) ? 2 : 3; }
static uint64_t phys_mask(const struct shadow_mmu *s) { return BIT(s->phys_bits) - 1; }

/* The linear address bits a shadow of mode m translates: 32 below IA-32e, 48 in it. */
static uint64_t linear_mask(enum shadow_mode m) { return pae_format(m) ? 0xFFFFFFFFULL : BIT(48) - 1; }

int shadow_hide(struct shadow_mmu *s, uint64_t base, uint64_t size)
{
	if (s->nhidden >= SHADOW_MAX_HIDDEN)
		return -1;
	s->hidden[s->nhidden].base = base & ~0xFFFULL;
	s->hidden[s->nhidden].size = ((base + size + 0xFFF) & ~0xFFFULL) - (base & ~0xFFFULL);
	s->nhidden++;
	return 0;
}

int shadow_is_hidden(const struct shadow_mmu *s, uint64_t gpa)
{
	for (unsigned i = 0; i < s->nhidden; i++)
		if (gpa >= s->hidden[i].base && gpa - s->hidden[i].base < s->hidden[i].size)
			return 1;
	return 0;
}

static int overlaps_hidden(const struct shadow_mmu *s, uint64_t base, uint64_t size)
{
	for (unsigned i = 0; i < s->nhidden; i++)
		if (base < s->hidden[i].base + s->hidden[i].size && s->hidden[i].base < base + size)
			return 1;
	return 0;
}

/* ---- the pool ---- */

static void page_free(struct shadow_mmu *s, uint64_t *p)
{
	p[0] = (uint64_t)(uintptr_t)s->free_list;
	s->free_list = p;
	s->stats.pages_in_use--;
}

static uint64_t *page_alloc(struct shadow_mmu *s)
{
	uint64_t *p = s->free_list;
	if (!p)
		return 0;
	s->free_list = (uint64_t *)(uintptr_t)p[0];
	for (unsigned i = 0; i < 512; i++)
		p[i] = 0;
	s->stats.pages_in_use++;
	return p;
}

int shadow_init(struct shadow_mmu *s)
{
	if (s->npages < SHADOW_POOL_MIN || s->npages > SHADOW_POOL_MAX || !s->alloc_page)
		return -1;
	if (!s->max_roots || s->max_roots > SHADOW_MAX_ROOTS)
		s->max_roots = SHADOW_MAX_ROOTS;
	s->free_list = 0;
	s->cur = 0;
	for (unsigned i = 0; i < SHADOW_MAX_ROOTS; i++)
		s->roots[i].top = 0;
	for (unsigned i = 0; i < s->npages; i++) {
		uint64_t *p = s->alloc_page();
		if (!p || (uint64_t)(uintptr_t)p >> 32)
			return -1;
		s->stats.pages_in_use++; /* page_free counts it back */
		page_free(s, p);
	}
	s->stats.pages_total = s->npages;
	s->tlb = SHADOW_TLB_NONE;
	return 0;
}

/* ---- TLB requests ---- */

static void tlb_note(struct shadow_mmu *s, uint64_t gva, int one_page)
{
	if (!one_page || (s->tlb == SHADOW_TLB_ADDR && s->tlb_gva != (gva & ~0xFFFULL))) {
		s->tlb = SHADOW_TLB_ALL;
	} else if (s->tlb == SHADOW_TLB_NONE) {
		s->tlb = SHADOW_TLB_ADDR;
		s->tlb_gva = gva & ~0xFFFULL;
	}
}

enum shadow_tlb shadow_tlb_take(struct shadow_mmu *s, uint64_t *gva)
{
	enum shadow_tlb t = s->tlb;
	if (gva)
		*gva = s->tlb_gva;
	s->tlb = SHADOW_TLB_NONE;
	return t;
}

/* ---- dropping translations ---- */

static void free_subtree(struct shadow_mmu *s, uint64_t e, int level)
{
	if (!(e & PTE_P) || is_leaf(e, level))
		return;
	uint64_t *t = table_of(e);
	for (unsigned i = 0; i < 512; i++)
		free_subtree(s, t[i], level - 1);
	page_free(s, t);
}

/* Clears every leaf of table t (at level) except, with keep_global, the global ones; frees the
 * tables left empty. Returns the number of entries still present in t. */
static unsigned prune(struct shadow_mmu *s, uint64_t *t, int level, int keep_global)
{
	unsigned left = 0;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = t[i];
		if (!(e & PTE_P))
			continue;
		if (is_leaf(e, level)) {
			if (keep_global && (e & SW_GLOBAL))
				left++;
			else
				t[i] = 0;
			continue;
		}
		if (prune(s, table_of(e), level - 1, keep_global)) {
			left++;
		} else {
			page_free(s, table_of(e));
			t[i] = 0;
		}
	}
	return left;
}

static void root_release(struct shadow_mmu *s, struct shadow_root *r)
{
	prune(s, r->top, top_level(r->mode), 0);
	page_free(s, r->top);
	r->top = 0;
	if (s->cur == r)
		s->cur = 0;
}

struct dropped {
	unsigned small, other; /* 4 KiB leaves; larger leaves and tables */
};

/* Drops every translation of [lo, hi) below table t, which sits at level and starts at base. */
static void drop_range(struct shadow_mmu *s, uint64_t *t, int level, uint64_t base, uint64_t lo, uint64_t hi,
		       struct dropped *d)
{
	uint64_t ls = level_size(level);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t eb = base + i * ls, e = t[i];
		if (eb + ls <= lo || eb >= hi || !(e & PTE_P))
			continue;
		if (is_leaf(e, level) || (eb >= lo && eb + ls <= hi)) {
			free_subtree(s, e, level);
			t[i] = 0;
			if (level == 0)
				d->small++;
			else
				d->other++;
		} else {
			drop_range(s, table_of(e), level - 1, eb, lo, hi, d);
		}
	}
}

/* INVLPG in one root: the guest page around gva, whole, with the pieces it was split into. */
static void invlpg_root(struct shadow_mmu *s, struct shadow_root *r, uint64_t gva, struct dropped *d)
{
	uint64_t *t = r->top;
	gva &= linear_mask(r->mode);
	for (int l = top_level(r->mode); l >= 0; l--) {
		uint64_t e = t[shadow_index(gva, l)];
		unsigned code = entry_code(e);
		if (l == 1 && r->mode == SHADOW_MODE_32BIT) {
			/* A 4 MiB guest page fills an aligned pair of PDEs, perhaps only one so far. */
			uint64_t buddy = t[shadow_index(gva, l) ^ 1];
			if (((e & PTE_P) && code == CODE_4M) || ((buddy & PTE_P) && entry_code(buddy) == CODE_4M)) {
				uint64_t lo = gva & ~(SZ_4M - 1);
				drop_range(s, r->top, top_level(r->mode), 0, lo, lo + SZ_4M, d);
				return;
			}
		}
		if (!(e & PTE_P))
			return;
		if (code != CODE_4K || is_leaf(e, l)) {
			uint64_t size = code != CODE_4K ? code_size[code] : level_size(l);
			uint64_t lo = gva & ~(size - 1);
			drop_range(s, r->top, top_level(r->mode), 0, lo, lo + size, d);
			return;
		}
		t = table_of(e);
	}
}

void shadow_invlpg(struct shadow_mmu *s, uint64_t gva)
{
	s->stats.invlpgs++;
	for (unsigned i = 0; i < s->max_roots; i++) {
		struct shadow_root *r = &s->roots[i];
		struct dropped d = { 0, 0 };
		if (!r->top)
			continue;
		invlpg_root(s, r, gva, &d);
		if (r == s->cur && (d.small || d.other))
			tlb_note(s, gva, d.small == 1 && !d.other);
	}
}

void shadow_flush(struct shadow_mmu *s)
{
	s->stats.flushes++;
	for (unsigned i = 0; i < s->max_roots; i++)
		if (s->roots[i].top)
			prune(s, s->roots[i].top, top_level(s->roots[i].mode), 0);
	s->tlb = SHADOW_TLB_ALL;
}

/* ---- roots ---- */

static uint64_t root_key(const struct shadow_regs *r)
{
	switch (r->mode) {
	case SHADOW_MODE_4LEVEL:
		return r->cr3 & PTE_ADDR;
	case SHADOW_MODE_PAE:
		return r->cr3 & 0xFFFFFFE0ULL;
	case SHADOW_MODE_32BIT:
		return r->cr3 & 0xFFFFF000ULL;
	default:
		return 0;
	}
}

static int controls_differ(const struct shadow_regs *a, const struct shadow_regs *b)
{
	return a->mode != b->mode || a->wp != b->wp || a->pse != b->pse || a->pge != b->pge ||
	       a->smep != b->smep || a->smap != b->smap || a->nxe != b->nxe;
}

/* Evicts the least recently used root other than the current one; 0 when there is none. */
static int evict_lru(struct shadow_mmu *s, const struct shadow_root *keep)
{
	struct shadow_root *lru = 0;
	for (unsigned i = 0; i < s->max_roots; i++) {
		struct shadow_root *r = &s->roots[i];
		if (r->top && r != keep && (!lru || r->stamp < lru->stamp))
			lru = r;
	}
	if (!lru)
		return 0;
	root_release(s, lru);
	s->stats.reclaims++;
	s->tlb = SHADOW_TLB_ALL; /* its pages come back as other tables */
	return 1;
}

uint64_t shadow_set_root(struct shadow_mmu *s, const struct shadow_regs *r)
{
	uint64_t key = root_key(r);
	struct shadow_root *hit = 0, *slot = 0;

	s->stats.cr3_loads++;
	if (s->cur && controls_differ(&s->regs, r))
		shadow_flush(s);
	s->regs = *r;
	for (unsigned i = 0; i < s->max_roots; i++) {
		struct shadow_root *x = &s->roots[i];
		if (x->top && x->mode == r->mode && x->cr3 == key)
			hit = x;
		else if (!x->top && !slot)
			slot = x;
	}
	if (hit) {
		s->stats.root_hits++;
		prune(s, hit->top, top_level(hit->mode), r->pge);
	} else {
		if (!slot) { /* every slot taken: the least recently used one goes */
			evict_lru(s, 0);
			for (unsigned i = 0; i < s->max_roots && !slot; i++)
				if (!s->roots[i].top)
					slot = &s->roots[i];
		}
		hit = slot;
		hit->mode = r->mode;
		hit->cr3 = key;
		/* The pool holds at least SHADOW_POOL_MIN pages: with every root gone one is free. */
		while (!(hit->top = page_alloc(s)))
			if (!evict_lru(s, 0))
				return 0; /* no root holds a page, yet none is free: a corrupt pool */
	}
	for (unsigned i = 0; i < 4; i++)
		hit->pdpte[i] = r->pdpte[i];
	hit->stamp = ++s->clock;
	s->cur = hit;
	s->spurious = 0;
	/* With VPID the TLB is tagged by VPID, not CR3: a new real CR3 does not drop what the CPU
	 * cached from the previous root (SDM Vol. 3C 28.1). */
	s->tlb = SHADOW_TLB_ALL;
	return (uint64_t)(uintptr_t)hit->top;
}

/* ---- the guest's walk ---- */

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

static uint64_t read_entry(const struct shadow_mmu *s, uint64_t gpa, unsigned size)
{
	uint64_t v;
	if (shadow_is_hidden(s, gpa) || shadow_is_hidden(s, gpa + size - 1) ||
	    s->guest.read(s->guest.opaque, gpa, size, &v))
		return size == 8 ? ~0ULL : 0xFFFFFFFFULL;
	return size == 8 ? v : v & 0xFFFFFFFFULL;
}

/* Reserved bits of a present guest entry at level (SDM Vol. 3A 4.3, 4.4.2, 4.5.4). */
static uint64_t reserved_bits(const struct shadow_mmu *s, int level, uint64_t e)
{
	const struct shadow_regs *r = &s->regs;
	uint64_t m = 0;

	if (r->mode == SHADOW_MODE_32BIT) {
		if (level == 1 && (e & PTE_PS) && r->pse) {
			/* 4 MiB page: bits 20:13 hold address bits 39:32 (PSE-36), up to MAXPHYADDR */
			unsigned hi = s->phys_bits > 40 ? 8 : s->phys_bits > 32 ? s->phys_bits - 32 : 0;
			m = bits(21, 13 + hi);
		}
		return m;
	}
	if (r->mode == SHADOW_MODE_PAE)
		m = bits(62, s->phys_bits);
	else if (s->phys_bits < 52)
		m = bits(51, s->phys_bits);
	if (!r->nxe)
		m |= PTE_XD;
	if (r->mode == SHADOW_MODE_4LEVEL && level == 3)
		m |= PTE_PS;
	if (level == 2 && (e & PTE_PS))
		m |= s->has_1g ? bits(29, 13) : PTE_PS;
	if (level == 1 && (e & PTE_PS))
		m |= bits(20, 13);
	return m;
}

/* The CPU's access-rights checks for a translation that grants rw, us, xd (SDM Vol. 3A 4.6.1). */
static int access_allowed(const struct shadow_mmu *s, const struct access *a, int rw, int us, int xd)
{
	const struct shadow_regs *r = &s->regs;
	if (a->fetch) {
		if (xd)
			return 0;
		return a->user ? us : !(r->smep && us);
	}
	if (a->user)
		return us && (!a->write || rw);
	if (us && r->smap && (a->implicit || !a->ac) && (a->write || a->fetch_known))
		return 0; /* a read that may be a fetch: the hardware re-checks SMAP on the retry */
	return !a->write || rw || !r->wp;
}

static uint32_t access_error(const struct shadow_mmu *s, const struct access *a)
{
	const struct shadow_regs *r = &s->regs;
	uint32_t err = (a->write ? PF_W : 0) | (a->user ? PF_U : 0);
	/* I/D: fetches, when SMEP is on or with PAE/4-level paging and NXE (SDM Vol. 3A 4.7) */
	if (a->fetch && (r->smep || (r->nxe && (r->mode == SHADOW_MODE_PAE || r->mode == SHADOW_MODE_4LEVEL))))
		err |= PF_I;
	return (uint32_t)err;
}

/* Walks the guest's tables for gva: 0 with *w filled, or 1 with w->error for the guest. */
static int guest_walk(const struct shadow_mmu *s, uint64_t gva, const struct access *a, struct walk *w)
{
	const struct shadow_regs *r = &s->regs;
	uint32_t err = access_error(s, a);
	uint64_t table, pm = phys_mask(s);
	unsigned bits_per_level = 9;
	int level;

	w->n = 0;
	w->rw = w->us = 1;
	w->xd = 0;
	w->esize = 8;
	if (r->mode == SHADOW_MODE_UNPAGED) {
		/* Linear = physical: one 2 MiB "page" at a time, every right, nothing to mark. */
		w->gpa = gva & ~(SZ_2M - 1);
		w->code = CODE_2M;
		w->leaf = 0;
		w->dirty = 1;
		return 0;
	}
	if (r->mode == SHADOW_MODE_4LEVEL) {
		table = r->cr3 & pm & ~0xFFFULL;
		level = 3;
	} else if (r->mode == SHADOW_MODE_PAE) {
		uint64_t pdpte = r->pdpte[(gva >> 30) & 3]; /* no R/W, U/S or A of its own */
		if (!(pdpte & PTE_P)) {
			w->error = err;
			return 1;
		}
		table = pdpte & pm & ~0xFFFULL;
		level = 1;
	} else {
		table = r->cr3 & 0xFFFFF000ULL;
		level = 1;
		bits_per_level = 10;
		w->esize = 4;
	}
	for (;;) {
		unsigned shift = 12 + bits_per_level * (unsigned)level;
		uint64_t addr = table + ((gva >> shift) & ((1u << bits_per_level) - 1)) * w->esize;
		uint64_t e = read_entry(s, addr, w->esize);
		if (!(e & PTE_P)) {
			w->error = err;
			return 1;
		}
		if (e & reserved_bits(s, level, e)) {
			w->error = err | PF_P | PF_RSVD;
			return 1;
		}
		w->addr[w->n] = addr;
		w->val[w->n++] = e;
		w->rw &= !!(e & PTE_RW);
		w->us &= !!(e & PTE_US);
		if (r->nxe && w->esize == 8 && (e & PTE_XD))
			w->xd = 1;
		int large = level > 0 && (e & PTE_PS) && (w->esize == 8 || r->pse);
		if (level > 0 && !large) {
			table = w->esize == 8 ? e & pm & ~0xFFFULL : e & 0xFFFFF000ULL;
			level--;
			continue;
		}
		w->leaf = e;
		if (w->esize == 4) {
			w->code = large ? CODE_4M : CODE_4K;
			w->gpa = large ? (e & 0xFFC00000ULL) | ((e >> 13) & 0xFF) << 32 : e & 0xFFFFF000ULL;
		} else {
			w->code = level == 2 ? CODE_1G : level == 1 ? CODE_2M : CODE_4K;
			w->gpa = e & pm & ~(code_size[w->code] - 1);
		}
		break;
	}
	if (!access_allowed(s, a, w->rw, w->us, w->xd)) {
		w->error = err | PF_P;
		return 1;
	}
	return 0;
}

/* Sets A in every entry the walk used and D in the leaf on a write, as the CPU does (SDM Vol. 3A
 * 4.8). Returns 1 when the guest changed an entry meanwhile: walk again. */
static int guest_set_ad(const struct shadow_mmu *s, struct walk *w, int write)
{
	for (unsigned i = 0; i < w->n; i++) {
		uint64_t want = PTE_A | (i == w->n - 1 && write ? PTE_D : 0);
		if ((w->val[i] & want) == want)
			continue;
		if (shadow_is_hidden(s, w->addr[i])) /* read as all ones: A and D already "set" */
			continue;
		int rc = s->guest.cmpxchg(s->guest.opaque, w->addr[i], w->esize, w->val[i], w->val[i] | want);
		if (rc > 0)
			return 1;
		w->val[i] |= want;
	}
	if (w->n) {
		w->leaf = w->val[w->n - 1];
		w->dirty = !!(w->leaf & PTE_D);
	}
	return 0;
}

/* ---- filling the shadow ---- */

/* The shadow leaf for gva from walk w and access a; *level receives its level. */
static uint64_t make_leaf(struct shadow_mmu *s, uint64_t gva, const struct walk *w, const struct access *a,
			  int *level)
{
	const struct shadow_regs *r = &s->regs;
	uint64_t size = code_size[w->code], off = gva & (size - 1);
	int l;

	if (w->code == CODE_1G && s->has_1g && r->mode == SHADOW_MODE_4LEVEL && !overlaps_hidden(s, w->gpa, SZ_1G))
		l = 2;
	else if (w->code != CODE_4K && !overlaps_hidden(s, w->gpa + (off & ~(SZ_2M - 1)), SZ_2M))
		l = 1;
	else
		l = 0;
	*level = l;

	uint64_t piece = w->gpa + (off & ~(level_size(l) - 1)), e;
	int rw = w->rw && w->dirty, us = w->us, xd = w->xd;
	if (!r->wp && a->write && !a->user && !w->rw) {
		/* CR0.WP = 0: supervisor-only and writable (see the design note above) */
		rw = 1;
		if (us && r->nxe)
			xd = 1;
		us = 0;
	}
	if (l == 0 && shadow_is_hidden(s, piece)) {
		/* keel's memory: reads see all ones, writes go to the sink (docs/memory.md) */
		s->stats.keel_page_maps++;
		e = a->write ? s->sink_page : s->ones_page;
		if (!a->write)
			rw = 0;
	} else {
		e = piece;
	}
	e |= PTE_P | (rw ? PTE_RW : 0) | (us ? PTE_US : 0) | (xd ? PTE_XD : 0);
	e |= w->leaf & (PTE_PWT | PTE_PCD);
	if (w->leaf & (w->code == CODE_4K ? PTE_PAT_4K : PTE_PAT_LARGE))
		e |= l == 0 ? PTE_PAT_4K : PTE_PAT_LARGE;
	if (l > 0)
		e |= PTE_PS;
	if (r->mode == SHADOW_MODE_4LEVEL)
		e |= w->leaf & PTE_PK_MASK;
	if (r->pge && (w->leaf & PTE_G))
		e |= SW_GLOBAL;
	return e | (uint64_t)w->code << SW_CODE_SHIFT;
}

/* A table pointer: every right (the leaf carries the guest's); a PAE PDPTE has only P. */
static uint64_t make_pointer(const struct shadow_root *r, const uint64_t *t, int level)
{
	uint64_t e = (uint64_t)(uintptr_t)t | PTE_P;
	return pae_format(r->mode) && level == 2 ? e : e | PTE_RW | PTE_US;
}

/* Installs leaf at level for gva in the current root. Returns 0 when the shadow already held
 * exactly that leaf, 1 otherwise. */
static int install(struct shadow_mmu *s, uint64_t gva, uint64_t leaf, int level, unsigned code)
{
	struct shadow_root *r = s->cur;
	int container = code == CODE_1G ? 2 : code == CODE_4K ? 0 : 1;
	int emptied = 0;
restart:;
	uint64_t *t = r->top;
	for (int l = top_level(r->mode); l > level; l--) {
		uint64_t *e = &t[shadow_index(gva, l)];
		if (!(*e & PTE_P) || (*e & PTE_PS)) {
			uint64_t *n;
			while (!(n = page_alloc(s))) {
				if (evict_lru(s, r))
					continue;
				if (emptied) /* cannot happen with SHADOW_POOL_MIN pages; the guest refaults */
					return 1;
				/* Only the current root is left: empty it, and build the path again. */
				prune(s, r->top, top_level(r->mode), 0);
				s->stats.reclaims++;
				s->tlb = SHADOW_TLB_ALL;
				emptied = 1;
				goto restart;
			}
			if (*e & PTE_P) /* a large leaf becomes a table */
				tlb_note(s, gva, 0);
			*e = make_pointer(r, n, l);
		}
		if (l <= container)
			*e = (*e & ~SW_CODE_MASK) | (uint64_t)code << SW_CODE_SHIFT;
		t = table_of(*e);
	}
	uint64_t *e = &t[shadow_index(gva, level)], old = *e;
	if (old == leaf)
		return 0;
	if ((old & PTE_P) && !is_leaf(old, level)) {
		free_subtree(s, old, level); /* a table becomes a large leaf */
		tlb_note(s, gva, 0);
	} else if (old & PTE_P) {
		tlb_note(s, gva, 1);
	}
	*e = leaf;
	return 1;
}

static void reflect(struct shadow_mmu *s, uint64_t gva, uint32_t error, struct shadow_fault *out)
{
	s->stats.reflected_faults++;
	out->kind = SHADOW_REFLECT;
	out->error = error;
	out->cr2 = gva;
}

void shadow_page_fault(struct shadow_mmu *s, uint64_t gva, uint32_t error, unsigned cpl, int ac,
		       struct shadow_fault *out)
{
	const struct shadow_regs *r = &s->regs;
	struct access a;
	struct walk w;
	int level;

	if (pae_format(r->mode))
		gva &= 0xFFFFFFFFULL;
	if (error & (PF_PK | PF_SS | PF_SGX)) {
		/* Protection keys, shadow stacks, SGX: rules keel copies or leaves to the hardware */
		reflect(s, gva, error, out);
		return;
	}
	a.write = !!(error & PF_W);
	a.user = !!(error & PF_U);
	a.fetch = !!(error & PF_I);
	a.implicit = cpl == 3 && !a.user; /* supervisor accesses from CPL 3: descriptor tables etc. */
	a.ac = ac;
	a.fetch_known = r->smep || r->nxe; /* the real CR4.PAE is always 1 */

	for (unsigned tries = 0;; tries++) {
		if (guest_walk(s, gva, &a, &w)) {
			reflect(s, gva, w.error, out);
			return;
		}
		if (!guest_set_ad(s, &w, a.write))
			break;
		if (tries == 3) {
			/* The guest keeps rewriting this entry: let it retry the access. */
			s->stats.hidden_faults++;
			out->kind = SHADOW_FILLED;
			return;
		}
	}
	uint64_t leaf = make_leaf(s, gva, &w, &a, &level);
	if (!install(s, gva, leaf, level, w.code)) {
		/* The shadow already allowed this access, yet the CPU faulted: a stale TLB entry (flush
		 * it and retry once), else a rule the walk does not model (implicit SMAP, say): the
		 * CPU's own error code is the answer. */
		if (s->spurious && s->spurious_gva == gva && s->spurious_error == error) {
			s->spurious = 0;
			reflect(s, gva, error, out);
			return;
		}
		s->spurious = 1;
		s->spurious_gva = gva;
		s->spurious_error = error;
		tlb_note(s, gva, 1);
	} else {
		s->spurious = 0;
	}
	s->stats.hidden_faults++;
	out->kind = SHADOW_FILLED;
	out->error = 0;
	out->cr2 = 0;
}

uint64_t shadow_lookup(const struct shadow_mmu *s, uint64_t gva, uint64_t *size)
{
	const struct shadow_root *r = s->cur;
	if (!r)
		return 0;
	uint64_t *t = r->top;
	gva &= linear_mask(r->mode);
	for (int l = top_level(r->mode); l >= 0; l--) {
		uint64_t e = t[shadow_index(gva, l)];
		if (!(e & PTE_P))
			return 0;
		if (is_leaf(e, l) && !(pae_format(r->mode) && l == 2)) {
			if (size)
				*size = level_size(l);
			return e;
		}
		t = table_of(e);
	}
	return 0;
}
