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
			shadow_free_subtree(s, e, level);
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
			uint64_t size = code != CODE_4K ? code_size(code) : level_size(l);
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
			shadow_tlb_note(s, gva, d.small == 1 && !d.other);
	}
}

void shadow_flush(struct shadow_mmu *s)
{
	s->stats.flushes++;
	for (unsigned i = 0; i < s->max_roots; i++)
		if (s->roots[i].top)
			shadow_prune(s, s->roots[i].top, top_level(s->roots[i].mode), 0);
	s->tlb = SHADOW_TLB_ALL;
}
