/* Host unit tests for mm/shadow.c: the guest walks (4-level, PAE, 32-bit, unpaged), large pages,
 * permissions, A/D, keel's hidden pages, invalidations, cached roots and the bounded pool. Host
 * program (cmocka); guest-physical memory is a 16 MiB array, shadow tables come from pages
 * mapped below 2 GiB (MAP_32BIT), whose addresses stand in for host-physical ones. */
#include "unit.h"

#include <sys/mman.h>

#include "../../arch/x86/cpu.h"
#include "../../mm/shadow.h"

#define P BIT(0)
#define RW BIT(1)
#define US BIT(2)
#define PWT BIT(3)
#define PCD BIT(4)
#define A BIT(5)
#define D BIT(6)
#define PS BIT(7)
#define G BIT(8)
#define XD BIT(63)
#define ADDR 0x000FFFFFFFFFF000ULL
#define CODE_BITS (3ULL << 9)
#define SWG BIT(11)

#define PF_P 1u
#define PF_W 2u
#define PF_U 4u
#define PF_RSVD 8u
#define PF_I 16u

#define KiB 0x400ULL
#define MiB 0x100000ULL
#define GiB 0x40000000ULL

/* keel's memory in the guest-physical space: a 64 KiB range; the ones and sink pages in it */
#define KEEL_BASE (12 * MiB + 0x5000)
#define KEEL_SIZE (64 * KiB)
#define ONES (KEEL_BASE)
#define SINK (KEEL_BASE + 0x1000)

/* ---- fake guest memory ---- */

#define GMEM_SIZE (16 * MiB)
static uint8_t *gmem;
static uint64_t next_table;
static unsigned cmpxchg_calls;
static int race_once;           /* the next cmpxchg first stores race_value at race_addr */
static uint64_t race_addr, race_value;

static int fake_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *val)
{
	(void)opaque;
	if (gpa + size > GMEM_SIZE)
		return -1;
	*val = 0;
	memcpy(val, gmem + gpa, size);
	return 0;
}

static int fake_cmpxchg(void *opaque, uint64_t gpa, unsigned size, uint64_t old, uint64_t new_val)
{
	uint64_t cur = 0;
	(void)opaque;
	cmpxchg_calls++;
	if (gpa + size > GMEM_SIZE)
		return -1;
	if (race_once) { /* another vCPU writes an entry meanwhile */
		race_once = 0;
		memcpy(gmem + race_addr, &race_value, 8);
	}
	memcpy(&cur, gmem + gpa, size);
	if (cur != old)
		return 1;
	memcpy(gmem + gpa, &new_val, size);
	return 0;
}

static int use_page_op = 1; /* the walk reads through fake_page, else through fake_read */

static const volatile void *fake_page(void *opaque, uint64_t gpa)
{
	(void)opaque;
	return gpa + 4096 <= GMEM_SIZE ? gmem + gpa : NULL;
}

static uint64_t rd(uint64_t gpa, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, gmem + gpa, size);
	return v;
}

static void wr(uint64_t gpa, unsigned size, uint64_t v) { memcpy(gmem + gpa, &v, size); }

static uint64_t galloc(void)
{
	uint64_t p = next_table;
	next_table += 4096;
	assert_true(next_table < KEEL_BASE);
	return p;
}

/* ---- shadow pool: pages below 2 GiB ---- */

#define POOL_MAX 512
static uint8_t *pool_block;
static unsigned pool_next, pool_limit;

static void *pool_alloc(void)
{
	if (pool_next >= pool_limit)
		return NULL;
	uint8_t *p = pool_block + 4096ULL * pool_next++;
	memset(p, 0, 4096);
	return p;
}

static int is_pool_page(uint64_t a)
{
	uint64_t b = (uint64_t)(uintptr_t)pool_block;
	return a >= b && a < b + 4096ULL * POOL_MAX;
}

static struct shadow_mmu mmu;
static struct shadow_regs regs;

static void setup_mmu(unsigned npages, unsigned max_roots)
{
	memset(&mmu, 0, sizeof(mmu));
	mmu.alloc_page = pool_alloc;
	mmu.npages = npages;
	mmu.max_roots = max_roots;
	mmu.phys_bits = 39;
	mmu.has_1g = 1;
	mmu.ones_page = ONES;
	mmu.sink_page = SINK;
	mmu.guest.read = fake_read;
	mmu.guest.cmpxchg = fake_cmpxchg;
	mmu.guest.page = use_page_op ? fake_page : NULL;
	assert_int_equal(shadow_hide(&mmu, KEEL_BASE, KEEL_SIZE), 0);
	assert_int_equal(shadow_hide(&mmu, (uint64_t)(uintptr_t)pool_block, 4096ULL * POOL_MAX), 0);
	assert_int_equal(shadow_init(&mmu), 0);
}

