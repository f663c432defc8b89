/* Shadow paging on the exit path (mmu=shadow): #PF, MOV CR3, INVLPG and paging-control exits
 * handed to mm/shadow.c, and its TLB requests before each VM entry. VMX root. */
#include "shadow_exit.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "../lib/string.h"
#include "../mm/ept.h"
#include "../mm/phys.h"
#include "../mm/pool.h"
#include "../mm/shadow.h"
#include "handlers.h"
#include "sipi.h"
#include "vmcs.h"

/*
 * Where the registers live in shadow mode (no EPT, no unrestricted guest; docs/memory-
 * virtualization.md):
 *
 *   register   real (VMCS guest field)                     guest's view
 *   CR0        guest's | PE | PG | WP (| VMX fixed bits)   CR0 read shadow (mask owns PE, PG, WP)
 *   CR4        guest's | PAE | VMXE, PCIDE and LA57 clear  CR4 read shadow (mask owns PAE, PSE, PGE,
 *                                                          SMEP, SMAP, PCIDE)
 *   CR3        the shadow root (mm/shadow.c)               v->guest_cr3 (with the PCID in 11:0 under
 *                                                          PCIDE), through CR3-store exiting
 *   PDPTEs     loaded by VM entry from the shadow root     v->guest_pdpte, read at the guest's CR3
 *   EFER       the guest's own (NXE, LMA as it set them)   the same
 *
 * The real SMEP, SMAP, NXE and RFLAGS.AC are the guest's, so the CPU makes those checks on the
 * shadow tables; WP is always 1 so keel's own read-only leaves hold (mm/shadow.c, "Permissions").
 */

_Static_assert(sizeof(struct shadow_mmu) <= 4096, "struct shadow_mmu fits the page it gets");

#define SHADOW_EFER_BITS (EFER_NXE | EFER_LMA)

/* ---- guest-physical memory for the walk ---- */

static int shadow_guest_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *val)
{
	(void)opaque;
	*val = 0;
	return vcpu_read_guest_phys(gpa, val, size) ? -1 : 0;
}

/* The CPU sets A and D with a locked operation (SDM Vol. 3A 4.8): so does keel, against the
 * guest's other CPUs. */
