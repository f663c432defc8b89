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
			shadow_page_free(s, table_of(e));
			t[i] = 0;
		}
	}
	return left;
}
/* ---- the fill log: what a MOV CR3 has to drop ---- */

/*
 * Each root remembers where keel filled its non-global leaves since they were last dropped: a
 * pool page of entry addresses, each with the entry's level in bits 2:0. Dropping a PCID's
 * translations then clears those entries instead of visiting every entry of every table of the
 * root (512 per table). The tables stay, empty, for the refill. A logged address is only used
 * while it still points into a table of the same root: every path that frees one of a root's
 * tables other than a whole-root drop (INVLPG of a split large page, a table replaced by a large
 * leaf) marks the log lost, and the next drop scans instead. An entry logged twice, since cleared
 * or since made a table pointer (a large leaf split) is checked before it is cleared.
 */

#define LOG_LOST (SHADOW_LOG_MAX + 1)

void shadow_log_lost(struct shadow_root *r) { r->nlog = LOG_LOST; }

void shadow_log_fill(struct shadow_mmu *s, struct shadow_root *r, uint64_t *e, int level)
{
	if (r->nlog >= SHADOW_LOG_MAX) {
		r->nlog = LOG_LOST;
		return;
	}
	if (!r->log && !(r->log = shadow_page_alloc(s))) { /* never evicts: a scan will do */
		r->nlog = LOG_LOST;
		return;
	}
	r->log[r->nlog++] = (uint64_t)(uintptr_t)e | (unsigned)level;
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
	for (unsigned i = 0; i < r->nlog; i++) {
		uint64_t *e = (uint64_t *)(uintptr_t)(r->log[i] & ~7ULL);
		int level = (int)(r->log[i] & 7);
		if ((*e & PTE_P) && is_leaf(*e, level) && !(*e & SW_GLOBAL))
			*e = 0;
	}
	r->nlog = 0;
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
