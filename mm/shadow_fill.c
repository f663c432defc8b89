/* Shadow paging: shadow leaves made from a guest walk, and their installation in the current
 * root. Pure logic; VMX root, inside exit handlers. */
#include "shadow_priv.h"

/* ---- filling the shadow ---- */

/* The shadow leaf for gva from walk w and access a; *level receives its level. */
uint64_t shadow_make_leaf(struct shadow_mmu *s, uint64_t gva, const struct walk *w, const struct access *a,
			  int *level)
{
	const struct shadow_regs *r = &s->regs;
	uint64_t size = code_size(w->code), off = gva & (size - 1);
	int l;

	if (w->code == CODE_1G && s->has_1g && r->mode == SHADOW_MODE_4LEVEL && !shadow_overlaps_hidden(s, w->gpa, SZ_1G))
		l = 2;
	else if (w->code != CODE_4K && !shadow_overlaps_hidden(s, w->gpa + (off & ~(SZ_2M - 1)), SZ_2M))
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
int shadow_install(struct shadow_mmu *s, uint64_t gva, uint64_t leaf, int level, unsigned code)
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
			while (!(n = shadow_page_alloc(s))) {
				if (shadow_evict_lru(s, r))
					continue;
				if (emptied) /* cannot happen with SHADOW_POOL_MIN pages; the guest refaults */
					return 1;
				/* Only the current root is left: empty it, and build the path again. */
				shadow_prune(s, r->top, top_level(r->mode), 0);
				s->stats.reclaims++;
				s->tlb = SHADOW_TLB_ALL;
				emptied = 1;
				goto restart;
			}
			if (*e & PTE_P) /* a large leaf becomes a table */
				shadow_tlb_note(s, gva, 0);
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
		shadow_free_subtree(s, old, level); /* a table becomes a large leaf */
		shadow_tlb_note(s, gva, 0);
	} else if (old & PTE_P) {
		shadow_tlb_note(s, gva, 1);
	}
	*e = leaf;
	return 1;
}
