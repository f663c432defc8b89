/* Extended page tables: keel's identity map of guest-physical memory, with the firmware's memory
 * types and keel's own memory left out. Built at setup; changed in VMX root under a lock. */
#include "ept.h"

#include "../arch/x86/ept.h"

int ept_hide(struct ept *e, uint64_t base, uint64_t size)
{
	if (e->nhidden >= EPT_MAX_HIDDEN)
		return -1;
	e->hidden[e->nhidden].base = base & ~0xFFFULL;
	e->hidden[e->nhidden].size = ((base + size + 0xFFF) & ~0xFFFULL) - (base & ~0xFFFULL);
	uint64_t lo = e->hidden[e->nhidden].base, hi = lo + e->hidden[e->nhidden].size;
	if (!e->nhidden || lo < e->hidden_lo)
		e->hidden_lo = lo;
	if (!e->nhidden || hi > e->hidden_hi)
		e->hidden_hi = hi;
	e->nhidden++;
	return 0;
}

int ept_is_hidden(const struct ept *e, uint64_t addr)
{
	for (unsigned i = 0; i < e->nhidden; i++)
		if (addr >= e->hidden[i].base && addr - e->hidden[i].base < e->hidden[i].size)
			return 1;
	return 0;
}

static void lock(struct ept *e)
{
	while (__atomic_exchange_n(&e->lock, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
}

static void unlock(struct ept *e) { __atomic_store_n(&e->lock, 0, __ATOMIC_RELEASE); }

static uint64_t *new_table(struct ept *e)
{
	uint64_t *t = e->alloc_page();
	if (t)
		e->stats.tables++;
	return t;
}

static uint64_t leaf(uint64_t hpa, uint64_t perms, unsigned type, int level)
{
	return hpa | perms | ((uint64_t)type << EPT_MT_SHIFT) | (level ? EPT_PS : 0);
}

static void count_leaf(struct ept *e, int level, int delta)
{
	if (level == 2)
		e->stats.pages_1g += delta;
	else if (level == 1)
		e->stats.pages_2m += delta;
	else
		e->stats.pages_4k += delta;
}

/* Fills table t (at `level`, covering [base, base + 512 * size of its entries)). */
static int fill(struct ept *e, uint64_t *t, int level, uint64_t base)
{
	uint64_t step = 1ULL << EPT_LEVEL_SHIFT(level);

	for (unsigned i = 0; i < EPT_ENTRIES; i++) {
		uint64_t a = base + i * step;
		unsigned type;
		if (a >= e->map_top)
			break;
		int large_ok = level == 0 || (level == 1 && e->use_2m) || (level == 2 && e->use_1g);
		if (large_ok && a + step <= e->map_top && !ept_overlaps_hidden(e, a, step) &&
		    mtrr_range_type(e->mtrr, a, step, &type)) {
			t[i] = leaf(a, EPT_RWX, type, level);
			count_leaf(e, level, 1);
			continue;
		}
		if (level == 0) { /* a hidden 4 KiB page: not present */
			e->stats.hidden_pages++;
			continue;
		}
		uint64_t *sub = new_table(e);
		if (!sub)
			return -1;
		t[i] = (uint64_t)(uintptr_t)sub | EPT_RWX;
		if (fill(e, sub, level - 1, a))
			return -1;
	}
	return 0;
}

static int top_level(const struct ept *e) { return (int)e->levels - 1; }

/* MAXPHYADDR as a mask: mtrr_read takes it from CPUID.80000008H:EAX[7:0]. */
static uint64_t phys_mask(const struct ept *e) { return e->mtrr->phys_mask; }

/* The device budget, taken up front: ept_map_device runs in VMX root on an exit, where running out
 * of pool would leave it no answer but stopping the vCPU. */
static int reserve_device_tables(struct ept *e)
{
	unsigned n = e->dev_budget ? e->dev_budget : EPT_DEV_TABLES_DEFAULT;
	if (n < EPT_DEV_TABLES_MIN)
		n = EPT_DEV_TABLES_MIN;
	if (n > EPT_DEV_TABLES_MAX)
		n = EPT_DEV_TABLES_MAX;
	e->dev_budget = n;
	for (unsigned i = 0; i < n; i++) {
		e->dev_tables[i] = e->alloc_page();
		if (!e->dev_tables[i])
			return -1;
		/* One table per level from the start: after a reclaim each level has one. */
		e->dev_level[i] = (signed char)(i < e->levels - 1 ? (int)i : -1);
		e->stats.dev_tables++;
	}
	return 0;
}

int ept_build(struct ept *e)
{
	/* A 4-level walk translates GPA bits 47:0 only (SDM Vol. 3C 28.2.2): device memory above 2^48
	 * needs the fifth level, which costs one more memory access per walk, so only when it helps. */
	e->levels = e->use_5level && phys_mask(e) >> 48 ? 5 : 4;
	e->pml4 = new_table(e);
	if (!e->pml4)
		return -1;
	if (fill(e, e->pml4, top_level(e), 0))
		return -1;
	return reserve_device_tables(e);
}

uint64_t ept_pointer(const struct ept *e)
{
	return eptp_make((uint64_t)(uintptr_t)e->pml4, e->levels, 6 /* WB */);
}

uint64_t *ept_lookup(const struct ept *e, uint64_t gpa, int *level)
{
	uint64_t *t = e->pml4;
	if (!ept_walk_covers(gpa, e->levels))
		return 0;
	for (int l = top_level(e); l >= 0; l--) {
		uint64_t *ent = &t[EPT_INDEX(gpa, l)];
		if (!ept_entry_present(*ent))
			return 0;
		if (l == 0 || (*ent & EPT_PS)) {
			*level = l;
			return ent;
		}
		t = (uint64_t *)(uintptr_t)ept_entry_addr(*ent);
	}
	return 0;
}

int ept_map_4k(struct ept *e, uint64_t gpa, uint64_t hpa, uint64_t perms, unsigned type)
{
	uint64_t *t = e->pml4;
	int ret = 0;

	if (!ept_walk_covers(gpa, e->levels))
		return -1;
	lock(e);
	for (int l = top_level(e); l > 0; l--) {
		uint64_t *ent = &t[EPT_INDEX(gpa, l)];
		if (!ept_entry_present(*ent) || (*ent & EPT_PS)) {
			uint64_t old = *ent;
			uint64_t *sub = new_table(e);
			if (!sub) {
				ret = -1;
				goto out;
			}
			if (old & EPT_PS) {
				/* Split: the new table repeats the large page in pieces one level down. */
				uint64_t step = 1ULL << EPT_LEVEL_SHIFT(l - 1);
				uint64_t attrs = old & (EPT_RWX | EPT_MT_MASK | EPT_IPAT);
				for (unsigned i = 0; i < EPT_ENTRIES; i++)
					sub[i] = (ept_entry_addr(old) + i * step) | attrs | (l - 1 ? EPT_PS : 0);
				count_leaf(e, l, -1);
				e->stats.pages_2m += l == 2 ? EPT_ENTRIES : 0;
				e->stats.pages_4k += l == 1 ? EPT_ENTRIES : 0;
			}
			*ent = (uint64_t)(uintptr_t)sub | EPT_RWX;
		}
		t = (uint64_t *)(uintptr_t)ept_entry_addr(*ent);
	}
	uint64_t *pte = &t[EPT_INDEX(gpa, 0)];
	if (!ept_entry_present(*pte))
		e->stats.pages_4k++;
	*pte = leaf(hpa & EPT_ADDR_MASK, perms, type, 0);
out:
	unlock(e);
	return ret;
}

/* The 4 KiB entry for gpa when the tables down to it exist (build splits around hidden pages). */
static uint64_t *pte_slot(const struct ept *e, uint64_t gpa)
{
	uint64_t *t = e->pml4;
	if (!ept_walk_covers(gpa, e->levels))
		return 0;
	for (int l = top_level(e); l > 0; l--) {
		uint64_t ent = t[EPT_INDEX(gpa, l)];
		if (!ept_entry_present(ent) || (ent & EPT_PS))
			return 0;
		t = (uint64_t *)(uintptr_t)ept_entry_addr(ent);
	}
	return &t[EPT_INDEX(gpa, 0)];
}

unsigned ept_hidden_pages(const struct ept *e)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < e->nhidden; i++)
		n += (e->hidden[i].size + 4095) / 4096;
	return (unsigned)n;
}

