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

static int overlaps_hidden(const struct ept *e, uint64_t base, uint64_t size)
{
	for (unsigned i = 0; i < e->nhidden; i++)
		if (base < e->hidden[i].base + e->hidden[i].size && e->hidden[i].base < base + size)
			return 1;
	return 0;
}

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
		if (large_ok && a + step <= e->map_top && !overlaps_hidden(e, a, step) &&
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

int ept_build(struct ept *e)
{
	e->pml4 = new_table(e);
	if (!e->pml4)
		return -1;
	return fill(e, e->pml4, 3, 0);
}

uint64_t ept_pointer(const struct ept *e) { return eptp_make((uint64_t)(uintptr_t)e->pml4, 6 /* WB */); }

uint64_t *ept_lookup(const struct ept *e, uint64_t gpa, int *level)
{
	uint64_t *t = e->pml4;
	for (int l = 3; l >= 0; l--) {
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

	while (__atomic_exchange_n(&e->lock, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	for (int l = 3; l > 0; l--) {
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
	__atomic_store_n(&e->lock, 0, __ATOMIC_RELEASE);
	return ret;
}

/* The 4 KiB entry for gpa when the tables down to it exist (build splits around hidden pages). */
static uint64_t *pte_slot(const struct ept *e, uint64_t gpa)
{
	uint64_t *t = e->pml4;
	for (int l = 3; l > 0; l--) {
		uint64_t ent = t[EPT_INDEX(gpa, l)];
		if (!ept_entry_present(ent) || (ent & EPT_PS))
			return 0;
		t = (uint64_t *)(uintptr_t)ept_entry_addr(ent);
	}
	return &t[EPT_INDEX(gpa, 0)];
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