static int setup(void **state)
{
	(void)state;
	if (!gmem) {
		gmem = mmap(NULL, GMEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		pool_block = mmap(NULL, 4096ULL * POOL_MAX, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		assert_true(gmem != MAP_FAILED && pool_block != MAP_FAILED);
	}
	memset(gmem, 0, GMEM_SIZE);
	next_table = 0x10000;
	pool_next = 0;
	pool_limit = POOL_MAX;
	cmpxchg_calls = 0;
	race_once = 0;
	use_page_op = 1;
	memset(&regs, 0, sizeof(regs));
	regs.wp = regs.pse = regs.pge = regs.nxe = 1;
	setup_mmu(64, 4);
	return 0;
}

/* ---- guest table builders: each returns the guest-physical address of the leaf entry ---- */

/* 4-level: maps gva by a leaf at level (0 4 KiB, 1 2 MiB, 2 1 GiB); new upper entries get upper. */
static uint64_t map4(uint64_t cr3, uint64_t gva, uint64_t gpa, int level, uint64_t flags, uint64_t upper)
{
	uint64_t table = cr3;
	for (int l = 3; l > level; l--) {
		uint64_t a = table + ((gva >> (12 + 9 * l)) & 511) * 8, e = rd(a, 8);
		if (!(e & P)) {
			e = galloc() | upper;
			wr(a, 8, e);
		}
		table = e & ADDR;
	}
	uint64_t a = table + ((gva >> (12 + 9 * level)) & 511) * 8;
	wr(a, 8, gpa | flags | (level ? PS : 0));
	return a;
}

/* The 4-level entry at level for gva (which must exist down to it). */
static uint64_t entry4(uint64_t cr3, uint64_t gva, int level)
{
	uint64_t table = cr3;
	for (int l = 3; l > level; l--)
		table = rd(table + ((gva >> (12 + 9 * l)) & 511) * 8, 8) & ADDR;
	return table + ((gva >> (12 + 9 * level)) & 511) * 8;
}

/* PAE: PDPTEs in regs.pdpte; level 0 or 1 (2 MiB). */
static uint64_t map_pae(uint64_t gva, uint64_t gpa, int level, uint64_t flags, uint64_t upper)
{
	uint64_t *pdpte = &regs.pdpte[(gva >> 30) & 3];
	if (!(*pdpte & P))
		*pdpte = galloc() | P;
	uint64_t table = *pdpte & ADDR;
	if (level == 0) {
		uint64_t a = table + ((gva >> 21) & 511) * 8, e = rd(a, 8);
		if (!(e & P)) {
			e = galloc() | upper;
			wr(a, 8, e);
		}
		table = e & ADDR;
	}
	uint64_t a = table + ((gva >> (12 + 9 * level)) & 511) * 8;
	wr(a, 8, gpa | flags | (level ? PS : 0));
	return a;
}

/* 32-bit: level 0 (4 KiB) or 1 (4 MiB with PSE; PSE-36 address bits 39:32 in PDE bits 20:13). */
static uint64_t map32(uint64_t cr3, uint64_t gva, uint64_t gpa, int level, uint64_t flags, uint64_t upper)
{
	uint64_t a = cr3 + ((gva >> 22) & 1023) * 4;
	if (level == 1) {
		wr(a, 4, (gpa & 0xFFC00000) | ((gpa >> 32) & 0xFF) << 13 | flags | PS);
		return a;
	}
	uint64_t e = rd(a, 4);
	if (!(e & P)) {
		e = galloc() | upper;
		wr(a, 4, e);
	}
	a = (e & 0xFFFFF000) + ((gva >> 12) & 1023) * 4;
	wr(a, 4, gpa | flags);
	return a;
}

static uint64_t load(enum shadow_mode mode, uint64_t cr3)
{
	regs.mode = mode;
	regs.cr3 = cr3;
	uint64_t root = shadow_set_root(&mmu, &regs);
	assert_true(root != 0 && is_pool_page(root));
	return root;
}

/* ---- a model of the CPU on keel's shadow: an access either completes, or faults into keel ---- */

enum kind { READ, WRITE, FETCH };

/* Would the hardware allow this access through shadow leaf e (the real CR0.WP is 1)? */
static int hw_allows(uint64_t e, enum kind k, int user, int ac, unsigned cpl)
{
	int implicit = cpl == 3 && !user;
	if (!(e & P))
		return 0;
	if (k == FETCH)
		return !(regs.nxe && (e & XD)) && (user ? !!(e & US) : !(regs.smep && (e & US)));
	if (user)
		return (e & US) && (k == READ || (e & RW));
	if ((e & US) && regs.smap && (implicit || !ac))
		return 0;
	return k == READ || (e & RW);
}

#define DONE 0
#define LIVELOCK (-1)
#define REFLECTED(err) (0x10000 | (int)(err))

static unsigned exits; /* #PF exits the last access_as took */

/* The shadow leaf for gva in the current root (as shadow_lookup finds it), or NULL. */
static uint64_t *shadow_leaf_entry(uint64_t gva)
{
	const struct shadow_root *r = mmu.cur;
	int pae = r->mode != SHADOW_MODE_4LEVEL;
	uint64_t *t = r->top;
	gva &= pae ? 0xFFFFFFFFULL : BIT(48) - 1;
	for (int l = pae ? 2 : 3; l >= 0; l--) {
		uint64_t *e = &t[(gva >> (12 + 9 * l)) & 511];
		if (!(*e & P))
			return NULL;
		if ((l == 0 || (*e & PS)) && !(pae && l == 2))
			return e;
		t = (uint64_t *)(uintptr_t)(*e & ADDR);
	}
	return NULL;
}

/* Performs an access as the CPU would: faults into keel until the shadow allows it or keel
 * reflects a fault. Returns DONE, REFLECTED(error) (with CR2 checked) or LIVELOCK. */
static int access_as(uint64_t gva, enum kind k, int user, int ac, unsigned cpl)
{
	exits = 0;
	for (int i = 0; i < 6; i++) {
		uint64_t e = shadow_lookup(&mmu, gva, NULL);
		if (hw_allows(e, k, user, ac, cpl)) {
			*shadow_leaf_entry(gva) |= A | (k == WRITE ? D : 0); /* as the CPU does */
			return DONE;
		}
		uint32_t err = ((e & P) ? PF_P : 0) | (k == WRITE ? PF_W : 0) | (user ? PF_U : 0) |
			       (k == FETCH && (regs.smep || regs.nxe) ? PF_I : 0);
		struct shadow_fault f;
		exits++;
		shadow_page_fault(&mmu, gva, err, cpl, ac, &f);
		shadow_tlb_take(&mmu, NULL);
		if (f.kind == SHADOW_REFLECT) {
			uint64_t mask = regs.mode == SHADOW_MODE_4LEVEL ? ~0ULL : 0xFFFFFFFFULL;
			assert_int_equal(f.cr2, gva & mask);
			return REFLECTED(f.error);
		}
	}
	return LIVELOCK;
}

static int access(uint64_t gva, enum kind k, int user) { return access_as(gva, k, user, 0, user ? 3 : 0); }

static uint64_t leaf_of(uint64_t gva, uint64_t *size)
{
	uint64_t sz = 0, e = shadow_lookup(&mmu, gva, &sz);
	if (size)
		*size = sz;
	return e;
}

/* Every leaf of every cached root: none maps keel's memory but the ones page (read-only) and the
 * sink page, and none maps a shadow table page. Returns the number of leaves. */
static unsigned scan_table(const uint64_t *t, int level, int pae_top)
{
	unsigned n = 0;
	for (unsigned i = 0; i < (pae_top ? 4u : 512u); i++) {
		uint64_t e = t[i];
		if (!(e & P))
			continue;
		if (level == 0 || (!pae_top && (e & PS))) {
			uint64_t size = 1ULL << (12 + 9 * level), base = e & ADDR & ~(size - 1);
			n++;
			if (base == ONES && size == 4096) {
				if (e & RW)
					fail_msg("the all-ones page is mapped writable");
				continue;
			}
			if (base == SINK && size == 4096)
				continue;
			if (is_pool_page(base) || (base < KEEL_BASE + KEEL_SIZE && KEEL_BASE < base + size))
				fail_msg("a shadow leaf maps keel's memory at 0x%llx (size 0x%llx)",
					 (unsigned long long)base, (unsigned long long)size);
			continue;
		}
		if (!pae_top && (e & (RW | US)) != (RW | US))
			fail_msg("a shadow table pointer restricts access: 0x%llx", (unsigned long long)e);
		n += scan_table((const uint64_t *)(uintptr_t)(e & ADDR), level - 1, 0);
	}
	return n;
}

static unsigned scan_all(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < mmu.max_roots; i++) {
		const struct shadow_root *r = &mmu.roots[i];
		if (r->top)
			n += scan_table(r->top, r->mode == SHADOW_MODE_4LEVEL ? 3 : 2, r->mode != SHADOW_MODE_4LEVEL);
	}
	return n;
}

/* ---- walk formats ---- */

static void test_4level_4k_page_filled_on_demand(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x7F1234567000ULL;
	uint64_t pte = map4(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(leaf_of(gva, NULL), 0); /* nothing before the first fault */
	assert_int_equal(access(gva + 0x10, READ, 1), DONE);
	uint64_t size, e = leaf_of(gva, &size);
	assert_int_equal(e & ADDR, 0x123000);
	assert_int_equal(size, 4096);
	assert_int_equal(e & (P | US), P | US);
	assert_int_equal(mmu.stats.hidden_faults, 1);
	for (int l = 3; l >= 0; l--)
		assert_true(rd(entry4(cr3, gva, l), 8) & A);
	assert_false(rd(pte, 8) & D);
	assert_int_equal(scan_all(), 1);
}

static void test_4level_high_half_address(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0xFFFF800000201000ULL;
	map4(cr3, gva, 0x456000, 0, P | RW, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 0), DONE);
	assert_int_equal(leaf_of(gva, NULL) & ADDR, 0x456000);
	assert_int_equal(leaf_of(0x201000, NULL), 0); /* the low-half alias stays unmapped */
}

static void test_pae_walk_uses_pdptes_from_regs(void **state)
{
	(void)state;
	uint64_t gva = 0xC0403000;
	map_pae(gva, 0x777000, 0, P | RW | US | D, P | RW | US);
	load(SHADOW_MODE_PAE, 0x1000);
	assert_int_equal(access(gva, WRITE, 1), DONE);
	uint64_t e = leaf_of(gva, NULL);
	assert_int_equal(e & ADDR, 0x777000);
	assert_true(e & RW);
	/* A PDPTE that is not present: a not-present fault for the guest, whatever else it holds */
	regs.pdpte[1] = regs.pdpte[3] & ~P;
	load(SHADOW_MODE_PAE, 0x1000);
	assert_int_equal(access(0x40403000, READ, 1), REFLECTED(PF_U));
}

static void test_32bit_4k_page(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x80345000;
	uint64_t pte = map32(cr3, gva, 0x654000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(gva, WRITE, 1), DONE);
	uint64_t size, e = leaf_of(gva, &size);
	assert_int_equal(e & ADDR, 0x654000);
	assert_int_equal(size, 4096);
	assert_int_equal(rd(pte, 4) & (A | D), A | D);
	assert_int_equal(rd(cr3 + (gva >> 22) * 4, 4) & A, A);
}

static void test_32bit_4m_page_becomes_two_2m_pages_with_pse36(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x00800000, gpa = 0x2400000000ULL + 0x1400000; /* above 4 GiB */
	map32(cr3, gva, gpa, 1, P | RW | D, 0);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(gva + 0x1234, READ, 0), DONE);
	assert_int_equal(access(gva + 0x201000, WRITE, 0), DONE);
	uint64_t size, lo = leaf_of(gva, &size), hi = leaf_of(gva + 0x200000, NULL);
	assert_int_equal(size, 2 * MiB);
	assert_int_equal(lo & ADDR, gpa);
	assert_int_equal(hi & ADDR, gpa + 2 * MiB);
}

static void test_32bit_without_pse_ps_bit_is_ignored(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), pt = galloc(), gva = 0x00403000;
	regs.pse = 0;
	/* The PDE has PS set, but without CR4.PSE it points to a page table (SDM Vol. 3A 4.3). */
	wr(cr3 + 1 * 4, 4, pt | P | RW | PS);
	wr(pt + 3 * 4, 4, 0x999000 | P | RW);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(gva, READ, 0), DONE);
	uint64_t size, e = leaf_of(gva, &size);
	assert_int_equal(size, 4096);
	assert_int_equal(e & ADDR, 0x999000);
}

static void test_unpaged_guest_is_identity(void **state)
{
	(void)state;
	load(SHADOW_MODE_UNPAGED, 0);
	assert_int_equal(access(0x00345678, WRITE, 0), DONE);
	uint64_t size, e = leaf_of(0x00345678, &size);
	assert_int_equal(size, 2 * MiB);
	assert_int_equal(e & ADDR, 0x00200000);
	assert_int_equal(e & (RW | US), RW | US);
	/* keel's 2 MiB is split: its pages are the ones/sink pages, its neighbours identity */
	assert_int_equal(access(KEEL_BASE + 0x3000, READ, 0), DONE);
	assert_int_equal(leaf_of(KEEL_BASE + 0x3000, NULL) & ADDR, ONES);
	assert_int_equal(access(KEEL_BASE - 0x1000, READ, 0), DONE);
	assert_int_equal(leaf_of(KEEL_BASE - 0x1000, &size) & ADDR, KEEL_BASE - 0x1000);
	assert_int_equal(size, 4096);
	scan_all();
}

/* ---- large pages ---- */

static void test_2m_page_mapped_by_2m_leaf(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x40000000 + 6 * MiB;
	map4(cr3, gva, 0x200000000ULL, 1, P | RW | US | A | D | BIT(12) | PCD, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva + 0x12345, WRITE, 1), DONE);
	uint64_t size, e = leaf_of(gva, &size);
	assert_int_equal(size, 2 * MiB);
	assert_int_equal(e & ADDR & ~(2 * MiB - 1), 0x200000000ULL);
	assert_int_equal(e & (PS | PCD | BIT(12)), PS | PCD | BIT(12)); /* memory type bits kept */
}

static void test_1g_page_mapped_by_1g_leaf(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 3 * GiB;
	map4(cr3, gva, 5 * GiB, 2, P | RW | A | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva + 0x3456789, READ, 0), DONE);
	uint64_t size, e = leaf_of(gva + 0x3456789, &size);
	assert_int_equal(size, GiB);
	assert_int_equal(e & ADDR, 5 * GiB);
}

static void test_1g_page_over_keel_splits_to_2m_and_4k(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 2 * GiB;
	map4(cr3, gva, 0, 2, P | RW | A | D, P | RW); /* guest-physical 0..1 GiB: keel is inside */
	load(SHADOW_MODE_4LEVEL, cr3);
	uint64_t size;
	assert_int_equal(access(gva + 100 * MiB, READ, 0), DONE);
	assert_int_equal(leaf_of(gva + 100 * MiB, &size) & ADDR, 100 * MiB);
	assert_int_equal(size, 2 * MiB);
	assert_int_equal(access(gva + KEEL_BASE + 0x2000, READ, 0), DONE);
	assert_int_equal(leaf_of(gva + KEEL_BASE + 0x2000, &size) & ADDR, ONES);
	assert_int_equal(size, 4096);
	assert_int_equal(access(gva + KEEL_BASE + KEEL_SIZE, WRITE, 0), DONE);
	assert_int_equal(leaf_of(gva + KEEL_BASE + KEEL_SIZE, &size) & ADDR, KEEL_BASE + KEEL_SIZE);
	assert_int_equal(size, 4096);
	scan_all();
}

static void test_1g_page_without_1g_support_is_reserved(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 3 * GiB;
	setup_mmu(64, 4);
	mmu.has_1g = 0;
	map4(cr3, gva, 5 * GiB, 2, P | RW, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 0), REFLECTED(PF_P | PF_RSVD));
}

