/* Guest memory accessed on the guest's behalf: a walk of the guest's page tables with the checks the
 * CPU makes, and copies in and out. VMX root, inside an exit handler. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../lib/string.h"
#include "../mm/phys.h"
#include "shadow_exit.h"
#include "vcpu.h"
#include "vmcs.h"

#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_PS BIT(7)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL
#define PF_P BIT(0) /* #PF error code (SDM Vol. 3A 4.7): protection, not "not present" */
#define PF_W BIT(1)
#define PF_U BIT(2)

/* Guest-physical memory keel may read or write for the guest (mm/ept.h). */
static int guest_phys_ok(uint64_t gpa, uint64_t len) { return ept_guest_mem_ok(&keel_vm.ept, gpa, len); }

/* Reads one paging-structure entry of size bytes at gpa; -1 where keel will not read. */
static int guest_entry(uint64_t gpa, unsigned size, uint64_t *e)
{
	if (!guest_phys_ok(gpa, size))
		return -1;
	*e = size == 8 ? *(const uint64_t *)phys_ptr(gpa) : *(const uint32_t *)phys_ptr(gpa);
	return 0;
}

/* What a walk needs from the guest's state, read once per copy: the guest's own CR0 and CR4 (under
 * shadow paging the real ones are keel's, vmm/shadow_exit.c; under EPT the paging bits are the
 * guest's in the VMCS, as vmx_write_cr_masks leaves them unmasked), CR3, and how it accesses. */
struct walk_ctx {
	struct vcpu *v;
	uint64_t cr0, cr4;
	int user, lma, smap;
};

static inline __attribute__((always_inline)) void walk_ctx_init(struct walk_ctx *c, struct vcpu *v)
{
	c->v = v;
	if (v->vm->shadow) {
		c->cr0 = cr_guest_view(vmcs_readnat(VMCS_GUEST_CR0), vmcs_readnat(VMCS_CR0_SHADOW),
				       vmcs_readnat(VMCS_CR0_MASK));
		c->cr4 = cr_guest_view(vmcs_readnat(VMCS_GUEST_CR4), vmcs_readnat(VMCS_CR4_SHADOW),
				       vmcs_readnat(VMCS_CR4_MASK));
	} else {
		c->cr0 = vmcs_readnat(VMCS_GUEST_CR0);
		c->cr4 = vmcs_readnat(VMCS_GUEST_CR4);
	}
	c->user = c->lma = c->smap = 0;
	if (!(c->cr0 & CR0_PG))
		return;
	c->user = vcpu_cpl() == 3;
	c->lma = !!(guest_efer() & EFER_LMA);
	c->smap = !c->user && (c->cr4 & CR4_SMAP) && !(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_AC);
}

/* The access check at the end of a walk, on what every level granted. */
static inline int walk_denies(const struct walk_ctx *c, uint64_t allow, int write)
{
	return (c->user && !(allow & PTE_US)) || ((allow & PTE_US) && c->smap) ||
	       (write && !(allow & PTE_RW) && (c->user || (c->cr0 & CR0_WP)));
}

/* The walk cache (struct guest_walk_cache) answers for gva when the same tables are in use and
 * every entry it read still holds what it read: then a walk would read exactly those entries. */
static int walk_cached(const struct guest_walk_cache *w, uint64_t cr3, uint64_t gva)
{
	if (!w->levels || w->vpn != gva >> 12 || w->cr3 != cr3)
		return 0;
	for (unsigned i = 0; i < w->levels; i++)
		if (*(const uint64_t *)phys_ptr(w->at[i]) != w->e[i])
			return 0;
	return 1;
}

/* guest_translate's 4-level (IA-32e) walk, the one 64-bit guests take on every exit that touches
 * their memory: 1 GiB pages at the PDPTE, 2 MiB at the PDE. A successful walk fills the vCPU's
 * walk cache; *page_ok then says whether the whole 4 KiB frame may be touched. */
