/* Shadow paging: the pool of shadow table pages (taken at init, never grown) and the roots that
 * hold them, with least-recently-used reclaim. Pure logic; VMX root, inside exit handlers. */
#include "shadow_priv.h"

/* ---- the pool ---- */

/* Free pages are linked through their first word; its bit 0 says the rest of the page is zero
 * (a table emptied entry by entry), so that taking it again does not clear 512 entries. */
#define FREE_ZEROED 1ULL

static void page_free(struct shadow_mmu *s, uint64_t *p, uint64_t zeroed)
{
	p[0] = (uint64_t)(uintptr_t)s->free_list | zeroed;
	s->free_list = p;
	s->stats.pages_in_use--;
}

void shadow_page_free(struct shadow_mmu *s, uint64_t *p) { page_free(s, p, 0); }

void shadow_page_free_zeroed(struct shadow_mmu *s, uint64_t *p) { page_free(s, p, FREE_ZEROED); }

uint64_t *shadow_page_alloc(struct shadow_mmu *s)
{
	uint64_t *p = s->free_list;
	if (!p)
		return 0;
	uint64_t link = p[0];
	s->free_list = (uint64_t *)(uintptr_t)(link & ~FREE_ZEROED);
	p[0] = 0;
	if (!(link & FREE_ZEROED))
		for (unsigned i = 1; i < 512; i++)
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
	for (unsigned i = 0; i < 4; i++)
		s->table_cache[i].gpa = 0;
	for (unsigned i = 0; i < SHADOW_MAX_ROOTS; i++)
		s->roots[i].top = 0;
	for (unsigned i = 0; i < s->npages; i++) {
		uint64_t *p = s->alloc_page();
		if (!p || (uint64_t)(uintptr_t)p >> 32)
			return -1;
		s->stats.pages_in_use++; /* page_free counts it back */
		shadow_page_free(s, p); /* alloc_page's pages are zeroed, but cheaply checked nowhere */
	}
	s->stats.pages_total = s->npages;
	s->tlb = SHADOW_TLB_NONE;
	return 0;
}
void shadow_root_release(struct shadow_mmu *s, struct shadow_root *r)
{
	shadow_drop_all(s, r);
	shadow_page_free_zeroed(s, r->top); /* drop_all cleared every entry */
	r->top = 0;
	if (s->cur == r)
		s->cur = 0;
}
int shadow_evict_lru(struct shadow_mmu *s, const struct shadow_root *keep)
{
	struct shadow_root *lru = 0;
	for (unsigned i = 0; i < s->max_roots; i++) {
		struct shadow_root *r = &s->roots[i];
		if (r->top && r != keep && (!lru || r->stamp < lru->stamp))
			lru = r;
	}
	if (!lru)
		return 0;
	shadow_root_release(s, lru);
	s->stats.reclaims++;
	s->tlb = SHADOW_TLB_ALL; /* its pages come back as other tables */
	return 1;
}