static void test_2m_page_over_keel_splits_to_4k(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x40000000 + 12 * MiB;
	map4(cr3, gva, 12 * MiB, 1, P | RW | A | D, P | RW); /* holds KEEL_BASE */
	load(SHADOW_MODE_4LEVEL, cr3);
	uint64_t size;
	assert_int_equal(access(gva + 0x1000, READ, 0), DONE);
	assert_int_equal(leaf_of(gva + 0x1000, &size) & ADDR, 12 * MiB + 0x1000);
	assert_int_equal(size, 4096);
	assert_int_equal(access(gva + 0x5000, READ, 0), DONE);
	assert_int_equal(leaf_of(gva + 0x5000, NULL) & ADDR, ONES);
}

/* ---- the write-trapped page (the xAPIC page: keel emulates every write to it) ---- */

#define TRAP_PAGE 0xFEE00000ULL

static void test_write_trap_page_mapped_read_only_writes_reported(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 2 * GiB, apic = gva + (TRAP_PAGE - 3 * GiB), size;
	mmu.write_trap = TRAP_PAGE;
	map4(cr3, gva, 3 * GiB, 2, P | RW | A | D, P | RW); /* guest-physical 3..4 GiB, as firmware maps it */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(apic + 0x30, READ, 0), DONE);
	assert_int_equal(leaf_of(apic, &size) & (ADDR | RW), TRAP_PAGE);
	assert_int_equal(size, 4096);
	struct shadow_fault f;
	shadow_page_fault(&mmu, apic + 0x300, PF_P | PF_W, 0, 0, &f);
	assert_int_equal(f.kind, SHADOW_WRITE_TRAP);
	assert_int_equal(f.gpa, TRAP_PAGE + 0x300);
	assert_false(leaf_of(apic, NULL) & RW); /* and it stays read-only */
	/* The rest of the guest's 1 GiB page: 4 KiB beside it, 2 MiB elsewhere, writable. */
	assert_int_equal(access(apic + 0x1000, WRITE, 0), DONE);
	assert_true(leaf_of(apic + 0x1000, &size) & RW);
	assert_int_equal(size, 4096);
	assert_int_equal(access(gva + 0x100000, WRITE, 0), DONE);
	leaf_of(gva + 0x100000, &size);
	assert_int_equal(size, 2 * MiB);
	/* Lifted: the page is the guest's like any other. */
	mmu.write_trap = 0;
	shadow_flush(&mmu);
	assert_int_equal(access(apic + 0x300, WRITE, 0), DONE);
	assert_true(leaf_of(apic, NULL) & RW);
}

/* A write the guest's own tables forbid is the guest's #PF, trapped page or not; and no prefetch
 * maps the trapped page writable beside a neighbour's fault. */
static void test_write_trap_page_guest_rules_first_no_prefetch(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x7000000;
	mmu.write_trap = TRAP_PAGE;
	map4(cr3, gva, TRAP_PAGE, 0, P | A, P | RW); /* read-only */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, WRITE, 0), REFLECTED(PF_P | PF_W));
	map4(cr3, gva, TRAP_PAGE, 0, P | RW | A | D, P | RW);
	map4(cr3, gva + 0x1000, 0x300000, 0, P | RW | A | D, P | RW);
	shadow_invlpg(&mmu, gva);
	assert_int_equal(access(gva + 0x1000, READ, 0), DONE); /* prefetches its group of 8 */
	assert_false(leaf_of(gva, NULL) & RW);
}

/* ---- permissions: the intersection over the walk ---- */

static void test_user_access_to_supervisor_page_reflects(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	wr(entry4(cr3, gva, 2), 8, rd(entry4(cr3, gva, 2), 8) & ~US); /* the PDPTE says supervisor */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), REFLECTED(PF_P | PF_U));
	assert_false(rd(entry4(cr3, gva, 0), 8) & A); /* a faulting access marks nothing */
	assert_int_equal(access(gva, READ, 0), DONE);
	assert_false(leaf_of(gva, NULL) & US); /* the shadow leaf carries the PDPTE's U/S = 0 */
	assert_int_equal(mmu.stats.reflected_faults, 1);
}

static void test_read_only_upper_level_keeps_shadow_read_only(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, 0x123000, 0, P | RW | US | D, P | RW | US);
	wr(entry4(cr3, gva, 1), 8, rd(entry4(cr3, gva, 1), 8) & ~RW); /* the PDE: read-only */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_false(leaf_of(gva, NULL) & RW);
	assert_int_equal(access(gva, WRITE, 1), REFLECTED(PF_P | PF_W | PF_U));
	assert_int_equal(access(gva, WRITE, 0), REFLECTED(PF_P | PF_W)); /* CR0.WP = 1 */
}

static void test_nx_at_any_level_with_nxe(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	wr(entry4(cr3, gva, 3), 8, rd(entry4(cr3, gva, 3), 8) | XD); /* the PML4E: no execute */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, FETCH, 1), REFLECTED(PF_P | PF_U | PF_I));
	assert_int_equal(exits, 1);
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_true(leaf_of(gva, NULL) & XD);
}

static void test_xd_without_nxe_is_reserved(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	regs.nxe = 0;
	map4(cr3, gva, 0x123000, 0, P | RW | US | XD, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), REFLECTED(PF_P | PF_U | PF_RSVD));
}

static void test_fetch_error_code_in_32bit_paging_has_no_i_without_smep(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	/* NXE = 1 does nothing for 32-bit paging: I/D only with SMEP (SDM Vol. 3A 4.7) */
	map32(cr3, gva, 0x123000, 0, P | RW, P | RW);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(gva, FETCH, 1), REFLECTED(PF_P | PF_U));
	regs.smep = 1;
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(gva, FETCH, 1), REFLECTED(PF_P | PF_U | PF_I));
}

static void test_smep_blocks_supervisor_fetch_from_user_page(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	regs.smep = 1;
	map4(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, FETCH, 0), REFLECTED(PF_P | PF_I));
	assert_int_equal(exits, 1); /* keel's walk saw it: no shadow entry the CPU must refuse */
	assert_int_equal(access(gva, FETCH, 1), DONE);
}

static void test_smap_blocks_supervisor_data_access_without_ac(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	regs.smap = 1;
	map4(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access_as(gva, READ, 0, 0, 0), REFLECTED(PF_P));
	assert_int_equal(exits, 1);
	assert_int_equal(access_as(gva, WRITE, 0, 0, 0), REFLECTED(PF_P | PF_W));
	assert_int_equal(exits, 1);
	assert_int_equal(access_as(gva, READ, 0, 1, 0), DONE);  /* RFLAGS.AC = 1 at CPL 0 */
	assert_int_equal(access_as(gva, WRITE, 0, 1, 0), DONE);
	/* An implicit supervisor access from CPL 3 (a descriptor table, say): AC does not help */
	shadow_invlpg(&mmu, gva);
	assert_int_equal(access_as(gva, READ, 0, 1, 3), REFLECTED(PF_P));
	assert_int_equal(exits, 1);
}

static void test_smap_read_without_fetch_reporting_left_to_the_hardware(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	regs.smap = 1;
	regs.nxe = 0; /* with neither NXE nor SMEP the error code does not tell fetches apart */
	map32(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_32BIT, cr3);
	/* keel fills (it could be a fetch, which SMAP allows); the CPU refaults on the data read,
	 * and keel then reflects the CPU's own error code. */
	assert_int_equal(access(gva, READ, 0), REFLECTED(PF_P));
	assert_true(leaf_of(gva, NULL) & US);
}

static void test_wp0_supervisor_write_to_read_only_page(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	regs.wp = 0;
	uint64_t pte = map4(cr3, gva, 0x123000, 0, P | US, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, WRITE, 0), DONE);
	uint64_t e = leaf_of(gva, NULL);
	assert_int_equal(e & (RW | US | XD), RW | XD); /* writable, supervisor-only, no fetch */
	assert_int_equal(e & ADDR, 0x123000);
	assert_true(rd(pte, 8) & D);
	/* A user read maps the page back as the guest has it: user, read-only */
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_int_equal(leaf_of(gva, NULL) & (RW | US), US);
	assert_int_equal(access(gva, WRITE, 1), REFLECTED(PF_P | PF_W | PF_U));
	/* A supervisor fetch after another supervisor write is re-checked, and allowed without SMEP */
	assert_int_equal(access(gva, WRITE, 0), DONE);
	assert_int_equal(access(gva, FETCH, 0), DONE);
}

static void test_wp1_supervisor_write_to_read_only_page_reflects(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, 0x123000, 0, P | US, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, WRITE, 0), REFLECTED(PF_P | PF_W));
	assert_int_equal(exits, 1);
}

/* ---- accessed and dirty ---- */

static void test_clean_page_read_only_until_first_write(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	uint64_t pte = map4(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_int_equal(rd(pte, 8) & (A | D), A);
	assert_false(leaf_of(gva, NULL) & RW);
	uint64_t faults = mmu.stats.hidden_faults;
	assert_int_equal(access(gva, WRITE, 1), DONE);
	assert_int_equal(mmu.stats.hidden_faults, faults + 1);
	assert_int_equal(rd(pte, 8) & (A | D), A | D);
	assert_true(leaf_of(gva, NULL) & RW);
	/* Upper levels get A only (D exists in leaves alone) */
	assert_int_equal(rd(entry4(cr3, gva, 1), 8) & (A | D), A);
}

static void test_dirty_page_writable_at_once(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, 0x123000, 0, P | RW | US | D, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_true(leaf_of(gva, NULL) & RW);
	assert_int_equal(access(gva, WRITE, 1), DONE);
	assert_int_equal(mmu.stats.hidden_faults, 1);
}

static void test_dirty_bit_on_large_page_leaf(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x40000000;
	uint64_t pde = map4(cr3, gva, 0x400000, 1, P | RW, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva + 0x5000, WRITE, 0), DONE);
	assert_int_equal(rd(pde, 8) & (A | D), A | D);
}