static int walk_ia32e(const struct walk_ctx *c, uint64_t cr3, uint64_t gva, int write, uint32_t err, uint64_t *gpa,
		      uint32_t *pf_error, int *page_ok)
{
	struct guest_walk_cache *w = &c->v->walk;
	uint64_t table = cr3 & PTE_ADDR, allow = PTE_RW | PTE_US, e;
	unsigned shift = 39, n = 0;
	w->levels = 0;
	for (;;) {
		uint64_t at = table | ((gva >> shift) & 511) << 3;
		if (!guest_phys_ok(at, 8))
			return GUEST_REFUSED;
		e = *(const uint64_t *)phys_ptr(at);
		if (!(e & PTE_P)) {
			*pf_error = err;
			return GUEST_PAGE_FAULT;
		}
		w->at[n] = at;
		w->e[n++] = e;
		allow &= e;
		if (shift == 12 || (shift <= 30 && (e & PTE_PS)))
			break;
		table = e & PTE_ADDR;
		shift -= 9;
	}
	if (walk_denies(c, allow, write)) {
		*pf_error = err | PF_P;
		return GUEST_PAGE_FAULT;
	}
	uint64_t offset = (1ULL << shift) - 1;
	*gpa = (e & PTE_ADDR & ~offset) | (gva & offset);
	*page_ok = guest_phys_ok(*gpa & ~0xFFFULL, 4096);
	w->cr3 = cr3 & PTE_ADDR;
	w->vpn = gva >> 12;
	w->allow = allow;
	w->gpa_page = *gpa & ~0xFFFULL;
	w->page_ok = *page_ok;
	w->levels = n; /* last: the entry is complete */
	return 0;
}

/*
 * Guest-virtual to guest-physical through the guest's page tables (identity without paging):
 * 4-level (IA-32e), PAE (its four PDPTEs from the VMCS, where VM exits save them with EPT on) or
 * 32-bit paging (4 MiB pages with CR4.PSE, PSE-36 address bits). The access, a data access at the
 * guest's CPL, is checked as the CPU checks it: present; writable (for supervisor writes only with
 * CR0.WP); user-accessible at CPL 3; and SMAP for supervisor accesses to user pages without
 * RFLAGS.AC. Guest-physical equals host-physical under keel's identity EPT. Returns 0,
 * GUEST_PAGE_FAULT with *pf_error, or GUEST_REFUSED (a table keel will not read: its own memory,
 * beyond the EPT map; 5-level paging, not walked).
 */
static int guest_translate(const struct walk_ctx *c, uint64_t gva, int write, uint64_t *gpa, uint32_t *pf_error,
			   int *page_ok)
{
	*page_ok = -1; /* not known: the caller checks */
	uint64_t cr0 = c->cr0, cr4 = c->cr4;
	if (!(cr0 & CR0_PG)) {
		*gpa = gva & 0xFFFFFFFF;
		return 0;
	}
	if (cr4 & CR4_LA57)
		return GUEST_REFUSED;
	int user = c->user;
	uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0);
	uint64_t allow = PTE_RW | PTE_US, table = vcpu_guest_cr3(c->v), e;
	if (c->lma)
		return walk_ia32e(c, table, gva, write, err, gpa, pf_error, page_ok);
	/* Outside IA-32e mode: PAE (two levels below the PDPTE registers) or 32-bit paging (two). */
	unsigned size = 8, bits = 9; /* entry size and index bits per level */
	int level = 1;
	gva &= 0xFFFFFFFF;
	if (cr4 & CR4_PAE) {
		/* PDPTE registers: no R/W or U/S bits of their own */
		e = vcpu_guest_pdpte(c->v, (unsigned)(gva >> 30) & 3);
		if (!(e & PTE_P)) {
			*pf_error = err;
			return GUEST_PAGE_FAULT;
		}
		table = e;
	} else {
		size = 4;
		bits = 10;
	}
	for (table &= PTE_ADDR & (size == 4 ? 0xFFFFF000 : ~0ULL);; table = e & PTE_ADDR) {
		unsigned shift = 12 + bits * (unsigned)level;
		if (guest_entry(table + ((gva >> shift) & ((1u << bits) - 1)) * size, size, &e))
			return GUEST_REFUSED;
		if (!(e & PTE_P)) {
			*pf_error = err;
			return GUEST_PAGE_FAULT;
		}
		allow &= e; /* R/W and U/S hold only when every level grants them */
		int large = level > 0 && (e & PTE_PS) && (size == 8 || (cr4 & CR4_PSE));
		if (level > 0 && !large) {
			level--;
			continue;
		}
		if (walk_denies(c, allow, write)) {
			*pf_error = err | PF_P;
			return GUEST_PAGE_FAULT;
		}
		uint64_t page = 1ULL << shift, base = e & PTE_ADDR & ~(page - 1);
		if (size == 4) /* 32-bit entries: bits 31:12 (31:22 for 4 MiB pages, PSE-36 bits 20:13) */
			base = large ? (e & 0xFFC00000) | ((e >> 13) & 0xFF) << 32 : e & 0xFFFFF000;
		*gpa = base | (gva & (page - 1));
		return 0;
	}
}

/* n <= 16 bytes in moves, no call (most copies here are that small: descriptor-table operands,
 * string I/O elements, selectors). */
