/* Control registers: MOV to and from CR0/CR3/CR4, CLTS, LMSW, and XSETBV (XCR0), emulated with the
 * rules of vmm/emulate.c. VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "emulate.h"
#include "handlers.h"
#include "host.h"
#include "shadow_exit.h"
#include "trap_emulate.h"
#include "vmcs.h"

static uint64_t read_gpr(struct guest_regs *r, unsigned n)
{
	return n == GPR_RSP ? vmcs_readnat(VMCS_GUEST_RSP) : r->gpr[n];
}

/*
 * Loads the four PDPTEs that PAE paging takes from CR3 into the VMCS, where VM entry with EPT reads
 * them (SDM Vol. 3C 26.3.2.4). Returns -1 (the MOV raises #GP) when a present one sets a reserved
 * bit, or when CR3 points where keel will not read (its own memory reads as all ones, which sets
 * reserved bits on hardware too).
 */
static int load_pdptes(struct vcpu *v, uint64_t cr3)
{
	uint64_t pdpte[4];
	if (vcpu_read_guest_phys(cr3 & 0xFFFFFFE0, pdpte, sizeof(pdpte)) ||
	    pae_pdptes_invalid(pdpte, v->vm->caps.max_phys_bits))
		return -1;
	if (v->vm->shadow) { /* the shadow MMU takes them, VM entry loads keel's own */
		for (unsigned i = 0; i < 4; i++)
			v->guest_pdpte[i] = pdpte[i];
		return 0;
	}
	for (unsigned i = 0; i < 4; i++)
		vmcs_write_raw(VMCS_GUEST_PDPTE0 + 2 * i, pdpte[i]); /* 64-bit fields, 2 apart */
	return 0;
}

/*
 * MOV to/from CR3 exits only where the CPU forces CR3-load/store exiting (no TRUE controls). Reads
 * return the guest's CR3; writes check reserved bits and flush this vCPU's translations unless
 * bit 63 asks to keep them (CR4.PCIDE, SDM Vol. 3A 4.10.4.1).
 */
static void cr3_exit(struct vcpu *v, struct guest_regs *r, unsigned type, unsigned gpr)
{
	if (type == CRQ_TYPE_MOV_FROM) {
		if (gpr == GPR_RSP)
			vmcs_writenat(VMCS_GUEST_RSP, vmcs_readnat(VMCS_GUEST_CR3));
		else
			r->gpr[gpr] = vmcs_readnat(VMCS_GUEST_CR3);
		vcpu_skip_instruction(v);
		return;
	}
	uint64_t val = read_gpr(r, gpr);
	int pcide = !!(vmcs_readnat(VMCS_GUEST_CR4) & CR4_PCIDE);
	int keep = pcide && (val & BIT(63));
	val &= ~BIT(63);
	if ((val >> v->vm->caps.max_phys_bits) ||
	    (pae_paging_active(vmcs_readnat(VMCS_GUEST_CR0), vmcs_readnat(VMCS_GUEST_CR4), guest_efer()) &&
	     load_pdptes(v, val))) {
		vcpu_inject_gp(v);
		return;
	}
	vmcs_writenat(VMCS_GUEST_CR3, val);
	if (!keep)
		vcpu_flush_vpid(v);
	vcpu_skip_instruction(v);
}

/*
 * trap=cr8: MOV to/from CR8 (64-bit mode only; CR8-load/store exiting, no TPR shadow). CR8 is the
 * local APIC's TPR[7:4] and VM exits do not switch the APIC, so keel's MOV CR8 reads and sets the
 * guest's own TPR with the hardware's semantics (SDM Vol. 3A 10.8.6.1); bits 63:4 set raise #GP(0).
 */
static void cr8_exit(struct vcpu *v, struct guest_regs *r, unsigned type, unsigned gpr)
{
	if (vcpu_cpl() != 0) {
		vcpu_inject_gp(v);
		return;
	}
	if (type == CRQ_TYPE_MOV_FROM) {
		uint64_t val = read_cr8();
		if (gpr == GPR_RSP)
			vmcs_writenat(VMCS_GUEST_RSP, val);
		else
			r->gpr[gpr] = val;
	} else {
		uint64_t val = read_gpr(r, gpr);
		if (cr8_write_faults(val)) {
			vcpu_inject_gp(v);
			return;
		}
		write_cr8(val);
	}
	vcpu_skip_instruction(v);
}