static void test_changed_entry_restarts_walk(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	uint64_t pte = map4(cr3, gva, 0x123000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	/* After keel's walk read the PTE, while it sets A in the PML4E, another vCPU rewrites the
	 * PTE: the compare-exchange on the PTE fails and the walk starts again. */
	race_once = 1;
	race_addr = pte;
	race_value = 0x456000 | P | RW | US;
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_int_equal(leaf_of(gva, NULL) & ADDR, 0x456000);
	assert_int_equal(rd(pte, 8), 0x456000 | P | RW | US | A);
}

/* ---- not present, then present, without invalidation ---- */

static void test_not_present_to_present_needs_no_invalidation(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	uint64_t pte = map4(cr3, gva, 0x123000, 0, 0, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), REFLECTED(PF_U));
	assert_int_equal(leaf_of(gva, NULL), 0); /* the not-present entry was not cached */
	wr(pte, 8, 0x123000 | P | RW | US);     /* no INVLPG */
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_int_equal(leaf_of(gva, NULL) & ADDR, 0x123000);
	/* the same for an upper level that was not present */
	uint64_t gva2 = 0x7F0000000000ULL;
	assert_int_equal(access(gva2, READ, 0), REFLECTED(0));
	map4(cr3, gva2, 0x321000, 0, P | RW, P | RW);
	assert_int_equal(access(gva2, READ, 0), DONE);
}

/* ---- reserved bits ---- */

static void test_reserved_bits_reflect_rsvd(void **state)
{
	(void)state;
	uint64_t cr3 = galloc();
	/* above MAXPHYADDR (39) in a PTE */
	map4(cr3, 0x400000, BIT(40) | 0x123000, 0, P | RW, P | RW);
	/* PS in a PML4E */
	map4(cr3, 0x008000000000ULL, 0x123000, 0, P | RW, P | RW);
	wr(entry4(cr3, 0x008000000000ULL, 3), 8, rd(entry4(cr3, 0x008000000000ULL, 3), 8) | PS);
	/* bits 20:13 of a 2 MiB PDE */
	map4(cr3, 0x40000000, 0x400000 | BIT(14), 1, P | RW, P | RW);
	/* bits 62:52 are ignored in 4-level entries */
	map4(cr3, 0x600000, 0x124000 | BIT(55), 0, P | RW, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(0x400000, WRITE, 0), REFLECTED(PF_P | PF_W | PF_RSVD));
	assert_int_equal(access(0x008000000000ULL, READ, 0), REFLECTED(PF_P | PF_RSVD));
	assert_int_equal(access(0x40000000, READ, 1), REFLECTED(PF_P | PF_U | PF_RSVD));
	assert_int_equal(access(0x600000, READ, 0), DONE);
	assert_int_equal(leaf_of(0x600000, NULL) & ~0xFFFULL & ~XD, 0x124000);
}

static void test_reserved_bits_pae_and_32bit(void **state)
{
	(void)state;
	map_pae(0x400000, 0x123000 | BIT(55), 0, P | RW, P | RW); /* PAE: 62:M reserved */
	load(SHADOW_MODE_PAE, 0x1000);
	assert_int_equal(access(0x400000, READ, 0), REFLECTED(PF_P | PF_RSVD));
	uint64_t cr3 = galloc();
	map32(cr3, 0x800000, 0x800000, 1, P | RW, 0);
	wr(cr3 + 2 * 4, 4, rd(cr3 + 2 * 4, 4) | BIT(21)); /* 4 MiB PDE bit 21 */
	map32(cr3, 0xC00000, BIT(39), 1, P | RW, 0); /* address bit 39: at MAXPHYADDR (39) */
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(0x800000, READ, 0), REFLECTED(PF_P | PF_RSVD));
	assert_int_equal(access(0xC00000, READ, 0), REFLECTED(PF_P | PF_RSVD));
}

/* ---- keel's memory ---- */

static void test_guest_mapping_of_keel_memory_sees_ones_then_sink(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, KEEL_BASE + 0x3000, 0, P | RW | US | D, P | RW | US);
	map4(cr3, gva + 0x1000, (uint64_t)(uintptr_t)pool_block, 0, P | RW | US | D, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), DONE);
	uint64_t e = leaf_of(gva, NULL);
	assert_int_equal(e & ADDR, ONES);
	assert_false(e & RW);
	assert_int_equal(access(gva, WRITE, 1), DONE);
	e = leaf_of(gva, NULL);
	assert_int_equal(e & ADDR, SINK);
	assert_true(e & RW);
	/* the shadow pool itself is keel's memory */
	assert_int_equal(access(gva + 0x1000, WRITE, 1), DONE);
	assert_int_equal(leaf_of(gva + 0x1000, NULL) & ADDR, SINK);
	assert_int_equal(mmu.stats.keel_page_maps, 3);
	scan_all();
}

static void test_guest_table_in_keel_memory_reads_all_ones(void **state)
{
	(void)state;
	uint64_t cr3 = KEEL_BASE + 0x8000; /* the guest points CR3 into keel's memory */
	memset(gmem + cr3, 0, 4096);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(0x400000, READ, 0), REFLECTED(PF_P | PF_RSVD));
	assert_int_equal(cmpxchg_calls, 0);
}

static void test_canary_scan_over_every_guest_mapping_of_memory(void **state)
{
	(void)state;
	/* The guest maps all of its first 16 MiB with 4 KiB pages and 2 MiB pages at once. */
	uint64_t cr3 = galloc();
	setup_mmu(256, 4);
	for (uint64_t a = 0; a < 16 * MiB; a += 2 * MiB)
		map4(cr3, 0x40000000 + a, a, 1, P | RW | D, P | RW);
	for (uint64_t a = 11 * MiB; a < 14 * MiB; a += 4096)
		map4(cr3, 0x80000000 + a, a, 0, P | RW | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	for (uint64_t a = 0; a < 16 * MiB; a += 4096)
		assert_int_equal(access(0x40000000 + a, (a >> 12) & 1 ? WRITE : READ, 0), DONE);
	for (uint64_t a = 11 * MiB; a < 14 * MiB; a += 4096)
		assert_int_equal(access(0x80000000 + a, READ, 0), DONE);
	assert_true(scan_all() > 8);
	assert_int_equal(mmu.stats.keel_page_maps, 2 * (KEEL_SIZE / 4096));
}

/* ---- invalidation ---- */

static void test_invlpg_drops_exactly_that_translation(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), a = 0x400000, b = 0x401000;
	uint64_t pa = map4(cr3, a, 0x123000, 0, P | RW | D, P | RW);
	uint64_t pb = map4(cr3, b, 0x124000, 0, P | RW | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(a, READ, 0), DONE);
	assert_int_equal(access(b, READ, 0), DONE);
	shadow_tlb_take(&mmu, NULL);
	wr(pa, 8, 0x223000 | P | RW | D);
	wr(pb, 8, 0x224000 | P | RW | D);
	shadow_invlpg(&mmu, a);
	uint64_t gva = 0;
	assert_int_equal(shadow_tlb_take(&mmu, &gva), SHADOW_TLB_ADDR);
	assert_int_equal(gva, a);
	assert_int_equal(leaf_of(a, NULL), 0);
	assert_int_equal(leaf_of(b, NULL) & ADDR, 0x124000); /* stale, as a TLB entry may be */
	assert_int_equal(access(a, READ, 0), DONE);
	assert_int_equal(leaf_of(a, NULL) & ADDR, 0x223000);
	assert_int_equal(mmu.stats.invlpgs, 1);
}

static void test_invlpg_drops_every_piece_of_a_split_large_page(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x40000000 + 12 * MiB;
	map4(cr3, gva, 12 * MiB, 1, P | RW | D, P | RW); /* split: keel is inside */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva + 0x1000, READ, 0), DONE);
	assert_int_equal(access(gva + 0x100000, READ, 0), DONE);
	shadow_invlpg(&mmu, gva + 0x1FF000); /* a piece never filled */
	assert_int_equal(leaf_of(gva + 0x1000, NULL), 0);
	assert_int_equal(leaf_of(gva + 0x100000, NULL), 0);
	assert_int_equal(shadow_tlb_take(&mmu, NULL), SHADOW_TLB_ALL);
}

static void test_invlpg_drops_both_halves_of_a_4m_page(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x00800000;
	map32(cr3, gva, 0x01000000, 1, P | RW | D, 0);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(gva, READ, 0), DONE);
	shadow_invlpg(&mmu, gva + 0x300000); /* the half not filled yet */
	assert_int_equal(leaf_of(gva, NULL), 0);
	assert_int_equal(access(gva + 0x300000, READ, 0), DONE);
	assert_int_equal(access(gva, READ, 0), DONE);
	shadow_invlpg(&mmu, gva);
	assert_int_equal(leaf_of(gva + 0x300000, NULL), 0);
}

static void test_invlpg_drops_global_translation_in_every_root(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), gva = 0xFFFF800000000000ULL;
	map4(cr3a, gva, 0x123000, 0, P | RW | G | D, P | RW);
	map4(cr3b, gva, 0x123000, 0, P | RW | G | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3a);
	assert_int_equal(access(gva, READ, 0), DONE);
	load(SHADOW_MODE_4LEVEL, cr3b);
	assert_int_equal(access(gva, READ, 0), DONE);
	shadow_invlpg(&mmu, gva);
	assert_int_equal(leaf_of(gva, NULL), 0);
	load(SHADOW_MODE_4LEVEL, cr3a);
	assert_int_equal(leaf_of(gva, NULL), 0);
}

static void test_flush_drops_everything_global_too(void **state)
{
	(void)state;
	uint64_t cr3 = galloc();
	map4(cr3, 0x400000, 0x123000, 0, P | RW | G, P | RW);
	map4(cr3, 0x40000000, 0x400000, 1, P | RW, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(0x400000, READ, 0), DONE);
	assert_int_equal(access(0x40000000, READ, 0), DONE);
	unsigned in_use = mmu.stats.pages_in_use;
	shadow_flush(&mmu);
	assert_int_equal(leaf_of(0x400000, NULL), 0);
	assert_int_equal(leaf_of(0x40000000, NULL), 0);
	assert_int_equal(scan_all(), 0);
	assert_true(mmu.stats.pages_in_use < in_use);
	assert_int_equal(mmu.stats.pages_in_use, 1); /* the root page alone */
	assert_int_equal(shadow_tlb_take(&mmu, NULL), SHADOW_TLB_ALL);
}