static inline __attribute__((always_inline)) void copy_small(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (n >= 8) {
		uint64_t a, b;
		__builtin_memcpy(&a, src, 8);
		__builtin_memcpy(&b, src + n - 8, 8);
		__builtin_memcpy(dst, &a, 8);
		__builtin_memcpy(dst + n - 8, &b, 8);
	} else {
		for (size_t i = 0; i < n; i++)
			dst[i] = src[i];
	}
}

/* The walk cache holds gva's 4 KiB page for this access: an IA-32e walk whose entries still hold
 * what it read, the whole page keel's to touch, and the access allowed at the CPL. */
static inline __attribute__((always_inline)) int walk_hit(const struct walk_ctx *c, uint64_t gva, int write)
{
	const struct guest_walk_cache *w = &c->v->walk;
	return c->lma && !(c->cr4 & CR4_LA57) && w->page_ok && walk_cached(w, vcpu_guest_cr3(c->v) & PTE_ADDR, gva) &&
	       !walk_denies(c, w->allow, write);
}

/* The copy page by page, each page walked (vcpu_copy_guest's arguments, so that it is reached by a
 * jump). */
static __attribute__((noinline)) int copy_walked(struct vcpu *v, uint64_t gva, void *buf, size_t len, int write,
						 struct guest_fault *pf)
{
	struct walk_ctx c;
	uint8_t *p = buf;
	walk_ctx_init(&c, v ? v : vcpu_in_root());
	while (len) {
		uint64_t gpa;
		size_t chunk = 4096 - (gva & 4095);
		uint32_t err = 0;
		int page_ok;
		if (chunk > len)
			chunk = len;
		int rc = guest_translate(&c, gva, write, &gpa, &err, &page_ok);
		if (rc == GUEST_PAGE_FAULT && pf)
			*pf = (struct guest_fault){ gva, err };
		if (rc)
			return rc;
		if (page_ok < 0)
			page_ok = guest_phys_ok(gpa & ~0xFFFULL, 4096);
		/* The whole page is keel's to touch (the common case), or at least the chunk. */
		if (!page_ok && !guest_phys_ok(gpa, chunk))
			return GUEST_REFUSED;
		if (write)
			memcpy(phys_ptr(gpa), p, chunk);
		else
			memcpy(p, phys_ptr(gpa), chunk);
		p += chunk;
		gva += chunk;
		len -= chunk;
	}
	return 0;
}

int vcpu_copy_guest(struct vcpu *v, uint64_t gva, void *buf, size_t len, int write, struct guest_fault *pf)
{
	struct walk_ctx c;
	walk_ctx_init(&c, v ? v : vcpu_in_root());
	/* The common case first, without the walk or the loop: up to 16 bytes in one page the walk
	 * cache holds. Anything else starts again in copy_walked. */
	if (len && len <= 16 && len <= 4096 - (gva & 4095) && walk_hit(&c, gva, write)) {
		uint8_t *g = phys_ptr(c.v->walk.gpa_page | (gva & 0xFFF));
		if (write)
			copy_small(g, buf, len);
		else
			copy_small(buf, g, len);
		return 0;
	}
	return copy_walked(v, gva, buf, len, write, pf);
}

int vcpu_guest_page(struct vcpu *v, uint64_t gva, int write, uint8_t **page, struct guest_fault *pf)
{
	struct walk_ctx c;
	walk_ctx_init(&c, v ? v : vcpu_in_root());
	if (walk_hit(&c, gva, write)) {
		*page = phys_ptr(c.v->walk.gpa_page);
		return 0;
	}
	uint64_t gpa;
	uint32_t err = 0;
	int page_ok;
	int rc = guest_translate(&c, gva, write, &gpa, &err, &page_ok);
	if (rc == GUEST_PAGE_FAULT)
		*pf = (struct guest_fault){ gva, err };
	if (rc)
		return rc;
	if (page_ok < 0)
		page_ok = guest_phys_ok(gpa & ~0xFFFULL, 4096);
	if (!page_ok)
		return GUEST_REFUSED;
	*page = phys_ptr(gpa & ~0xFFFULL);
	return 0;
}

int vcpu_read_guest(struct vcpu *v, uint64_t gva, void *buf, size_t len)
{
	return vcpu_copy_guest(v, gva, buf, len, 0, 0) ? -1 : 0;
}

void vcpu_inject_page_fault(struct vcpu *v, const struct guest_fault *pf)
{
	/* CR2 is not switched by VM entry or exit: what root leaves in it, the guest sees. */
	write_cr2(pf->addr);
	vcpu_inject_exception(v, VEC_PF, 1, pf->error);
}

int vcpu_read_guest_phys(uint64_t gpa, void *buf, size_t len)
{
	if (!guest_phys_ok(gpa, len))
		return GUEST_REFUSED;
	memcpy(buf, phys_ptr(gpa), len);
	return 0;
}
