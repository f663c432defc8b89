/* Shadow paging: dropping translations (INVLPG, MOV CR3, flushes) and the real TLB's invalidation
 * requests. Pure logic; VMX root, inside exit handlers. */
#include "shadow_priv.h"

/* ---- TLB requests ---- */

void shadow_tlb_note(struct shadow_mmu *s, uint64_t gva, int one_page)
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

void shadow_free_subtree(struct shadow_mmu *s, uint64_t e, int level)
{
	if (!(e & PTE_P) || is_leaf(e, level))
		return;
	uint64_t *t = table_of(e);
	for (unsigned i = 0; i < 512; i++)
		shadow_free_subtree(s, t[i], level - 1);
	shadow_page_free(s, t);
}

/* Clears every leaf of table t (at level) except, with keep_global, the global ones; frees the
 * tables left empty. Returns the number of entries still present in t. */
unsigned shadow_prune(struct shadow_mmu *s, uint64_t *t, int level, int keep_global)
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
		if (shadow_prune(s, table_of(e), level - 1, keep_global)) {
			left++;
		} else {
			shadow_page_free_zeroed(s, table_of(e)); /* every entry cleared or never set */
			t[i] = 0;
		}
	}
	return left;
}
/* ---- the fill log: what a MOV CR3 has to drop ---- */

/*
 * Each root remembers where keel filled its non-global leaves since they were last dropped: a
 * pool page of log entries. Dropping a PCID's translations then visits those entries instead of
 * every entry of every table of the root (512 per table). The tables stay for the refill. A logged
 * address is only used while it still points into a table of the same root: every path that frees
 * one of a root's tables other than a whole-root drop (INVLPG of a split large page, a table
 * replaced by a large leaf) marks the log lost, and the next drop scans instead. An entry logged
 * twice, since cleared or since made a table pointer (a large leaf split) is checked before it is
 * cleared.
 *
 * A log entry (one word): the shadow entry's address (pool pages lie below 4 GiB) with its level
 * in bits 2:0, and bits 47:21 of the linear address it translates in bits 58:32 (bits 20:12 of a
 * 4 KiB leaf's address are its index in its table), for the revalidation below.
 *
 *   63  61 60 59 58            32 31                      3 2   0
 *   | 0 |R| code|  gva[47:21]    |   shadow entry address   |level|
 *
 * R and code are only used inside shadow_drop_nonglobal (the entries it cleared, and their size).
 *
 * Revalidation. A MOV CR3 that drops a PCID's non-global translations (SDM Vol. 3A 4.10.4.1) lets
 * the CPU cache, from then on, any translation the guest's tables give with every entry on its
 * path present and its accessed flag set (4.10.2.3: translations may be cached for accesses that
 * never happen; such caching sets no flag that is not set already). So instead of leaving each
 * logged leaf empty for a hidden fault to refill, keel walks the guest's (new) tables for its
 * address at once and refills it where that walk needs no A or D flag set, as prefetch does
 * (mm/shadow_fill.c): what the TLB holds after such a MOV CR3 is a translation made after it, from
 * the tables of that moment, and so is this. The same addresses are what the guest used last under
 * this PCID: a process's kernel half and its working set, which after the flush would each cost a
 * hidden fault.
 */

#define LOG_LOST (SHADOW_LOG_MAX + 1)
#define LOG_REFILL BIT(61)
#define LOG_CODE_SHIFT 59
#define LOG_VA_SHIFT 32
#define LOG_VA_BITS 27

void shadow_log_lost(struct shadow_root *r) { r->nlog = LOG_LOST; }

void shadow_log_fill(struct shadow_mmu *s, struct shadow_root *r, uint64_t *e, int level, uint64_t gva)
{
	if (r->nlog >= SHADOW_LOG_MAX) {
		r->nlog = LOG_LOST;
		return;
	}
	if (!r->log && !(r->log = shadow_page_alloc(s))) { /* never evicts: a scan will do */
		r->nlog = LOG_LOST;
		return;
	}
	uint64_t va = (gva >> 21) & (BIT(LOG_VA_BITS) - 1);
	r->log[r->nlog++] = va << LOG_VA_SHIFT | (uint32_t)(uintptr_t)e | (unsigned)level;
}

/* The linear address a log entry's leaf translates (its page's base at the leaf's level). */
static uint64_t log_gva(const struct shadow_root *r, uint64_t x)
{
	uint64_t gva = ((x >> LOG_VA_SHIFT) & (BIT(LOG_VA_BITS) - 1)) << 21;
	if ((x & 7) == 0)
		gva |= (uint64_t)((x & 0xFFF) >> 3) << 12;
	if (!pae_format(r->mode) && (gva & BIT(47)))
		gva |= ~(BIT(48) - 1); /* canonical */
	return gva;
}