static void test_cr3_switch_reuses_root_and_keeps_only_global_translations(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), kern = 0xFFFF800000000000ULL, user = 0x400000;
	map4(cr3a, kern, 0x123000, 0, P | RW | G | D, P | RW);
	uint64_t pte = map4(cr3a, user, 0x124000, 0, P | RW | US | D, P | RW | US);
	map4(cr3b, user, 0x125000, 0, P | RW | US | D, P | RW | US);
	uint64_t root_a = load(SHADOW_MODE_4LEVEL, cr3a);
	assert_int_equal(access(kern, READ, 0), DONE);
	assert_int_equal(access(user, READ, 1), DONE);
	uint64_t root_b = load(SHADOW_MODE_4LEVEL, cr3b);
	assert_true(root_b != root_a);
	assert_int_equal(access(user, READ, 1), DONE);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x125000);
	wr(pte, 8, 0x126000 | P | RW | US | D); /* changed while cr3a is not loaded */
	assert_int_equal(load(SHADOW_MODE_4LEVEL, cr3a), root_a);
	assert_int_equal(mmu.stats.root_hits, 1);
	assert_int_equal(leaf_of(kern, NULL) & ADDR, 0x123000); /* global: kept */
	assert_true(leaf_of(kern, NULL) & SWG);
	assert_false(leaf_of(kern, NULL) & G); /* keel never sets the hardware G bit */
	assert_int_equal(leaf_of(user, NULL), 0);               /* non-global: dropped */
	assert_int_equal(access(user, READ, 1), DONE);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x126000);
	assert_int_equal(mmu.stats.cr3_loads, 3);
	/* MOV CR3 with the same value drops non-global translations too: what is left is what the
	 * tables give now (revalidated, the guest's A set), never the old translation */
	wr(pte, 8, 0x127000 | P | RW | US | A | D);
	load(SHADOW_MODE_4LEVEL, cr3a);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x127000);
	assert_true(leaf_of(kern, NULL) & P);
	/* without CR4.PGE nothing is global */
	regs.pge = 0;
	load(SHADOW_MODE_4LEVEL, cr3a);
	assert_int_equal(leaf_of(kern, NULL), 0);
}

/* ---- prefetch around a 4 KiB fill ---- */

/* Neighbours in the aligned group of SHADOW_PREFETCH: filled when the guest's PTE is present with
 * A set and no reserved bit, with the whole walk's rights, writable only when D is set; left
 * alone when A is clear, not present, reserved, or keel's memory. */
static void test_prefetch_fills_used_neighbours_only(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), base = 0x7F0000000000ULL, gva = base + 5 * 4096;
	uint64_t up = P | RW | US;
	_Static_assert(SHADOW_PREFETCH == 8, "the layout below is one group of 8");
	map4(cr3, gva, 0x123000, 0, P | RW | US | A, up);
	map4(cr3, base + 0 * 4096, 0x200000, 0, P | RW | US | A | D, up);     /* dirty: writable */
	map4(cr3, base + 1 * 4096, 0x201000, 0, P | RW | US | A, up);         /* clean: read-only */
	map4(cr3, base + 2 * 4096, 0x202000, 0, P | RW | US, up);             /* A clear: not yet */
	map4(cr3, base + 3 * 4096, 0x203000, 0, P | US | A | D | XD | PCD, up); /* read-only, XD */
	map4(cr3, base + 4 * 4096, 0x204000, 0, P | RW | A | D | G, up);      /* supervisor, global */
	map4(cr3, base + 6 * 4096, KEEL_BASE, 0, P | RW | US | A | D, up);    /* keel's memory */
	map4(cr3, base + 7 * 4096, 0x207000 | BIT(45), 0, P | RW | US | A, up); /* reserved bit */
	map4(cr3, base + 8 * 4096, 0x208000, 0, P | RW | US | A | D, up);     /* the next group */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_int_equal(exits, 1);
	assert_int_equal(leaf_of(base, NULL) & (ADDR | RW | US | XD), 0x200000 | RW | US);
	assert_int_equal(leaf_of(base + 1 * 4096, NULL) & (ADDR | RW | US), 0x201000 | US);
	assert_int_equal(leaf_of(base + 2 * 4096, NULL), 0);
	assert_int_equal(leaf_of(base + 3 * 4096, NULL) & (ADDR | RW | US | XD | PCD), 0x203000 | US | XD | PCD);
	assert_int_equal(leaf_of(base + 4 * 4096, NULL) & (ADDR | RW | US | SWG | G), 0x204000 | RW | SWG);
	assert_int_equal(leaf_of(base + 6 * 4096, NULL), 0);
	assert_int_equal(leaf_of(base + 7 * 4096, NULL), 0);
	assert_int_equal(leaf_of(base + 8 * 4096, NULL), 0);
	assert_int_equal(rd(entry4(cr3, base + 1 * 4096, 0), 8) & D, 0); /* no flag set for them */
	assert_int_equal(scan_all(), 5);
	/* the clean neighbour's first write faults, and sets D */
	assert_int_equal(access(base + 1 * 4096, WRITE, 1), DONE);
	assert_true(rd(entry4(cr3, base + 1 * 4096, 0), 8) & D);
	assert_int_equal(access(base + 3 * 4096, WRITE, 1), REFLECTED(PF_P | PF_W | PF_U));
	assert_int_equal(access(base + 4 * 4096, READ, 1), REFLECTED(PF_P | PF_U));
	/* what prefetch filled, MOV CR3 drops (all but the global one) once the guest's tables no
	 * longer give it */
	for (unsigned k = 0; k < 8; k++)
		if (k != 4)
			wr(entry4(cr3, base + k * 4096, 0), 8, 0);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(scan_all(), 1);
}

/* The upper levels' rights bound a prefetched leaf too. */
static void test_prefetch_takes_upper_level_rights(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, 0x123000, 0, P | RW | US | A | D, P | US | XD); /* upper: read-only, XD */
	map4(cr3, gva + 4096, 0x124000, 0, P | RW | US | A | D, P | US | XD);
	map4(cr3, gva + 2 * 4096, 0x125000, 0, RW | US | A | D, P | US | XD); /* not present */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 1), DONE);
	assert_int_equal(leaf_of(gva + 4096, NULL) & (ADDR | RW | US | XD), 0x124000 | US | XD);
	assert_int_equal(leaf_of(gva + 2 * 4096, NULL), 0);
}

/* 32-bit paging: 4-byte PTEs, the group inside the 2 MiB half of the 4 MiB the guest table maps. */
static void test_prefetch_32bit(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x00600000 + 3 * 4096;
	map32(cr3, gva, 0x123000, 0, P | RW | A | D, P | RW);
	map32(cr3, gva + 4096, 0x124000, 0, P | RW | A | D, P | RW);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(gva, READ, 0), DONE);
	assert_int_equal(leaf_of(gva + 4096, NULL) & (ADDR | RW), 0x124000 | RW);
}

/* ---- PCIDs (SDM Vol. 3A 4.10.1, 4.10.4.1) ---- */

static uint64_t load_pcid(uint64_t cr3, unsigned pcid, int keep)
{
	regs.mode = SHADOW_MODE_4LEVEL;
	regs.pcide = 1;
	regs.cr3 = cr3 | pcid;
	uint64_t root = keep ? shadow_switch_root(&mmu, &regs) : shadow_set_root(&mmu, &regs);
	assert_true(root != 0 && is_pool_page(root));
	return root;
}

/* Bit 63 keeps the PCID's translations, stale ones included (a TLB may keep them too); each
 * (CR3, PCID) has a root of its own: PCID 2 does not see what was made under PCID 1. */
static void test_pcid_no_flush_switch_keeps_translations(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), user = 0x400000, kern = 0xFFFF800000000000ULL;
	uint64_t pte = map4(cr3a, user, 0x124000, 0, P | RW | US | D, P | RW | US);
	map4(cr3a, kern, 0x123000, 0, P | RW | G | D, P | RW);
	map4(cr3b, user, 0x125000, 0, P | RW | US | D, P | RW | US);
	uint64_t ra = load_pcid(cr3a, 1, 0);
	assert_int_equal(access(user, READ, 1), DONE);
	assert_int_equal(access(kern, READ, 0), DONE);
	uint64_t ra2 = load_pcid(cr3a, 2, 1);
	assert_true(ra2 != ra);
	assert_int_equal(leaf_of(user, NULL), 0);
	load_pcid(cr3b, 3, 1);
	assert_int_equal(access(user, READ, 1), DONE);
	wr(pte, 8, 0x126000 | P | RW | US | D); /* changed with no invalidation */
	assert_int_equal(load_pcid(cr3a, 1, 1), ra);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x124000); /* kept: PCID 1 was not flushed */
	assert_int_equal(load_pcid(cr3a, 1, 0), ra);           /* now it is */
	assert_int_equal(leaf_of(user, NULL), 0);
	assert_int_equal(leaf_of(kern, NULL) & ADDR, 0x123000); /* global: kept */
	assert_int_equal(access(user, READ, 1), DONE);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x126000);
}

/* A flush of PCID p (MOV CR3 without bit 63) drops the non-global translations of every CR3's
 * root under p, those not loaded included, and none of another PCID. */
static void test_pcid_flush_reaches_every_root_of_that_pcid(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), cr3c = galloc(), user = 0x400000, kern = 0xFFFF800000000000ULL;
	map4(cr3a, user, 0x124000, 0, P | RW | US | D, P | RW | US);
	map4(cr3a, kern, 0x123000, 0, P | RW | G | D, P | RW);
	map4(cr3b, user, 0x125000, 0, P | RW | US | D, P | RW | US);
	map4(cr3c, user, 0x126000, 0, P | RW | US | D, P | RW | US);
	load_pcid(cr3a, 1, 0);
	assert_int_equal(access(user, READ, 1), DONE);
	assert_int_equal(access(kern, READ, 0), DONE);
	load_pcid(cr3c, 2, 0);
	assert_int_equal(access(user, READ, 1), DONE);
	wr(entry4(cr3c, user, 0), 8, 0x127000 | P | RW | US | A | D); /* no invalidation */
	load_pcid(cr3b, 1, 0); /* flushes PCID 1: cr3a's root too (b takes it over) */
	assert_int_equal(leaf_of(user, NULL), 0);
	assert_int_equal(leaf_of(kern, NULL) & ADDR, 0x123000);
	load_pcid(cr3a, 1, 1);
	assert_int_equal(leaf_of(user, NULL), 0);
	load_pcid(cr3c, 2, 1); /* PCID 2 untouched: its translation may stay, and does */
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x126000);
	/* CR4.PCIDE 1 -> 0 drops everything (SDM Vol. 3A 4.10.4.1) */
	regs.pcide = 0;
	regs.cr3 = cr3c;
	shadow_set_root(&mmu, &regs);
	assert_int_equal(scan_all(), 0);
}