static int shadow_guest_cmpxchg(void *opaque, uint64_t gpa, unsigned size, uint64_t old, uint64_t new_val)
{
	uint64_t probe;
	(void)opaque;
	if (vcpu_read_guest_phys(gpa, &probe, size))
		return -1;
	if (size == 4) {
		uint32_t expect = (uint32_t)old;
		return __atomic_compare_exchange_n((uint32_t *)phys_ptr(gpa), &expect, (uint32_t)new_val, 0,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 0 : 1;
	}
	uint64_t expect = old;
	return __atomic_compare_exchange_n((uint64_t *)phys_ptr(gpa), &expect, new_val, 0, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST) ? 0 : 1;
}

/* The walk's direct reads: a page keel may read whole, by the test every guest-memory access keel
 * makes for the guest passes (ept_guest_mem_ok). */
static const volatile void *shadow_guest_page(void *opaque, uint64_t gpa)
{
	return ept_guest_mem_ok(&((const struct vcpu *)opaque)->vm->ept, gpa, 4096) ? phys_ptr(gpa) : 0;
}

static void *shadow_alloc_page(void) { return pool_alloc_pages(1); }

int shadow_vcpu_init(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct shadow_mmu *s = pool_alloc_pages(1);
	if (!s)
		return -1;
	s->alloc_page = shadow_alloc_page;
	s->npages = SHADOW_VCPU_PAGES;
	s->phys_bits = vm->caps.max_phys_bits;
	s->has_1g = !!(vm->caps.cpuid81_edx & CPUID81_EDX_PAGE1GB);
	s->ones_page = (uint64_t)(uintptr_t)vm->ones_page;
	s->sink_page = (uint64_t)(uintptr_t)vm->sink_page;
	s->guest.read = shadow_guest_read;
	s->guest.cmpxchg = shadow_guest_cmpxchg;
	s->guest.page = shadow_guest_page;
	s->guest.opaque = v;
	s->write_trap = vm->apic_page; /* ICR writes reach keel on shadow tables too (vmm/sipi.c) */
	if (shadow_init(s))
		return -1;
	v->shadow_mmu = v->shadow = s;
	return 0;
}

/* ---- the guest's paging state ---- */

static uint64_t guest_cr0(void)
{
	return cr_guest_view(vmcs_readnat(VMCS_GUEST_CR0), vmcs_readnat(VMCS_CR0_SHADOW), vmcs_readnat(VMCS_CR0_MASK));
}

static uint64_t guest_cr4(void)
{
	return cr_guest_view(vmcs_readnat(VMCS_GUEST_CR4), vmcs_readnat(VMCS_CR4_SHADOW), vmcs_readnat(VMCS_CR4_MASK));
}

static uint64_t shadow_real_cr0(const struct vcpu *v, uint64_t guest)
{
	return (guest | v->cr0_fixed0 | CR0_PE | CR0_PG | CR0_WP) & v->cr0_fixed1;
}

static uint64_t shadow_real_cr4(const struct vcpu *v, uint64_t guest)
{
	return ((guest | v->cr4_fixed0 | CR4_PAE) & ~(CR4_PCIDE | CR4_LA57) & v->cr4_fixed1) | CR4_VMXE;
}

uint64_t vcpu_guest_pdpte(const struct vcpu *v, unsigned i)
{
	return v && v->shadow ? v->guest_pdpte[i & 3] : vmcs_read_raw(VMCS_GUEST_PDPTE0 + 2 * (i & 3));
}

/* The mode from the guest's CR0.PG, CR4.PAE and EFER.LMA (SDM Vol. 3A 4.1.1). */
static void shadow_regs_read(const struct vcpu *v, struct shadow_regs *r)
{
	uint64_t cr0 = guest_cr0(), cr4 = guest_cr4(), efer = guest_efer();
	r->mode = !(cr0 & CR0_PG)    ? SHADOW_MODE_UNPAGED
		  : (efer & EFER_LMA) ? SHADOW_MODE_4LEVEL
		  : (cr4 & CR4_PAE)   ? SHADOW_MODE_PAE
				      : SHADOW_MODE_32BIT;
	r->cr3 = v->guest_cr3;
	memcpy(r->pdpte, v->guest_pdpte, sizeof(r->pdpte));
	r->wp = !!(cr0 & CR0_WP);
	r->pse = !!(cr4 & CR4_PSE);
	r->pge = !!(cr4 & CR4_PGE);
	r->smep = !!(cr4 & CR4_SMEP);
	r->smap = !!(cr4 & CR4_SMAP);
	r->nxe = !!(efer & EFER_NXE);
	r->pcide = !!(cr4 & CR4_PCIDE);
}

/* keep: MOV CR3 with bit 63 under CR4.PCIDE, which need not drop the PCID's translations. */
static void load_root(struct vcpu *v, int keep)
{
	struct shadow_regs r;
	shadow_regs_read(v, &r);
	uint64_t root = keep ? shadow_switch_root(v->shadow, &r) : shadow_set_root(v->shadow, &r);
	if (!root)
		vcpu_stop(v, "the shadow MMU's pool is corrupt (no root page)");
	vmcs_writenat(VMCS_GUEST_CR3, root);
	v->shadow_efer = guest_efer() & SHADOW_EFER_BITS;
}

void shadow_load_root(struct vcpu *v) { load_root(v, 0); }

/*
 * EFER is the guest's own (loaded and saved by VM entry and exit, no WRMSR exit), so a change of
 * NXE reaches keel late: at the next shadow exit, which compares it with the value of the last
 * root. Until then the shadow leaves keep their old XD bits; a leaf with XD after NXE went to 0
 * sets a reserved bit, and that #PF exit lands here first.
 */
static void shadow_sync_efer(struct vcpu *v)
{
	if ((guest_efer() & SHADOW_EFER_BITS) != v->shadow_efer)
		shadow_load_root(v);
}

/* PAE paging outside IA-32e mode: the four PDPTEs a CR3 load reads (SDM Vol. 3A 4.4.1). -1 when
 * one sets a reserved bit or cr3 points where keel will not read (MOV CR3 then raises #GP). */
static int shadow_read_pdptes(struct vcpu *v, uint64_t cr3, uint64_t pdpte[4])
{
	if (vcpu_read_guest_phys(cr3 & 0xFFFFFFE0, pdpte, 4 * sizeof(uint64_t)) ||
	    pae_pdptes_invalid(pdpte, v->vm->caps.max_phys_bits))
		return -1;
	return 0;
}

static void phase_to_ept(struct vcpu *v);

void shadow_vcpu_launch_state(struct vcpu *v)
{
	uint64_t cr0 = vmcs_readnat(VMCS_GUEST_CR0), cr4 = vmcs_readnat(VMCS_GUEST_CR4);
	v->guest_cr3 = vmcs_readnat(VMCS_GUEST_CR3);
	vmcs_writenat(VMCS_CR0_SHADOW, cr0);
	vmcs_writenat(VMCS_CR4_SHADOW, cr4 & ~CR4_VMXE);
	if (pae_paging_active(cr0, cr4, guest_efer()) &&
	    shadow_read_pdptes(v, v->guest_cr3, v->guest_pdpte))
		memset(v->guest_pdpte, 0, sizeof(v->guest_pdpte));
	vmcs_writenat(VMCS_GUEST_CR0, shadow_real_cr0(v, cr0));
	vmcs_writenat(VMCS_GUEST_CR4, shadow_real_cr4(v, cr4 & ~CR4_VMXE));
	if (shadow_phase_for(cr0, guest_efer(), v->vm->unpaged_ept) == SHADOW_PHASE_EPT)
		phase_to_ept(v); /* a guest that does not page (never at keel's own launch) */
	else
		shadow_load_root(v);
}

/* ---- the exits ---- */

void shadow_cr3_exit(struct vcpu *v, struct guest_regs *r, unsigned type, unsigned gpr)
{
	int mode64 = !!(vmcs_read32(VMCS_GUEST_CS_AR) & AR_L) && (guest_efer() & EFER_LMA);

	shadow_sync_efer(v);
	if (type == CRQ_TYPE_MOV_FROM) {
		if (gpr == GPR_RSP)
			vmcs_writenat(VMCS_GUEST_RSP, v->guest_cr3);
		else
			r->gpr[gpr] = v->guest_cr3;
		vcpu_skip_instruction(v);
		return;
	}
	uint64_t val = gpr == GPR_RSP ? vmcs_readnat(VMCS_GUEST_RSP) : r->gpr[gpr], pdpte[4];
	if (!mode64)
		val &= 0xFFFFFFFF; /* outside 64-bit mode MOV CR3 takes a 32-bit register */
	/* With CR4.PCIDE, bit 63 asks to keep the new PCID's translations and is not stored; without
	 * it bit 63 is reserved (#GP) like the others above MAXPHYADDR (SDM Vol. 3A 4.10.4.1, 2.5). */
	int pcide = !!(guest_cr4() & CR4_PCIDE), keep = pcide && (val >> 63);
	if (pcide)
		val &= ~BIT(63);
	if (val >> v->vm->caps.max_phys_bits) {
		vcpu_inject_gp(v);
		return;
	}
	if (pae_paging_active(guest_cr0(), guest_cr4(), guest_efer())) {
		if (shadow_read_pdptes(v, val, pdpte)) {
			vcpu_inject_gp(v);
			return;
		}
		memcpy(v->guest_pdpte, pdpte, sizeof(pdpte));
	}
	v->guest_cr3 = val;
	load_root(v, keep); /* drops the PCID's non-global translations unless keep (SDM Vol. 3A 4.10.4.1) */
	vcpu_skip_instruction(v);
}

void shadow_task_cr3(struct vcpu *v, uint64_t cr3, const uint64_t *pdpte)
{
	v->guest_cr3 = cr3;
	if (pdpte)
		memcpy(v->guest_pdpte, pdpte, sizeof(v->guest_pdpte));
	shadow_load_root(v);
}

/* ---- phases: shadow tables while the guest pages, the EPT while it does not ---- */

enum shadow_phase shadow_phase_for(uint64_t cr0, uint64_t efer, int unpaged_ept)
{
	if (cr0 & CR0_PG)
		return SHADOW_PHASE_TABLES;
	if (unpaged_ept)
		return SHADOW_PHASE_EPT;
	/* VM entry without unrestricted guest needs real PE = PG = 1 (CR0_FIXED0), and a real CR0.PG
	 * = 1 needs EFER.LMA = LME (SDM Vol. 3C 26.3.1.1): real mode and a paging-off long-mode
	 * switch are phases keel cannot run there. PE = 1 alone runs on PAE tables that map linear =
	 * physical (SHADOW_MODE_UNPAGED). */
	if (!(cr0 & CR0_PE))
		return SHADOW_PHASE_NO_REAL_MODE;
	if (efer & EFER_LME)
		return SHADOW_PHASE_NO_LONG_UNPAGED;
	return SHADOW_PHASE_TABLES;
}

/* The unpaged phase's real CR0 and CR4 are the guest's with the bits VMX fixes (unrestricted
 * guest frees PE and PG), as under mmu=ept; the masks stay shadow mode's, so the guest's next
 * change of PG exits. */
static uint64_t ept_real_cr0(const struct vcpu *v, uint64_t guest)
{
	return (guest | (v->cr0_fixed0 & ~(CR0_PE | CR0_PG))) & v->cr0_fixed1;
}

static uint64_t ept_real_cr4(const struct vcpu *v, uint64_t guest) { return guest | v->cr4_fixed0 | CR4_VMXE; }

int shadow_cr_write(struct vcpu *v, struct cr_state *s)
{
	uint64_t cr0 = s->cr0_shadow, cr4 = s->cr4_shadow;

	if (cr4 & CR4_LA57)
		return 1; /* CPUID hides LA57 in shadow mode: a reserved bit (5-level is not shadowed) */
	switch (shadow_phase_for(cr0, s->efer, v->vm->unpaged_ept)) {
	case SHADOW_PHASE_NO_REAL_MODE: /* refused by name rather than run wrongly */
		vcpu_stop(v, "the guest entered real mode (CR0.PE = 0): mmu=shadow without unrestricted guest "
			     "cannot run it (docs/memory-virtualization.md)");
	case SHADOW_PHASE_NO_LONG_UNPAGED:
		vcpu_stop(v, "the guest turned paging off with EFER.LME set: mmu=shadow cannot run that phase "
			     "without unrestricted guest (docs/memory-virtualization.md)");
	case SHADOW_PHASE_EPT:
		s->cr0 = ept_real_cr0(v, cr0);
		s->cr4 = ept_real_cr4(v, cr4);
		return 0;
	case SHADOW_PHASE_TABLES:
		break;
	}
	s->cr0 = shadow_real_cr0(v, cr0);
	s->cr4 = shadow_real_cr4(v, cr4);
	return 0;
}

/* Paging went off: EPT mode's controls, the guest's CR3 in the real one, no shadow MMU in use
 * (v->shadow NULL sends every exit handler down its EPT-mode path). */
static void phase_to_ept(struct vcpu *v)
{
	struct vm *vm = v->vm;
	vmcs_write32(VMCS_PROC_CONTROLS, vmcs_read32(VMCS_PROC_CONTROLS) & ~vm->proc_paging);
	vmcs_write32(VMCS_PROC2_CONTROLS, vmcs_read32(VMCS_PROC2_CONTROLS) | vm->proc2_unpaged);
	vmcs_writenat(VMCS_GUEST_CR0, ept_real_cr0(v, guest_cr0())); /* as shadow_cr_write left them */
	vmcs_writenat(VMCS_GUEST_CR4, ept_real_cr4(v, guest_cr4()));
	vmcs_writenat(VMCS_GUEST_CR3, v->guest_cr3);
	v->shadow = 0;
	/* The linear translations made on the shadow tables: the CPU would not use them with EPT on
	 * (SDM Vol. 3C 29.4.2), and flushing costs one INVVPID per switch. */
	vcpu_flush_vpid(v);
	if (!v->unpaged_logged++)
		log_info("keel: cpu%u: guest paging off (CR0 0x%llx): runs on the EPT until it sets CR0.PG", v->index,
			 (unsigned long long)guest_cr0());
}

/* Paging went on: shadow mode's controls, the guest's CR3 kept by keel, a shadow root in the real
 * one (every translation dropped: the guest's tables may have changed while it did not page). */
static void phase_to_tables(struct vcpu *v)
{
	struct vm *vm = v->vm;
	vmcs_write32(VMCS_PROC_CONTROLS, vmcs_read32(VMCS_PROC_CONTROLS) | vm->proc_paging);
	vmcs_write32(VMCS_PROC2_CONTROLS, vmcs_read32(VMCS_PROC2_CONTROLS) & ~vm->proc2_unpaged);
	vmcs_writenat(VMCS_GUEST_CR0, shadow_real_cr0(v, guest_cr0()));
	vmcs_writenat(VMCS_GUEST_CR4, shadow_real_cr4(v, guest_cr4()));
	v->guest_cr3 = vmcs_readnat(VMCS_GUEST_CR3);
	v->shadow = v->shadow_mmu;
	vcpu_flush_vpid(v);
	shadow_load_root(v);
	if (!v->paged_logged++)
		log_info("keel: cpu%u: guest paging on (CR0 0x%llx, CR3 0x%llx): back on its shadow tables", v->index,
			 (unsigned long long)guest_cr0(), (unsigned long long)v->guest_cr3);
}

void shadow_paging_update(struct vcpu *v)
{
	int ept = shadow_phase_for(guest_cr0(), guest_efer(), v->vm->unpaged_ept) == SHADOW_PHASE_EPT;
	if (ept && v->shadow)
		phase_to_ept(v);
	else if (!ept && !v->shadow)
		phase_to_tables(v);
	else if (v->shadow)
		shadow_load_root(v); /* a paging control changed: new shadow root, every translation gone */
	else
		vcpu_flush_vpid(v);
}

/* A #PF that the CPU met while it delivered another event (IDT-vectoring information valid, SDM
 * Vol. 3C 27.2.4) and that is the guest's: what the CPU would have done with the two (SDM Vol.
 * 3A table 6-5). */
static void shadow_reflect_during_delivery(struct vcpu *v, uint32_t idt, const struct guest_fault *pf)
{
	unsigned vec = INTR_INFO_VECTOR(idt), type = INTR_INFO_TYPE(idt);
	int exc = type == INTR_TYPE_HW_EXCEPTION;
	if (exc && vec == VEC_DF)
		vcpu_stop(v, "the guest triple-faulted (a #PF while delivering #DF; a real CPU would shut down)");
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0); /* the event exit_slow queued again is superseded */
	write_cr2(pf->addr);
	if (exc && (vec == VEC_PF || vec == 0 || (vec >= 10 && vec <= 13)))
		vcpu_inject_exception(v, VEC_DF, 1, 0);
	else
		vcpu_inject_exception(v, VEC_PF, 1, pf->error);
}

