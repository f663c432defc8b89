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
		if (l == 0 && shadow_is_write_trap(s, piece))
			rw = 0; /* its writes fault into keel (SHADOW_WRITE_TRAP) */
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
				shadow_drop_all(s, r);
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
	if ((old & ~(PTE_A | PTE_D)) == leaf)
		return 0; /* the CPU sets A and D in keel's leaves as it uses them; keel never does */
	if ((old & PTE_P) && !is_leaf(old, level)) {
		shadow_free_subtree(s, old, level); /* a table becomes a large leaf */
		shadow_log_lost(r);
		shadow_tlb_note(s, gva, 0);
	} else if (old & PTE_P) {
		shadow_tlb_note(s, gva, 1);
	}
	*e = leaf;
	/* A MOV CR3 drops it (mm/shadow_inval.c), unless it is global or already logged. */
	if (!(leaf & SW_GLOBAL) && !((old & PTE_P) && !(old & SW_GLOBAL) && is_leaf(old, level)))
		shadow_log_fill(s, r, e, level, gva);
	return 1;
}

/* The leaf for guest PTE g (of size esize) under upper levels granting rw, us, xd, when the CPU
 * could cache it without setting a flag (present, A set, no reserved bit) and it is neither keel's
 * memory nor the write-trapped page; else 0. */
static uint64_t pte_leaf(struct shadow_mmu *s, uint64_t g, unsigned esize, int rw, int us, int xd)
{
	const struct shadow_regs *r = &s->regs;
	uint64_t pm = phys_mask(s);
	if ((g & (PTE_P | PTE_A)) != (PTE_P | PTE_A) || (g & shadow_reserved_bits(s, 0, g)))
		return 0;
	uint64_t gpa = esize == 8 ? g & pm & ~0xFFFULL : g & 0xFFFFF000ULL;
	if (shadow_is_hidden(s, gpa))
		return 0;
	if (shadow_is_write_trap(s, gpa))
		return 0; /* writable here when D is set: the fault path maps it read-only */
	int prw = rw && (g & PTE_RW) && (g & PTE_D), pus = us && (g & PTE_US);
	int pxd = xd || (r->nxe && esize == 8 && (g & PTE_XD));
	uint64_t e = gpa | PTE_P | (prw ? PTE_RW : 0) | (pus ? PTE_US : 0) | (pxd ? PTE_XD : 0);
	e |= g & (PTE_PWT | PTE_PCD | PTE_PAT_4K);
	if (r->mode == SHADOW_MODE_4LEVEL)
		e |= g & PTE_PK_MASK;
	if (r->pge && (g & PTE_G))
		e |= SW_GLOBAL;
	return e;
}

uint64_t shadow_revalidate(struct shadow_mmu *s, struct shadow_reval *c, uint64_t gva, int level, unsigned code)
{
	/* A supervisor read with AC: the walk checks no access right (the TLB caches the rights and
	 * the CPU checks them on use, on keel's leaf) */
	static const struct access any = { .ac = 1 };
	struct walk w;
	int l, pte = level == 0 && code == CODE_4K;

	if (pte && c->region == (gva >> 21) + 1) /* the same guest page table as the last one */
		return pte_leaf(s, *(const volatile uint64_t *)(c->pt + ((gva >> 12) & 511) * 8), 8, c->rw, c->us,
				c->xd);
	if (shadow_guest_walk(s, gva, &any, &w) || w.code != code)
		return 0;
	for (unsigned k = 0; k < w.n; k++)
		if (!(w.val[k] & PTE_A))
			return 0;
	if (w.n)
		w.dirty = !!(w.leaf & PTE_D);
	if (level == 0 && shadow_is_hidden(s, w.gpa + (gva & (code_size(code) - 1) & ~0xFFFULL)))
		return 0; /* keel's memory: the fault maps the all-ones page */
	uint64_t leaf = shadow_make_leaf(s, gva, &w, &any, &l);
	if (pte && w.esize == 8 && w.n >= 2 && (c->pt = shadow_guest_table(s, w.addr[w.n - 1]))) {
		/* the levels above this PTE, whose A flags were just checked: valid for the rest of
		 * this drop (the guest does not run meanwhile) */
		c->region = (gva >> 21) + 1;
		c->rw = c->us = 1;
		c->xd = 0;
		for (unsigned k = 0; k + 1 < w.n; k++) {
			c->rw &= !!(w.val[k] & PTE_RW);
			c->us &= !!(w.val[k] & PTE_US);
			if (s->regs.nxe && (w.val[k] & PTE_XD))
				c->xd = 1;
		}
	}
	return l == level ? leaf : 0;
}