/* Two CR3s under one PCID, both with roots: a flush of the PCID through one reaches the other,
 * even when the guest comes back to it with bit 63. */
static void test_pcid_flush_reaches_root_loaded_later_with_bit_63(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), user = 0x400000;
	map4(cr3a, user, 0x124000, 0, P | RW | US | D, P | RW | US);
	map4(cr3b, user, 0x125000, 0, P | RW | US | D, P | RW | US);
	uint64_t ra = load_pcid(cr3a, 1, 0);
	assert_int_equal(access(user, READ, 1), DONE);
	uint64_t rb = load_pcid(cr3b, 1, 1); /* a's root is not stale: b gets its own */
	assert_true(rb != ra);
	wr(entry4(cr3a, user, 0), 8, 0x126000 | P | RW | US | A | D); /* no invalidation */
	assert_int_equal(load_pcid(cr3b, 1, 0), rb); /* flushes PCID 1 */
	assert_int_equal(load_pcid(cr3a, 1, 1), ra);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x126000); /* not the kept 0x124000 */
}

/* A new CR3 under a PCID just flushed takes that PCID's root over, global translations and all;
 * a root of that PCID not flushed since it was used is never taken (bit 63 may come back to it). */
static void test_pcid_flushed_root_taken_over_by_new_cr3(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), cr3c = galloc(), user = 0x400000, kern = 0xFFFF800000000000ULL;
	map4(cr3a, kern, 0x123000, 0, P | RW | G | D, P | RW);
	map4(cr3a, user, 0x124000, 0, P | RW | US | D, P | RW | US);
	map4(cr3b, user, 0x125000, 0, P | RW | US | D, P | RW | US);
	map4(cr3c, user, 0x126000, 0, P | RW | US | D, P | RW | US);
	uint64_t ra = load_pcid(cr3a, 1, 0);
	assert_int_equal(access(kern, READ, 0), DONE);
	assert_int_equal(access(user, READ, 1), DONE);
	assert_int_equal(load_pcid(cr3b, 1, 0), ra); /* PCID 1 flushed: a's root serves b */
	assert_int_equal(leaf_of(kern, NULL) & ADDR, 0x123000);
	assert_int_equal(leaf_of(user, NULL), 0);
	assert_int_equal(access(user, READ, 1), DONE);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x125000);
	uint64_t rc = load_pcid(cr3c, 1, 1); /* bit 63: b's root is not stale, c gets its own */
	assert_true(rc != ra);
	assert_int_equal(load_pcid(cr3b, 1, 1), ra);
	assert_int_equal(leaf_of(user, NULL) & ADDR, 0x125000);
}

/* MOV CR3 drops what was filled since the last drop from the root's log, and keeps its tables;
 * past SHADOW_LOG_MAX fills it scans instead, with the same result. */
static void test_cr3_load_drops_every_filled_leaf_by_log_or_scan(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), kern = 0xFFFF800000000000ULL;
	unsigned counts[2] = { 10, SHADOW_LOG_MAX + 100 };
	map4(cr3, kern, 0x123000, 0, P | RW | G | D, P | RW);
	for (unsigned i = 0; i < counts[1]; i++)
		map4(cr3, 0x400000 + i * 4096ULL, 0x200000 + (i % 256) * 4096ULL, 0, P | RW | US | D, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(kern, READ, 0), DONE);
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned i = 0; i < counts[round]; i++)
			assert_int_equal(access(0x400000 + i * 4096ULL, i & 1 ? WRITE : READ, 1), DONE);
		unsigned in_use = mmu.stats.pages_in_use;
		assert_int_equal(scan_all(), counts[round] + 1);
		for (unsigned i = 0; i < counts[round]; i++) /* A clear: nothing to revalidate */
			wr(entry4(cr3, 0x400000 + i * 4096ULL, 0), 8, rd(entry4(cr3, 0x400000 + i * 4096ULL, 0), 8) & ~A);
		load(SHADOW_MODE_4LEVEL, cr3);
		assert_int_equal(scan_all(), 1); /* the global one */
		assert_int_equal(leaf_of(kern, NULL) & ADDR, 0x123000);
		if (round == 0)
			assert_int_equal(mmu.stats.pages_in_use, in_use); /* the tables stay for the refill */
	}
	shadow_flush(&mmu);
	assert_int_equal(mmu.stats.pages_in_use, 1); /* nothing lost track of */
}

/* A page the guest makes global after keel filled it as non-global (INVLPG between) keeps its
 * translation across MOV CR3 like any global one, though its entry is still in the root's log. */
static void test_page_made_global_survives_cr3_load(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0xFFFF800000000000ULL;
	uint64_t pte = map4(cr3, gva, 0x123000, 0, P | RW | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 0), DONE);
	wr(pte, 8, 0x123000 | P | RW | D | G);
	shadow_invlpg(&mmu, gva);
	assert_int_equal(access(gva, READ, 0), DONE);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_true(leaf_of(gva, NULL) & SWG);
}

/* MOV CR3 revalidates the leaves it drops (mm/shadow_inval.c): each logged leaf comes back at
 * once when the guest's current tables give it with A set at every level (and D for a writable
 * leaf), as the CPU could cache it after the flush; anything else stays empty until its fault.
 * No guest entry is changed, and a revalidated leaf is dropped by the next MOV CR3 like any. */
static void test_cr3_load_revalidates_logged_leaves_from_current_tables(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), u = 0x400000, kern = 0xFFFF800000001000ULL, big = 0x40000000;
	uint64_t up = P | RW | US, pte[8];
	for (unsigned k = 0; k < 8; k++) /* one per prefetch group: nothing prefetched */
		pte[k] = map4(cr3, (k == 6 ? 0x600000 : u) + k * 0x8000, 0x200000 + k * 0x1000, 0, P | RW | US, up);
	uint64_t kpte = map4(cr3, kern, 0x300000, 0, P | RW, P | RW);
	uint64_t lone = 0xA00000, lpte = map4(cr3, lone, 0x310000, 0, P | RW | US, up); /* its own table */
	uint64_t pde = map4(cr3, big, 0x800000, 1, P | RW, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	for (unsigned k = 0; k < 8; k++)
		assert_int_equal(access((k == 6 ? 0x600000 : u) + k * 0x8000, k == 1 ? READ : WRITE, 1), DONE);
	assert_int_equal(access(kern, READ, 0), DONE);
	assert_int_equal(access(big, WRITE, 0), DONE);
	assert_int_equal(access(lone, READ, 1), DONE);

	wr(lpte, 8, KEEL_BASE | P | RW | US | A | D);              /* keel's memory, walked from the top */
	wr(pte[2], 8, rd(pte[2], 8) & ~A);                        /* not used since: gone */
	wr(pte[3], 8, 0x130000 | P | RW | US | A | D);            /* changed, no INVLPG: the new one */
	wr(pte[4], 8, 0);                                         /* not present: gone */
	wr(pte[5], 8, KEEL_BASE | P | RW | US | A | D);           /* keel's memory: left to the fault */
	wr(entry4(cr3, 0x600000, 1), 8, rd(entry4(cr3, 0x600000, 1), 8) & ~A); /* upper A clear: gone */
	wr(pte[7], 8, rd(pte[7], 8) | G);                         /* global now: kept, not logged */
	wr(pde, 8, 0);
	map4(cr3, big, 0x123000, 0, P | RW | A | D, P | RW | A);  /* 2 MiB became 4 KiB: refault */
	unsigned cx = cmpxchg_calls;
	uint64_t before = mmu.stats.revalidated;
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(cmpxchg_calls, cx);
	assert_int_equal(leaf_of(u, NULL) & (ADDR | RW | US), 0x200000 | RW | US);
	assert_int_equal(leaf_of(u + 0x8000, NULL) & (ADDR | RW | US), 0x201000 | US); /* clean: read-only */
	assert_int_equal(leaf_of(u + 2 * 0x8000, NULL), 0);
	assert_int_equal(leaf_of(u + 3 * 0x8000, NULL) & ADDR, 0x130000);
	assert_int_equal(leaf_of(u + 4 * 0x8000, NULL), 0);
	assert_int_equal(leaf_of(u + 5 * 0x8000, NULL), 0);
	assert_int_equal(leaf_of(0x600000 + 6 * 0x8000, NULL), 0);
	assert_true(leaf_of(u + 7 * 0x8000, NULL) & SWG);
	assert_int_equal(leaf_of(kern, NULL) & (ADDR | RW | US), 0x300000); /* clean, supervisor */
	assert_int_equal(leaf_of(big, NULL), 0);
	assert_int_equal(leaf_of(lone, NULL), 0);
	assert_int_equal(mmu.stats.revalidated - before, 5);
	assert_int_equal(rd(kpte, 8) & D, 0);

	/* revalidated leaves are logged again: the next MOV CR3 drops what the tables no longer give,
	 * and what the CPU did not use since (A clear in keel's leaf: u + 0x8000) */
	assert_int_equal(access(u, READ, 1), DONE);
	assert_int_equal(access(kern, READ, 0), DONE);
	assert_int_equal(access(u + 3 * 0x8000, READ, 1), DONE);
	wr(pte[0], 8, 0);
	wr(kpte, 8, 0);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(leaf_of(u, NULL), 0);
	assert_int_equal(leaf_of(kern, NULL), 0);
	assert_int_equal(leaf_of(u + 0x8000, NULL), 0);
	assert_int_equal(leaf_of(u + 3 * 0x8000, NULL) & ADDR, 0x130000);
	assert_true(leaf_of(u + 7 * 0x8000, NULL) & SWG);
	shadow_flush(&mmu);
	assert_int_equal(mmu.stats.pages_in_use, 1);
}

/* A logged leaf is only revalidated as a leaf of its own level and guest page size: a split
 * piece whose guest page no longer needs splitting, and 2 MiB leaves whose guest page became a
 * 1 GiB one (whose pieces INVLPG finds by the size the PDPTE records at the fault), refault. */