unsigned ept_set_hidden_present(struct ept *e, int present)
{
	unsigned changed = 0;
	for (unsigned i = 0; i < e->nhidden; i++) {
		for (uint64_t a = e->hidden[i].base; a < e->hidden[i].base + e->hidden[i].size; a += 4096) {
			uint64_t *pte = pte_slot(e, a);
			unsigned type = MT_WB;
			if (!pte)
				continue;
			mtrr_range_type(e->mtrr, a, 4096, &type);
			*pte = present ? leaf(a, EPT_RWX, type, 0) : 0;
			changed++;
		}
	}
	return changed;
}

/*
 * On-demand device mappings above map_top.
 *
 * Every table they need comes from e->dev_tables, reserved by ept_build: dev_tables[0, dev_used)
 * are in use, the rest are free and zeroed on reuse. A device mapping hangs from one "root":
 * a not-present entry of a build-time table that ept_map_device filled (with a leaf, or with a
 * device table). Clearing every root drops every device mapping at once, and then no entry
 * anywhere points into a device table, so all of them are free again: that is the reclaim.
 *
 * Cached translations (SDM Vol. 3C 28.3): an EPT violation invalidates, on the CPU that takes it,
 * the guest-physical and combined mappings that would translate the faulting GPA (28.3.3.1), and
 * changing an entry from not present to present is not among the changes that need INVEPT
 * (28.3.3.4). A new mapping therefore needs no INVEPT on any CPU. A reclaim clears present
 * entries and reuses their tables, which does (28.3.3.4): until a CPU flushes, it may still use a
 * dropped mapping, or a cached entry pointing to a table that now maps another range. A device
 * table therefore serves one level for good (dev_level): read through a stale pointer, its entries
 * are still entries of that level, leading only to identity leaves at or above map_top or to
 * device tables one level down, never to keel's memory (below map_top, and the tables
 * themselves). Reused at another level, a PT's leaves would be read as pointers to page tables
 * in device memory, or a PD's table pointers as leaves over keel's own table pages. So the other
 * CPUs may flush at their next VM exit (dev_gen).
 */