void cr_exit(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	unsigned cr = CRQ_CR(e->qualification), type = CRQ_TYPE(e->qualification);
	struct cr_state s = {
		.cr0 = vmcs_readnat(VMCS_GUEST_CR0),
		.cr0_shadow = vmcs_readnat(VMCS_CR0_SHADOW),
		.cr4 = vmcs_readnat(VMCS_GUEST_CR4),
		.cr4_shadow = vmcs_readnat(VMCS_CR4_SHADOW),
		.cr0_mask = vmcs_readnat(VMCS_CR0_MASK),
		.cr4_mask = vmcs_readnat(VMCS_CR4_MASK),
		.cr3 = vcpu_guest_cr3(v),
		.efer = guest_efer(),
		.cs_l = !!(vmcs_read32(VMCS_GUEST_CS_AR) & AR_L),
		.cr0_fixed0 = v->cr0_fixed0,
		.cr0_fixed1 = v->cr0_fixed1,
		.cr4_fixed0 = v->cr4_fixed0,
		.cr4_fixed1 = v->cr4_fixed1,
	};
	uint64_t val;
	int fault;

	if (cr == 3 && (type == CRQ_TYPE_MOV_TO || type == CRQ_TYPE_MOV_FROM) && v->shadow) {
		shadow_cr3_exit(v, r, type, CRQ_GPR(e->qualification));
		return;
	}
	if (cr == 3 && (type == CRQ_TYPE_MOV_TO || type == CRQ_TYPE_MOV_FROM)) {
		cr3_exit(v, r, type, CRQ_GPR(e->qualification));
		return;
	}
	if (cr == 8 && (type == CRQ_TYPE_MOV_TO || type == CRQ_TYPE_MOV_FROM)) {
		cr8_exit(v, r, type, CRQ_GPR(e->qualification));
		return;
	}
	if (type == CRQ_TYPE_MOV_TO && cr == 0)
		fault = cr0_emulate_write(&s, read_gpr(r, CRQ_GPR(e->qualification)));
	else if (type == CRQ_TYPE_MOV_TO && cr == 4)
		fault = cr4_emulate_write(&s, read_gpr(r, CRQ_GPR(e->qualification)));
	else if (type == CRQ_TYPE_LMSW) {
		/* LMSW loads MP, EM, TS and can set but never clear PE (SDM Vol. 2A LMSW). */
		uint64_t cur = cr_guest_view(s.cr0, s.cr0_shadow, s.cr0_mask);
		val = (cur & ~0xEULL) | (CRQ_LMSW_SRC(e->qualification) & 0xF) | (cur & CR0_PE);
		fault = cr0_emulate_write(&s, val);
	} else if (type == CRQ_TYPE_CLTS)
		fault = cr0_emulate_write(&s, cr_guest_view(s.cr0, s.cr0_shadow, s.cr0_mask) & ~CR0_TS);
	else {
		exit_unhandled(v, r, e);
		return;
	}
	if (!fault && v->vm->shadow)
		fault = shadow_cr_write(v, &s);
	if (!fault && s.reload_pdptes &&
	    pae_paging_active(cr_guest_view(s.cr0, s.cr0_shadow, s.cr0_mask), cr_guest_view(s.cr4, s.cr4_shadow, s.cr4_mask),
			      s.efer))
		fault = load_pdptes(v, s.cr3);
	if (fault) {
		vcpu_inject_gp(v);
		return;
	}
	vmcs_writenat(VMCS_GUEST_CR0, s.cr0);
	vmcs_writenat(VMCS_CR0_SHADOW, s.cr0_shadow);
	vmcs_writenat(VMCS_GUEST_CR4, s.cr4);
	vmcs_writenat(VMCS_CR4_SHADOW, s.cr4_shadow);
	if (s.efer != guest_efer()) {
		/* Paging switched with EFER.LME set: IA-32e mode follows LMA (SDM 9.8.5). */
		guest_set_efer(s.efer);
		uint32_t entry = vmcs_read32(VMCS_ENTRY_CONTROLS);
		entry = (s.efer & EFER_LMA) ? entry | ENTRY_IA32E_MODE_GUEST : entry & ~ENTRY_IA32E_MODE_GUEST;
		vmcs_write32(VMCS_ENTRY_CONTROLS, entry);
	}
	if (s.flush_tlb && v->vm->shadow)
		shadow_paging_update(v); /* new shadow root, or a switch to or from the EPT on CR0.PG */
	else if (s.flush_tlb)
		vcpu_flush_vpid(v);
	vcpu_skip_instruction(v);
}

/* ---- XSETBV ---- */

void xsetbv_exit(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint64_t val = (uint32_t)r->gpr[GPR_RAX] | (r->gpr[GPR_RDX] << 32);
	struct cpuid_regs d;

	if (!(vmcs_readnat(VMCS_GUEST_CR4) & CR4_OSXSAVE)) {
		vcpu_inject_ud(v);
		return;
	}
	cpuid(0xD, 0, &d);
	if (vcpu_cpl() != 0 || xcr0_write_faults((uint32_t)r->gpr[GPR_RCX], val, d.eax | ((uint64_t)d.edx << 32)) ||
	    safe_xsetbv((uint32_t)r->gpr[GPR_RCX], val)) {
		vcpu_inject_gp(v);
		return;
	}
	vcpu_skip_instruction(v);
}