void shadow_exit_page_fault(struct vcpu *v, uint64_t gva, uint32_t error)
{
	struct shadow_fault f;

	shadow_sync_efer(v);
	shadow_page_fault(v->shadow, gva, error, vcpu_cpl(), !!(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_AC), &f);
	if (f.kind == SHADOW_FILLED)
		return; /* retried at the same RIP; an event being delivered was queued again (exit_slow) */
	if (f.kind == SHADOW_WRITE_TRAP) {
		if (!v->apic_trap_logged++)
			log_info("keel: cpu%u: guest write to the xAPIC page (GPA 0x%llx) on shadow tables: emulated",
				 v->index, (unsigned long long)f.gpa);
		sipi_exit_apic_write(v, v->regs, f.gpa); /* the xAPIC page, as its EPT violation would */
		return;
	}
	struct guest_fault pf = { f.cr2, f.error };
	uint32_t idt = vmcs_read32(VMCS_IDT_VECTORING_INFO);
	if (idt & INTR_INFO_VALID)
		shadow_reflect_during_delivery(v, idt, &pf);
	else
		vcpu_inject_page_fault(v, &pf);
}

/* INVLPG m (INVLPG exiting): the exit qualification is the linear address (SDM Vol. 3C table
 * 28-1). Under EPT the trap=invlpg class's handler. */