static void test_cr3_load_revalidates_only_the_same_level_and_size(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), big = 0x40000000 + 12 * MiB, r = 0x80000000;
	uint64_t pde = map4(cr3, big, 12 * MiB, 1, P | RW | D, P | RW); /* keel inside: 4 KiB pieces */
	map4(cr3, r, 0x400000, 1, P | RW | D, P | RW);
	map4(cr3, r + 2 * MiB, 0x600000, 1, P | RW | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(big + 0x1000, READ, 0), DONE);
	assert_int_equal(access(r, READ, 0), DONE);
	assert_int_equal(access(r + 2 * MiB, READ, 0), DONE);
	uint64_t size;
	leaf_of(big + 0x1000, &size);
	assert_int_equal(size, 4096);
	wr(pde, 8, 16 * MiB | P | RW | A | D | PS);                       /* no keel there */
	wr(entry4(cr3, r, 2), 8, 0 | P | RW | A | D | PS);                /* 1 GiB over keel */
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(leaf_of(big + 0x1000, NULL), 0);
	assert_int_equal(leaf_of(r, NULL), 0);
	assert_int_equal(leaf_of(r + 2 * MiB, NULL), 0);
	assert_int_equal(access(big + 0x1000, READ, 0), DONE);
	assert_int_equal(leaf_of(big + 0x1000, &size) & ADDR, 16 * MiB);
	assert_int_equal(size, 2 * MiB);
}

/* Leaves revalidated one after the other from one guest page table (keel walks the levels above
 * it once per drop) take those levels' rights: read-only, supervisor-only, execute-disable. */
static void test_cr3_load_revalidation_takes_upper_level_rights(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), ro = 0x400000, sup = 1ULL << 39, nx = 2ULL << 39; /* a PML4E each */
	for (unsigned k = 0; k < 3; k++) {
		map4(cr3, ro + k * 0x8000, 0x200000 + k * 0x1000, 0, P | RW | US | A | D, P | US | A);
		map4(cr3, sup + k * 0x8000, 0x210000 + k * 0x1000, 0, P | RW | US | A | D, P | RW | A);
		map4(cr3, nx + k * 0x8000, 0x220000 + k * 0x1000, 0, P | RW | US | A | D, P | RW | US | A | XD);
	}
	load(SHADOW_MODE_4LEVEL, cr3);
	for (unsigned k = 0; k < 3; k++) /* one table after the other: logged in that order */
		assert_int_equal(access(ro + k * 0x8000, READ, 1), DONE);
	for (unsigned k = 0; k < 3; k++)
		assert_int_equal(access(sup + k * 0x8000, WRITE, 0), DONE);
	for (unsigned k = 0; k < 3; k++)
		assert_int_equal(access(nx + k * 0x8000, WRITE, 1), DONE);
	load(SHADOW_MODE_4LEVEL, cr3);
	for (unsigned k = 0; k < 3; k++) {
		assert_int_equal(leaf_of(ro + k * 0x8000, NULL) & (ADDR | RW | US | XD), (0x200000 + k * 0x1000) | US);
		assert_int_equal(leaf_of(sup + k * 0x8000, NULL) & (ADDR | RW | US | XD), (0x210000 + k * 0x1000) | RW);
		assert_int_equal(leaf_of(nx + k * 0x8000, NULL) & (ADDR | RW | US | XD),
				 (0x220000 + k * 0x1000) | RW | US | XD);
	}
}

/* The same in PAE paging (32-bit addresses, the PDPTEs from the registers) and in 32-bit paging
 * (4-byte entries, a 4 MiB page as two 2 MiB leaves). */
static void test_cr3_load_revalidates_pae_and_32bit(void **state)
{
	(void)state;
	regs.pdpte[0] = regs.pdpte[3] = 0;
	uint64_t a = map_pae(0xC0001000, 0x124000, 0, P | RW | D, P | RW);
	map_pae(0x1000, 0x125000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_PAE, 0x5000);
	assert_int_equal(access(0xC0001000, READ, 0), DONE);
	assert_int_equal(access(0x1000, READ, 1), DONE);
	wr(a, 8, 0);
	load(SHADOW_MODE_PAE, 0x5000);
	assert_int_equal(leaf_of(0xC0001000, NULL), 0);
	assert_int_equal(leaf_of(0x1000, NULL) & ADDR, 0x125000);

	uint64_t cr3 = galloc();
	uint64_t big = map32(cr3, 0x800000, 0x1400000, 1, P | RW | D, 0);
	map32(cr3, 0x401000, 0x126000, 0, P | RW | US, P | RW | US);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(access(0x800000, READ, 0), DONE);
	assert_int_equal(access(0xA00000, READ, 0), DONE);
	assert_int_equal(access(0x401000, READ, 1), DONE);
	load(SHADOW_MODE_32BIT, cr3);
	uint64_t size;
	assert_int_equal(leaf_of(0xA00000, &size) & ADDR, 0x1600000);
	assert_int_equal(size, 2 * MiB);
	assert_int_equal(leaf_of(0x401000, NULL) & ADDR, 0x126000);
	assert_int_equal(access(0x800000, READ, 0), DONE);
	assert_int_equal(access(0xA00000, READ, 0), DONE);
	assert_int_equal(access(0x401000, READ, 1), DONE);
	assert_int_equal(exits, 0);
	wr(big, 4, 0);
	load(SHADOW_MODE_32BIT, cr3);
	assert_int_equal(leaf_of(0x800000, NULL), 0);
	assert_int_equal(leaf_of(0xA00000, NULL), 0);
	assert_int_equal(leaf_of(0x401000, NULL) & ADDR, 0x126000);
}

/* INVLPG of a split large page frees the table of its pieces; the root's log then points into a
 * free page, which the next root takes as its top (the pool reuses the last page freed). The log
 * must not be used: it would clear that root's PML4 entry. */
static void test_log_not_used_after_a_table_of_the_root_is_freed(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), big = 0x40000000 + 12 * MiB, q = 1ULL << 39;
	map4(cr3a, big, 12 * MiB, 1, P | RW | D, P | RW); /* split: keel is inside */
	map4(cr3b, q, 0x124000, 0, P | RW | D, P | RW);
	load_pcid(cr3a, 1, 0);
	assert_int_equal(access(big + 0x1000, READ, 0), DONE); /* piece 1 of its 4 KiB table */
	shadow_invlpg(&mmu, big);
	load_pcid(cr3b, 2, 0);
	assert_int_equal(access(q, READ, 0), DONE); /* PML4 index 1 */
	load_pcid(cr3a, 1, 0);
	load_pcid(cr3b, 2, 1);
	assert_int_equal(leaf_of(q, NULL) & ADDR, 0x124000);
	shadow_flush(&mmu);
	assert_int_equal(mmu.stats.pages_in_use, 2); /* the two roots */
}

/* A logged 2 MiB leaf dropped by INVLPG and refilled as a table of 4 KiB leaves: the drop clears
 * the leaves and keeps the table pointer. */
static void test_logged_large_leaf_become_table_is_not_cleared(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x40000000;
	uint64_t pde = map4(cr3, gva, 0x400000, 1, P | RW | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, READ, 0), DONE);
	uint64_t size;
	leaf_of(gva, &size);
	assert_int_equal(size, 2 * MiB);
	wr(pde, 8, 0);
	shadow_invlpg(&mmu, gva);
	map4(cr3, gva, 0x123000, 0, P | RW | D, P | RW);
	assert_int_equal(access(gva, READ, 0), DONE);
	leaf_of(gva, &size);
	assert_int_equal(size, 4096);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(scan_all(), 1); /* the 4 KiB leaf, revalidated; the table pointer kept */
	assert_int_equal(leaf_of(gva, &size) & ADDR, 0x123000);
	assert_int_equal(size, 4096);
	shadow_flush(&mmu);
	assert_int_equal(mmu.stats.pages_in_use, 1);
}

static void test_control_change_flushes_every_root(void **state)
{
	(void)state;
	uint64_t cr3a = galloc(), cr3b = galloc(), kern = 0xFFFF800000000000ULL;
	map4(cr3a, kern, 0x123000, 0, P | RW | G | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3a);
	assert_int_equal(access(kern, READ, 0), DONE);
	load(SHADOW_MODE_4LEVEL, cr3b);
	regs.smep = 1; /* MOV CR4 changing SMEP: every translation goes (SDM Vol. 3A 4.10.4.1) */
	load(SHADOW_MODE_4LEVEL, cr3a);
	assert_int_equal(leaf_of(kern, NULL), 0);
	assert_int_equal(mmu.stats.flushes, 1);
}

static void test_least_recently_used_root_is_reused(void **state)
{
	(void)state;
	setup_mmu(64, 2);
	uint64_t cr3a = galloc(), cr3b = galloc(), cr3c = galloc();
	uint64_t ra = load(SHADOW_MODE_4LEVEL, cr3a);
	uint64_t rb = load(SHADOW_MODE_4LEVEL, cr3b);
	load(SHADOW_MODE_4LEVEL, cr3a); /* a is now more recent than b */
	load(SHADOW_MODE_4LEVEL, cr3c); /* takes b's slot */
	assert_int_equal(load(SHADOW_MODE_4LEVEL, cr3a), ra);
	assert_int_equal(mmu.stats.root_hits, 2);
	load(SHADOW_MODE_4LEVEL, cr3b); /* b again: a miss */
	assert_int_equal(mmu.stats.root_hits, 2);
	(void)rb;
}