static void log_free(struct shadow_mmu *s, struct shadow_root *r)
{
	if (r->log)
		shadow_page_free(s, r->log);
	r->log = 0;
	r->nlog = 0;
}

void shadow_drop_nonglobal(struct shadow_mmu *s, struct shadow_root *r)
{
	if (r->nlog > SHADOW_LOG_MAX || !r->log) {
		shadow_prune(s, r->top, top_level(r->mode), 1);
		r->nlog = 0;
		return;
	}
	/* Clear every logged leaf first: an entry logged twice is then cleared and revalidated once.
	 * Only the leaves the CPU used since they were filled (A set in keel's leaf) are revalidated:
	 * the rest of a long-lived root's log would cost a walk at every flush and save nothing. */
	for (unsigned i = 0; i < r->nlog; i++) {
		uint64_t x = r->log[i], *e = (uint64_t *)(uintptr_t)(x & 0xFFFFFFF8ULL);
		int level = (int)(x & 7);
		if ((*e & PTE_P) && is_leaf(*e, level) && !(*e & SW_GLOBAL)) {
			if (*e & PTE_A)
				r->log[i] = x | LOG_REFILL | (uint64_t)entry_code(*e) << LOG_CODE_SHIFT;
			*e = 0;
		}
	}
	unsigned n = 0;
	struct shadow_reval c = { 0, 0, 0, 0, 0 };
	for (unsigned i = 0; i < r->nlog; i++) {
		uint64_t x = r->log[i], *e = (uint64_t *)(uintptr_t)(x & 0xFFFFFFF8ULL);
		if (!(x & LOG_REFILL))
			continue;
		x &= ~(LOG_REFILL | 3ULL << LOG_CODE_SHIFT);
		uint64_t leaf = shadow_revalidate(s, &c, log_gva(r, x), (int)(x & 7),
						  (unsigned)(r->log[i] >> LOG_CODE_SHIFT) & 3);
		if (!leaf)
			continue;
		*e = leaf;
		s->stats.revalidated++;
		if (!(leaf & SW_GLOBAL))
			r->log[n++] = x;
	}
	r->nlog = n;
}

void shadow_drop_all(struct shadow_mmu *s, struct shadow_root *r)
{
	shadow_prune(s, r->top, top_level(r->mode), 0);
	log_free(s, r);
	r->stale = 0;
}

/* ---- INVLPG ---- */

struct dropped {
	unsigned small, other; /* 4 KiB leaves; larger leaves and tables */
};

/* Drops entry t[i] at level of root r: a leaf, or a table with everything below it. */
static void drop_entry(struct shadow_mmu *s, struct shadow_root *r, uint64_t *t, unsigned i, int level,
		       struct dropped *d)
{
	uint64_t e = t[i];
	if (!(e & PTE_P))
		return;
	if (!is_leaf(e, level)) {
		shadow_free_subtree(s, e, level);
		shadow_log_lost(r); /* its log may point into the tables just freed */
	}
	t[i] = 0;
	if (level == 0)
		d->small++;
	else
		d->other++;
}

/*
 * INVLPG in one root: the guest page around gva, whole, with the pieces it was split into. Only
 * gva's path is walked: the entry at the level of the guest page records its size (SW_CODE), and
 * that entry, leaf or table of pieces, covers the page exactly; a 4 MiB page covers an aligned
 * pair of PDEs.
 */
static void invlpg_root(struct shadow_mmu *s, struct shadow_root *r, uint64_t gva, struct dropped *d)
{
	uint64_t *t = r->top;
	gva &= linear_mask(r->mode);
	for (int l = top_level(r->mode); l >= 0; l--) {
		unsigned i = shadow_index(gva, l);
		uint64_t e = t[i];
		unsigned code = entry_code(e);
		if (l == 1 && r->mode == SHADOW_MODE_32BIT) {
			/* A 4 MiB guest page fills an aligned pair of PDEs, perhaps only one so far. */
			uint64_t buddy = t[i ^ 1];
			if (((e & PTE_P) && code == CODE_4M) || ((buddy & PTE_P) && entry_code(buddy) == CODE_4M)) {
				drop_entry(s, r, t, i & ~1u, l, d);
				drop_entry(s, r, t, i | 1u, l, d);
				return;
			}
		}
		if (!(e & PTE_P))
			return;
		if (code != CODE_4K || is_leaf(e, l)) {
			drop_entry(s, r, t, i, l, d);
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
			shadow_tlb_note(s, gva, d.small == 1 && !d.other);
	}
}

void shadow_flush(struct shadow_mmu *s)
{
	s->stats.flushes++;
	for (unsigned i = 0; i < s->max_roots; i++)
		if (s->roots[i].top)
			shadow_drop_all(s, &s->roots[i]);
	s->tlb = SHADOW_TLB_ALL;
}