_Static_assert(EPT_DEV_TABLES_MIN >= 5 - 1, "one table per level of a 5-level walk fits the smallest budget");

static int is_device_table(const struct ept *e, const uint64_t *t)
{
	for (unsigned i = 0; i < e->dev_budget; i++)
		if (e->dev_busy[i] && e->dev_tables[i] == t)
			return 1;
	return 0;
}

/* A free table for `level`: one that served it before, else one that has served none yet. */
static int find_device_table(const struct ept *e, int level, const unsigned char *taken)
{
	int fresh = -1;
	for (unsigned i = 0; i < e->dev_budget; i++) {
		if (e->dev_busy[i] || taken[i])
			continue;
		if (e->dev_level[i] == level)
			return (int)i;
		if (e->dev_level[i] < 0 && fresh < 0)
			fresh = (int)i;
	}
	return fresh;
}

/* True when a table of every level in [lo, hi) is free (each a different one). */
static int have_device_tables(const struct ept *e, int lo, int hi)
{
	unsigned char taken[EPT_DEV_TABLES_MAX] = { 0 };
	for (int l = lo; l < hi; l++) {
		int i = find_device_table(e, l, taken);
		if (i < 0)
			return 0;
		taken[i] = 1;
	}
	return 1;
}

static uint64_t *take_device_table(struct ept *e, int level)
{
	unsigned char none[EPT_DEV_TABLES_MAX] = { 0 };
	int i = find_device_table(e, level, none); /* have_device_tables() said there is one */
	uint64_t *t = e->dev_tables[i];
	e->dev_level[i] = (signed char)level;
	e->dev_busy[i] = 1;
	e->dev_used++;
	for (unsigned k = 0; k < EPT_ENTRIES; k++)
		t[k] = 0;
	return t;
}

static void reclaim_devices(struct ept *e)
{
	for (unsigned i = 0; i < e->dev_nroots; i++)
		__atomic_store_n(e->dev_roots[i], 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < e->dev_budget; i++)
		e->dev_busy[i] = 0;
	e->dev_nroots = 0;
	e->dev_used = 0;
	e->stats.dev_reclaims++;
	__atomic_fetch_add(&e->dev_gen, 1, __ATOMIC_RELEASE);
}

/* Where the walk for gpa stops: at a not-present entry or a leaf, at `level`. */
struct slot {
	uint64_t *ent;
	int level;
	int in_device; /* the entry lies in a device table */
};