static void test_tlb_requests(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000, g;
	map4(cr3, gva, 0x123000, 0, P | RW, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(shadow_tlb_take(&mmu, NULL), SHADOW_TLB_ALL); /* a new real CR3 */
	struct shadow_fault f;
	shadow_page_fault(&mmu, gva, 0, 0, 0, &f);
	assert_int_equal(f.kind, SHADOW_FILLED);
	assert_int_equal(shadow_tlb_take(&mmu, NULL), SHADOW_TLB_NONE); /* nothing was present */
	shadow_page_fault(&mmu, gva, PF_P | PF_W, 0, 0, &f);           /* clean -> dirty */
	assert_int_equal(f.kind, SHADOW_FILLED);
	assert_int_equal(shadow_tlb_take(&mmu, &g), SHADOW_TLB_ADDR);
	assert_int_equal(g, gva);
}

static void test_unexplained_fault_retried_once_then_reflected(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	map4(cr3, gva, 0x123000, 0, P | RW | US | D, P | RW | US);
	load(SHADOW_MODE_4LEVEL, cr3);
	assert_int_equal(access(gva, WRITE, 1), DONE);
	struct shadow_fault f;
	/* A protection-key fault: the hardware's own */
	shadow_page_fault(&mmu, gva, PF_P | PF_W | PF_U | 32, 3, 0, &f);
	assert_int_equal(f.kind, SHADOW_REFLECT);
	assert_int_equal(f.error, PF_P | PF_W | PF_U | 32);
	/* A fault the shadow already allows: a stale TLB entry first, then the CPU's word */
	shadow_page_fault(&mmu, gva, PF_P | PF_W | PF_U, 3, 0, &f);
	assert_int_equal(f.kind, SHADOW_FILLED);
	assert_int_equal(shadow_tlb_take(&mmu, NULL), SHADOW_TLB_ADDR);
	shadow_page_fault(&mmu, gva, PF_P | PF_W | PF_U, 3, 0, &f);
	assert_int_equal(f.kind, SHADOW_REFLECT);
	assert_int_equal(f.error, PF_P | PF_W | PF_U);
}

/* ---- the bounded pool ---- */

static void test_pool_exhaustion_reclaims_and_never_fails(void **state)
{
	(void)state;
	setup_mmu(SHADOW_POOL_MIN, 2);
	uint64_t cr3 = galloc(), cr3b = galloc();
	/* 200 pages in 200 different 1 GiB regions: each needs a PD and a PT of its own */
	for (unsigned i = 0; i < 200; i++)
		map4(cr3, (uint64_t)i << 30, 0x123000 + i * 4096ULL, 0, P | RW | D, P | RW);
	map4(cr3b, 0x400000, 0x123000, 0, P | RW | D, P | RW);
	load(SHADOW_MODE_4LEVEL, cr3b);
	assert_int_equal(access(0x400000, READ, 0), DONE);
	load(SHADOW_MODE_4LEVEL, cr3);
	for (unsigned round = 0; round < 2; round++)
		for (unsigned i = 0; i < 200; i++) {
			uint64_t gva = (uint64_t)i << 30;
			assert_int_equal(access(gva, i & 1 ? WRITE : READ, 0), DONE);
			assert_int_equal(leaf_of(gva, NULL) & ADDR, 0x123000 + i * 4096ULL);
			assert_true(mmu.stats.pages_in_use <= SHADOW_POOL_MIN);
		}
	assert_true(mmu.stats.reclaims >= 399);
	/* the other root went first */
	load(SHADOW_MODE_4LEVEL, cr3b);
	assert_int_equal(mmu.stats.root_hits, 0);
}

static void test_pool_exhaustion_with_many_roots(void **state)
{
	(void)state;
	setup_mmu(8, 4);
	for (unsigned i = 0; i < 50; i++) {
		uint64_t cr3 = galloc();
		map4(cr3, 0x400000 + i * 4096ULL, 0x123000, 0, P | RW | D, P | RW);
		map4(cr3, 0x7F0000000000ULL, 0x124000, 0, P | RW | D, P | RW);
		load(SHADOW_MODE_4LEVEL, cr3);
		assert_int_equal(access(0x400000 + i * 4096ULL, WRITE, 0), DONE);
		assert_int_equal(access(0x7F0000000000ULL, READ, 0), DONE);
		assert_true(mmu.stats.pages_in_use <= 8);
	}
	assert_true(mmu.stats.reclaims > 0);
}

static void test_shadow_init_refuses_bad_pools(void **state)
{
	(void)state;
	struct shadow_mmu m;
	memset(&m, 0, sizeof(m));
	m.alloc_page = pool_alloc;
	m.npages = SHADOW_POOL_MIN - 1;
	assert_int_equal(shadow_init(&m), -1);
	m.npages = 16;
	pool_limit = pool_next + 8; /* allocation fails half way */
	assert_int_equal(shadow_init(&m), -1);
}

/* ---- a guest that rewrites its own tables ---- */

static void test_guest_rewriting_its_tables_in_a_loop(void **state)
{
	(void)state;
	uint64_t cr3 = galloc(), gva = 0x400000;
	uint64_t pte = map4(cr3, gva, 0x100000, 0, P | RW | D, P | RW);
	uint64_t pde = entry4(cr3, gva, 1), pt2 = galloc();
	load(SHADOW_MODE_4LEVEL, cr3);
	for (unsigned i = 0; i < 1000; i++) {
		uint64_t frame = 0x200000 + (i % 300) * 4096ULL;
		switch (i % 3) {
		case 0: /* PTE rewritten, INVLPG */
			wr(pte, 8, frame | P | RW | D);
			shadow_invlpg(&mmu, gva);
			break;
		case 1: /* PDE switched to another table, CR3 reload */
			wr(pt2 + ((gva >> 12) & 511) * 8, 8, frame | P | RW | D);
			wr(pde, 8, pt2 | P | RW);
			load(SHADOW_MODE_4LEVEL, cr3);
			break;
		default: /* back to the first table, made a 2 MiB page then back, INVLPG */
			wr(pde, 8, 0x600000 | P | RW | PS | D);
			shadow_invlpg(&mmu, gva);
			assert_int_equal(access(gva + 0x3000, WRITE, 0), DONE);
			assert_int_equal(leaf_of(gva + 0x3000, NULL) & ADDR, 0x600000);
			wr(pde, 8, (pte & ~0xFFFULL) | P | RW);
			wr(pte, 8, frame | P | RW | D);
			shadow_invlpg(&mmu, gva);
			break;
		}
		assert_int_equal(access(gva, i & 1 ? WRITE : READ, 0), DONE);
		assert_int_equal(leaf_of(gva, NULL) & ADDR, frame);
	}
	assert_true(mmu.stats.pages_in_use <= 64);
}

#define T(f) cmocka_unit_test_setup(f, setup)

/* The same tests with every guest entry read through guest.read (no guest.page). */
static int setup_read_op(void **state)
{
	setup(state);
	use_page_op = 0;
	setup_mmu(64, 4);
	return 0;
}
#define TR(f) cmocka_unit_test_setup(f, setup_read_op)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_4level_4k_page_filled_on_demand),
		T(test_4level_high_half_address),
		T(test_pae_walk_uses_pdptes_from_regs),
		T(test_32bit_4k_page),
		T(test_32bit_4m_page_becomes_two_2m_pages_with_pse36),
		T(test_32bit_without_pse_ps_bit_is_ignored),
		T(test_unpaged_guest_is_identity),
		T(test_2m_page_mapped_by_2m_leaf),
		T(test_1g_page_mapped_by_1g_leaf),
		T(test_1g_page_over_keel_splits_to_2m_and_4k),
		T(test_1g_page_without_1g_support_is_reserved),
		T(test_2m_page_over_keel_splits_to_4k),
		T(test_write_trap_page_mapped_read_only_writes_reported),
		T(test_write_trap_page_guest_rules_first_no_prefetch),
		T(test_user_access_to_supervisor_page_reflects),
		T(test_read_only_upper_level_keeps_shadow_read_only),
		T(test_nx_at_any_level_with_nxe),
		T(test_xd_without_nxe_is_reserved),
		T(test_fetch_error_code_in_32bit_paging_has_no_i_without_smep),
		T(test_smep_blocks_supervisor_fetch_from_user_page),
		T(test_smap_blocks_supervisor_data_access_without_ac),
		T(test_smap_read_without_fetch_reporting_left_to_the_hardware),
		T(test_wp0_supervisor_write_to_read_only_page),
		T(test_wp1_supervisor_write_to_read_only_page_reflects),
		T(test_clean_page_read_only_until_first_write),
		T(test_dirty_page_writable_at_once),
		T(test_dirty_bit_on_large_page_leaf),
		T(test_changed_entry_restarts_walk),
		T(test_not_present_to_present_needs_no_invalidation),
		T(test_reserved_bits_reflect_rsvd),
		T(test_reserved_bits_pae_and_32bit),
		T(test_guest_mapping_of_keel_memory_sees_ones_then_sink),
		T(test_guest_table_in_keel_memory_reads_all_ones),
		T(test_canary_scan_over_every_guest_mapping_of_memory),
		T(test_invlpg_drops_exactly_that_translation),
		T(test_invlpg_drops_every_piece_of_a_split_large_page),
		T(test_invlpg_drops_both_halves_of_a_4m_page),
		T(test_invlpg_drops_global_translation_in_every_root),
		T(test_flush_drops_everything_global_too),
		T(test_cr3_switch_reuses_root_and_keeps_only_global_translations),
		T(test_prefetch_fills_used_neighbours_only),
		T(test_prefetch_takes_upper_level_rights),
		T(test_prefetch_32bit),
		T(test_pcid_no_flush_switch_keeps_translations),
		T(test_pcid_flush_reaches_every_root_of_that_pcid),
		T(test_pcid_flush_reaches_root_loaded_later_with_bit_63),
		T(test_pcid_flushed_root_taken_over_by_new_cr3),
		T(test_cr3_load_drops_every_filled_leaf_by_log_or_scan),
		T(test_page_made_global_survives_cr3_load),
		T(test_cr3_load_revalidates_logged_leaves_from_current_tables),
		T(test_cr3_load_revalidates_pae_and_32bit),
		T(test_cr3_load_revalidation_takes_upper_level_rights),
		T(test_cr3_load_revalidates_only_the_same_level_and_size),
		T(test_log_not_used_after_a_table_of_the_root_is_freed),
		T(test_logged_large_leaf_become_table_is_not_cleared),
		T(test_control_change_flushes_every_root),
		T(test_least_recently_used_root_is_reused),
		T(test_tlb_requests),
		T(test_unexplained_fault_retried_once_then_reflected),
		T(test_pool_exhaustion_reclaims_and_never_fails),
		T(test_pool_exhaustion_with_many_roots),
		T(test_shadow_init_refuses_bad_pools),
		T(test_guest_rewriting_its_tables_in_a_loop),
		TR(test_4level_4k_page_filled_on_demand),
		TR(test_32bit_4m_page_becomes_two_2m_pages_with_pse36),
		TR(test_guest_table_in_keel_memory_reads_all_ones),
		TR(test_reserved_bits_reflect_rsvd),
		TR(test_prefetch_fills_used_neighbours_only),
		TR(test_prefetch_32bit),
	};
	return cmocka_run_group_tests_name("shadow", tests, NULL, NULL);
}