/* ---- prefetch: the neighbours of a 4 KiB fill ---- */

/*
 * A hidden fault costs a VM exit; its neighbours in the guest's page table are often used next
 * (a refill after MOV CR3, a process's stack and text). After a 4 KiB fill keel fills the other
 * entries of the aligned group of SHADOW_PREFETCH around it, in the same shadow table, that are
 * empty there and that the guest's own tables let it fill now without changing anything:
 *   - the guest's PTE is present, sets no reserved bit and has A set already. The entries above
 *     it are the faulting walk's, whose A flags that walk just set; so the translation is one the
 *     CPU could have cached at any time (SDM Vol. 3A 4.10.2.3: translations may be cached for
 *     accesses that never happen, and A is only set for an entry so cached), and keel sets no
 *     A or D flag for it;
 *   - the shadow leaf grants what the whole walk grants (the faulting walk's upper levels and the
 *     neighbour's own PTE), writable only when the guest's D is set already: a clean page's first
 *     write still faults into keel, which sets D (SDM Vol. 3A 4.8);
 *   - the page is not keel's memory (those go through the fault, which maps the all-ones page).
 * A not-present or unused neighbour is left alone, so "not present becomes present" still needs
 * no invalidation: its first access faults as before.
 */
void shadow_prefetch(struct shadow_mmu *s, uint64_t gva, const struct walk *w)
{
	const struct shadow_regs *r = &s->regs;
	int rw = 1, us = 1, xd = 0;
	uint64_t *t = s->cur->top;

	for (int l = top_level(s->cur->mode); l > 0; l--) {
		uint64_t e = t[shadow_index(gva, l)];
		if (!(e & PTE_P) || is_leaf(e, l))
			return; /* no table for gva's leaf (shadow_install found no page) */
		t = table_of(e);
	}
	for (unsigned k = 0; k + 1 < w->n; k++) {
		rw &= !!(w->val[k] & PTE_RW);
		us &= !!(w->val[k] & PTE_US);
		if (r->nxe && w->esize == 8 && (w->val[k] & PTE_XD))
			xd = 1;
	}
	uint64_t pt = w->addr[w->n - 1] & ~0xFFFULL;
	const volatile uint8_t *table = shadow_guest_table(s, pt);
	unsigned index_mask = w->esize == 8 ? 511 : 1023;
	uint64_t first = gva & ~(SHADOW_PREFETCH * SZ_4K - 1);
	for (unsigned k = 0; k < SHADOW_PREFETCH; k++) {
		uint64_t va = first + k * SZ_4K, *se = &t[shadow_index(va, 0)];
		if (*se & PTE_P)
			continue; /* the faulting entry, or filled already */
		unsigned off = (unsigned)((va >> 12) & index_mask) * w->esize;
		uint64_t g = !table ? shadow_read_entry(s, pt + off, w->esize)
			     : w->esize == 8 ? *(const volatile uint64_t *)(table + off)
					     : *(const volatile uint32_t *)(table + off);
		uint64_t e = pte_leaf(s, g, w->esize, rw, us, xd);
		if (!e)
			continue;
		*se = e; /* CODE_4K */
		s->stats.prefetched++;
		if (!(e & SW_GLOBAL))
			shadow_log_fill(s, s->cur, se, 0, va);
	}
}
