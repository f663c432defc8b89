/* Shadow paging: the guest's page walk with the CPU's checks (reserved bits, access rights) and
 * its accessed and dirty flags. Pure logic; VMX root, inside exit handlers. */
#include "shadow_priv.h"

/* ---- the guest's walk ---- */

static const volatile uint8_t *guest_table_uncached(const struct shadow_mmu *s, uint64_t gpa)
{
	if (!s->guest.page || shadow_is_hidden(s, gpa)) /* hidden ranges are whole pages */
		return 0;
	return (const volatile uint8_t *)s->guest.page(s->guest.opaque, gpa);
}

/* The answer for a page does not change (the hidden ranges only grow, and shadow_hide empties
 * the cache; guest.page's answers are fixed): one entry per level, since a walk reads one table
 * per level and consecutive walks mostly share the upper ones. */
const volatile uint8_t *shadow_guest_table(struct shadow_mmu *s, uint64_t gpa)
{
	return shadow_guest_table_at(s, gpa, 0);
}

const volatile uint8_t *shadow_guest_table_at(struct shadow_mmu *s, uint64_t gpa, int level)
{
	struct shadow_table_cache *c = &s->table_cache[level & 3];
	gpa &= ~0xFFFULL;
	if (c->gpa != gpa + 1) {
		c->ptr = guest_table_uncached(s, gpa);
		c->gpa = gpa + 1;
	}
	return c->ptr;
}

/* Entries are aligned to their size: one never straddles a page. */
uint64_t shadow_read_entry(struct shadow_mmu *s, uint64_t gpa, unsigned size)
{
	return shadow_read_entry_at(s, gpa, size, 0);
}

uint64_t shadow_read_entry_at(struct shadow_mmu *s, uint64_t gpa, unsigned size, int level)
{
	uint64_t v;
	if (s->guest.page) {
		const volatile uint8_t *t = shadow_guest_table_at(s, gpa, level);
		if (!t)
			return size == 8 ? ~0ULL : 0xFFFFFFFFULL;
		return size == 8 ? *(const volatile uint64_t *)(t + (gpa & 0xFFF))
				 : *(const volatile uint32_t *)(t + (gpa & 0xFFF));
	}
	if (shadow_is_hidden(s, gpa) || shadow_is_hidden(s, gpa + size - 1) ||
	    s->guest.read(s->guest.opaque, gpa, size, &v))
		return size == 8 ? ~0ULL : 0xFFFFFFFFULL;
	return size == 8 ? v : v & 0xFFFFFFFFULL;
}

/* Reserved bits of a present guest entry at level (SDM Vol. 3A 4.3, 4.4.2, 4.5.4), whose PS bit
 * is e's. */
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

void shadow_reserved_update(struct shadow_mmu *s)
{
	for (int level = 0; level < 4; level++)
		for (int ps = 0; ps < 2; ps++)
			s->rsvd[level][ps] = reserved_bits(s, level, ps ? PTE_PS : 0);
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
int shadow_guest_walk(struct shadow_mmu *s, uint64_t gva, const struct access *a, struct walk *w)
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
		uint64_t e = shadow_read_entry_at(s, addr, w->esize, level);
		if (!(e & PTE_P)) {
			w->error = err;
			return 1;
		}
		if (e & shadow_reserved_bits(s, level, e)) {
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
			w->gpa = e & pm & ~(code_size(w->code) - 1);
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
int shadow_guest_set_ad(const struct shadow_mmu *s, struct walk *w, int write)
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