void shadow_exit_invlpg(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	if (!v->shadow) {
		tlb_exit_invlpg(v, r, e);
		return;
	}
	if (vcpu_cpl() != 0) {
		vcpu_inject_gp(v);
		return;
	}
	shadow_sync_efer(v);
	shadow_invlpg(v->shadow, e->qualification);
	vcpu_skip_instruction(v);
}

void shadow_write_trap_lift(struct vcpu *v)
{
	if (!v->shadow_mmu || !v->shadow_mmu->write_trap)
		return;
	v->shadow_mmu->write_trap = 0;
	shadow_flush(v->shadow_mmu); /* once: the read-only leaves of that page go */
}

/* ---- before VM entry ---- */

/* The seal: from now on no shadow leaf maps keel's memory (the ranges the EPT hides), and every
 * translation made before goes. */
static void shadow_seal(struct vcpu *v)
{
	const struct ept *e = &v->vm->ept;
	const struct shadow_stats *st = &v->shadow->stats;
	log_info("keel: cpu%u: shadow MMU hides keel's memory; until now %llu hidden faults, %llu reflected, "
		 "%llu CR3 loads, %llu INVLPGs, %u of %u pages in use",
		 v->index, (unsigned long long)st->hidden_faults, (unsigned long long)st->reflected_faults,
		 (unsigned long long)st->cr3_loads, (unsigned long long)st->invlpgs, st->pages_in_use, st->pages_total);
	for (unsigned i = 0; i < e->nhidden; i++)
		if (shadow_hide(v->shadow, e->hidden[i].base, e->hidden[i].size))
			vcpu_stop(v, "the shadow MMU's table of hidden ranges is full");
	shadow_flush(v->shadow);
	v->shadow_seen_seal = 1;
}

void shadow_before_entry(struct vcpu *v)
{
	uint64_t gva;

	if (!v->shadow_seen_seal && __atomic_load_n(&v->vm->sealed, __ATOMIC_ACQUIRE))
		shadow_seal(v);
	enum shadow_tlb t = shadow_tlb_take(v->shadow, &gva);
	/* Without VPID every VM entry flushes the guest's linear translations (SDM Vol. 3C 29.4.3.3). */
	if (t == SHADOW_TLB_NONE || !v->vpid)
		return;
	if (t == SHADOW_TLB_ADDR && (v->vm->caps.ept_vpid & VPID_CAP_INDIVIDUAL_ADDR) && is_canonical(gva))
		invvpid_gva(INVVPID_INDIVIDUAL_ADDR, v->vpid, gva);
	else
		vcpu_flush_vpid(v);
}