static void find_slot(const struct ept *e, uint64_t gpa, struct slot *s)
{
	uint64_t *t = e->pml4;
	s->in_device = 0;
	for (int l = top_level(e);; l--) {
		s->ent = &t[EPT_INDEX(gpa, l)];
		s->level = l;
		if (!ept_entry_present(*s->ent) || l == 0 || (*s->ent & EPT_PS))
			return;
		t = (uint64_t *)(uintptr_t)ept_entry_addr(*s->ent);
		s->in_device = s->in_device || is_device_table(e, t);
	}
}

/* The largest page at level <= max_level around gpa that a device mapping may use; 4 KiB always
 * qualifies (an MTRR range is 4 KiB-aligned, and the caller checked gpa). */
static int device_page_level(const struct ept *e, uint64_t gpa, int max_level, unsigned *type)
{
	for (int l = max_level > 2 ? 2 : max_level; l > 0; l--) {
		uint64_t size = 1ULL << EPT_LEVEL_SHIFT(l), base = gpa & ~(size - 1);
		if (!(l == 2 ? e->use_1g : e->use_2m))
			continue;
		/* Wholly device memory: nothing of the map built at start, nothing hidden, nothing at or
		 * above 2^MAXPHYADDR, and one memory type, or split further (SDM Vol. 3A 11.11.9). */
		if (base < e->map_top || ((base + size - 1) & ~phys_mask(e)) || ept_overlaps_hidden(e, base, size))
			continue;
		if (mtrr_range_type(e->mtrr, base, size, type))
			return l;
	}
	mtrr_range_type(e->mtrr, gpa & ~0xFFFULL, 4096, type);
	return 0;
}

static void count_device_leaf(struct ept *e, int level)
{
	e->stats.dev_maps++;
	if (level == 2)
		e->stats.dev_maps_1g++;
	else if (level == 1)
		e->stats.dev_maps_2m++;
	else
		e->stats.dev_maps_4k++;
}

int ept_map_device(struct ept *e, uint64_t gpa, struct ept_dev_map *out)
{
	int rc = EPT_DEV_MAPPED;
	struct slot s;
	unsigned type;

	if (gpa < e->map_top || (gpa & ~phys_mask(e)) || !ept_walk_covers(gpa, e->levels) ||
	    ept_is_hidden(e, gpa))
		return EPT_DEV_REFUSED;
	lock(e);
	find_slot(e, gpa, &s);
	if (ept_entry_present(*s.ent)) {
		/* A leaf: another vCPU mapped it after our violation. Device leaves are RWX, so a leaf
		 * that is not cannot have caused a violation we can cure by mapping. */
		rc = (*s.ent & EPT_RWX) == EPT_RWX ? EPT_DEV_PRESENT : EPT_DEV_REFUSED;
		goto out;
	}
	int level = device_page_level(e, gpa, s.level, &type);
	if (!have_device_tables(e, level, s.level) || (!s.in_device && e->dev_nroots == EPT_DEV_ROOTS_MAX)) {
		/* After the reclaim no device table is in use, so the walk stops in a build-time table
		 * with every root slot free, and each level below the top has its table (the ones
		 * reserve_device_tables tagged): one reclaim per call always makes room. */
		reclaim_devices(e);
		rc = EPT_DEV_RECLAIMED;
		find_slot(e, gpa, &s);
		level = device_page_level(e, gpa, s.level, &type);
	}

	/* Build the new branch bottom up, then publish it with one store: a CPU walking it
	 * meanwhile sees either the not-present entry or the whole branch. */
	uint64_t size = 1ULL << EPT_LEVEL_SHIFT(level), base = gpa & ~(size - 1);
	uint64_t val = leaf(base, EPT_RWX, type, level);
	for (int l = level + 1; l <= s.level; l++) {
		uint64_t *t = take_device_table(e, l - 1);
		t[EPT_INDEX(gpa, l - 1)] = val;
		val = (uint64_t)(uintptr_t)t | EPT_RWX;
	}
	__atomic_store_n(s.ent, val, __ATOMIC_RELEASE);
	if (!s.in_device)
		e->dev_roots[e->dev_nroots++] = s.ent;
	count_device_leaf(e, level);
	if (out) {
		out->base = base;
		out->size = size;
		out->type = type;
	}
out:
	unlock(e);
	return rc;
}
