/* Shadow paging: per-vCPU shadow page tables built on demand from the guest's own tables, for
 * CPUs without EPT. Pure logic with no VMCS access; called from VMX root inside exit handlers. */
#include "shadow_priv.h"

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
 * Roots and PCIDs. Up to max_roots shadow roots, one per recently loaded (guest CR3, PCID), least
 * recently used reused first (set_root below says how MOV CR3 and its bit 63 map onto them).
 * Without PCIDE a root keeps only its global translations across a switch away and back: the
 * guest may rewrite the tables of a CR3 that is not loaded without any invalidation, so nothing
 * else of it may be trusted when it is loaded again. With PCIDE, a switch with bit 63 keeps them
 * all, as the TLB may (SDM Vol. 3A 4.10.4.1); INVPCID stays hidden, so the guest flushes another
 * PCID by loading it without bit 63.
 *
 * Dropping. INVLPG walks only its address's path in each root; MOV CR3 clears the leaves the
 * root's fill log names (mm/shadow_inval.c) and keeps the tables for the refill, refilling at once
 * (revalidating) those the CPU used that the guest's current tables give without an A or D update;
 * only control changes, reclaim and a lost log scan whole roots.
 *
 * Prefetch. A 4 KiB fill also fills the neighbours in its aligned group whose guest PTEs the CPU
 * could have cached already (present, A set): fewer hidden faults after each drop
 * (mm/shadow_fill.c).
 *
 * Pool. npages pages taken at init; tables are freed when a range is dropped by INVLPG or a
 * flush, and kept by MOV CR3. When a fill finds no free page, keel evicts the least recently used
 * other root; with none left, it empties the current root (every translation refaults). A fill
 * needs at most three tables below the root, and SHADOW_POOL_MIN is four pages, so one empty-out
 * (which frees the root's log page too) always makes room: a fill never fails and never loops.
 *
 * Entries keel will not read. A guest table in keel's memory, or where the accessor finds no
 * memory, reads as all ones (what a guest would read there under EPT); A/D updates to it are
 * dropped. All ones in a PAE or 4-level entry sets reserved bits, so such a walk ends in a #PF
 * with RSVD, as it would under EPT.
 */

int shadow_hide(struct shadow_mmu *s, uint64_t base, uint64_t size)
{
	if (s->nhidden >= SHADOW_MAX_HIDDEN)
		return -1;
	struct shadow_range *h = &s->hidden[s->nhidden];
	h->base = base & ~0xFFFULL;
	h->size = ((base + size + 0xFFF) & ~0xFFFULL) - (base & ~0xFFFULL);
	if (!s->nhidden || h->base < s->hidden_lo)
		s->hidden_lo = h->base;
	if (!s->nhidden || h->base + h->size > s->hidden_hi)
		s->hidden_hi = h->base + h->size;
	s->nhidden++;
	for (unsigned i = 0; i < 4; i++)
		s->table_cache[i].gpa = 0; /* a page it said keel may read may be hidden now */
	return 0;
}

int shadow_is_hidden(const struct shadow_mmu *s, uint64_t gpa)
{
	if (gpa < s->hidden_lo || gpa >= s->hidden_hi)
		return 0;
	for (unsigned i = 0; i < s->nhidden; i++)
		if (gpa >= s->hidden[i].base && gpa - s->hidden[i].base < s->hidden[i].size)
			return 1;
	return 0;
}

int shadow_overlaps_hidden(const struct shadow_mmu *s, uint64_t base, uint64_t size)
{
	for (unsigned i = 0; i < s->nhidden; i++)
		if (base < s->hidden[i].base + s->hidden[i].size && s->hidden[i].base < base + size)
			return 1;
	return shadow_overlaps_trap(s, base, size); /* no large leaf over the write-trapped page either */
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
	       a->smep != b->smep || a->smap != b->smap || a->nxe != b->nxe || a->pcide != b->pcide;
}

static uint16_t root_pcid(const struct shadow_regs *r) { return r->pcide ? (uint16_t)(r->cr3 & 0xFFF) : 0; }

/*
 * MOV CR3 and PCIDs (SDM Vol. 3A 4.10.1, 4.10.4.1). TLB entries are tagged with the PCID that was
 * current when they were made, not with the CR3 address, and a MOV CR3 without bit 63 drops the
 * non-global entries of the new PCID only. keel keeps a root per (CR3 address, PCID): a root's
 * translations are all tagged with its PCID, so a flush of PCID p drops the non-global leaves of
 * every root of p: now for the root being loaded, and for the others (stale) when they are loaded
 * next, which is when the guest could next use them. With bit 63 (keep) nothing is dropped: a
 * root of (A, p) may then hold translations made from A's tables under p since p's last flush,
 * which the CPU could hold as well (INVLPG drops its address from every root). Without PCIDE
 * every root is of PCID 0 and every load flushes it: each root keeps only its global leaves
 * across a switch away and back, as before PCIDs.
 */
/*
 * A CR3 with no root under a PCID whose translations are all dropped but the global ones (a
 * stale root of it): that root serves the new CR3. Global translations are not tied to a CR3
 * (SDM Vol. 3A 4.10.2.4), so it holds exactly what the CPU may hold for the PCID, and its tables
 * are reused. Linux gives a new process one of a few PCIDs: its roots are taken over, not
 * multiplied. With PCIDE off, every root is of PCID 0 and keeps one root per CR3 as before.
 */
static struct shadow_root *take_over(struct shadow_mmu *s, const struct shadow_regs *r, uint16_t pcid)
{
	struct shadow_root *best = 0;
	for (unsigned i = 0; i < s->max_roots; i++) {
		struct shadow_root *x = &s->roots[i];
		if (x->top && x->stale && x->mode == r->mode && x->pcid == pcid && (!best || x->stamp > best->stamp))
			best = x;
	}
	return best;
}

static uint64_t set_root(struct shadow_mmu *s, const struct shadow_regs *r, int keep)
{
	uint64_t key = root_key(r);
	uint16_t pcid = root_pcid(r);
	struct shadow_root *hit = 0, *slot = 0;

	s->stats.cr3_loads++;
	if (s->cur && controls_differ(&s->regs, r))
		shadow_flush(s);
	int update = !s->cur || controls_differ(&s->regs, r);
	s->regs = *r;
	if (update)
		shadow_reserved_update(s);
	for (unsigned i = 0; i < s->max_roots; i++) {
		struct shadow_root *x = &s->roots[i];
		if (x->top && x->mode == r->mode && x->cr3 == key && x->pcid == pcid)
			hit = x;
		else if (x->top && x->pcid == pcid && !keep)
			x->stale = 1;
		else if (!x->top && !slot)
			slot = x;
	}
	if (!hit && r->pcide)
		hit = take_over(s, r, pcid);
	if (hit) {
		if (hit->cr3 == key)
			s->stats.root_hits++;
		if (!keep || hit->stale)
			shadow_drop_nonglobal(s, hit);
		hit->cr3 = key;
		hit->pcid = pcid;
		hit->stale = 0;
	} else {
		if (!slot) { /* every slot taken: the least recently used one goes */
			shadow_evict_lru(s, 0);
			for (unsigned i = 0; i < s->max_roots && !slot; i++)
				if (!s->roots[i].top)
					slot = &s->roots[i];
		}
		hit = slot;
		hit->mode = r->mode;
		hit->cr3 = key;
		hit->pcid = pcid;
		hit->stale = 0;
		hit->log = 0;
		hit->nlog = 0;
		/* The pool holds at least SHADOW_POOL_MIN pages: with every root gone one is free. */
		while (!(hit->top = shadow_page_alloc(s)))
			if (!shadow_evict_lru(s, 0))
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

uint64_t shadow_set_root(struct shadow_mmu *s, const struct shadow_regs *r) { return set_root(s, r, 0); }

uint64_t shadow_switch_root(struct shadow_mmu *s, const struct shadow_regs *r) { return set_root(s, r, r->pcide); }

static void reflect(struct shadow_mmu *s, uint64_t gva, uint32_t error, struct shadow_fault *out)
{
	s->stats.reflected_faults++;
	s->reflected_page = (gva & ~0xFFFULL) + 1;
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
		if (shadow_guest_walk(s, gva, &a, &w)) {
			reflect(s, gva, w.error, out);
			return;
		}
		if (!shadow_guest_set_ad(s, &w, a.write))
			break;
		if (tries == 3) {
			/* The guest keeps rewriting this entry: let it retry the access. */
			s->stats.hidden_faults++;
			out->kind = SHADOW_FILLED;
			return;
		}
	}
	uint64_t gpa = w.gpa + (gva & (code_size(w.code) - 1));
	if (a.write && shadow_is_write_trap(s, gpa)) {
		out->kind = SHADOW_WRITE_TRAP; /* the shadow maps it read-only: the caller emulates */
		out->gpa = gpa;
		out->error = 0;
		out->cr2 = 0;
		return;
	}
	uint64_t leaf = shadow_make_leaf(s, gva, &w, &a, &level);
	if (!shadow_install(s, gva, leaf, level, w.code)) {
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
		shadow_tlb_note(s, gva, 1);
	} else {
		s->spurious = 0;
		/* A page the guest has just mapped after its own fault (touched for the first time)
		 * has neighbours that are mostly not mapped yet: no prefetch, it would find nothing. */
		if (level == 0 && w.code == CODE_4K && w.n && s->reflected_page != (gva & ~0xFFFULL) + 1)
			shadow_prefetch(s, gva, &w);
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
