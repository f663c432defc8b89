/* trap=invlpg, invpcid: the guest's TLB invalidations, done with INVVPID on its VPID. VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "emulate.h"
#include "handlers.h"
#include "operand.h"
#include "trap_emulate.h"
#include "vmcs.h"

/*
 * Drops the guest's translations of one linear address (all PCIDs, global ones included: INVVPID
 * individual-address, SDM Vol. 3C 31.3), or all of its translations where that type is missing.
 * More than the guest asked is allowed: a TLB may drop any entry at any time (SDM Vol. 3A 4.10.4).
 * Without VPID every VM entry and exit already flushes VPID 0000H's translations (SDM 29.4.3.3).
 */
static void tlb_flush_address(struct vcpu *v, uint64_t la)
{
	if (!v->vpid)
		return;
	if ((v->vm->caps.ept_vpid & VPID_CAP_INDIVIDUAL_ADDR) && is_canonical(la))
		invvpid_gva(INVVPID_INDIVIDUAL_ADDR, v->vpid, la);
	else if (is_canonical(la))
		vcpu_flush_vpid(v);
}

/* INVLPG m: the exit qualification is the linear address (SDM Vol. 3C table 28-1). A
 * non-canonical address is a no-op, as on hardware. */
int tlb_invlpg_emulate(struct vcpu *v, uint64_t la)
{
	if (vcpu_cpl() != 0)
		return 1;
	tlb_flush_address(v, la);
	return 0;
}

void tlb_exit_invlpg(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	if (tlb_invlpg_emulate(v, e->qualification))
		vcpu_inject_gp(v);
	else
		vcpu_skip_instruction(v);
}

int invpcid_faults(uint64_t type, uint64_t lo, uint64_t hi, int pcide)
{
	uint64_t pcid = lo & 0xFFF;
	if (type > 3 || (lo >> 12))
		return 1;
	if (type == 0 && !is_canonical(hi))
		return 1;
	return type <= 1 && !pcide && pcid;
}

/* INVPCID r, m128 (SDM Vol. 2A INVPCID): type in reg2, descriptor in memory. Types 0 and 1 drop
 * more than one PCID's translations here, types 2 and 3 exactly what they ask (all, with or
 * without globals, are both "everything of this VPID" to INVVPID single-context). */
void tlb_exit_invpcid(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	uint32_t info = vmcs_read32(VMCS_EXIT_INSTR_INFO);
	uint64_t type = operand_gpr(r, II_REG2(info)), desc[2];
	int mode64 = operand_mode64();

	if (!mode64)
		type &= 0xFFFFFFFF;
	if (vcpu_cpl() != 0) {
		vcpu_inject_gp(v);
		return;
	}
	if (operand_access(v, r, info, e->qualification, desc, sizeof(desc), 0))
		return;
	if (invpcid_faults(type, desc[0], desc[1], !!(vmcs_readnat(VMCS_GUEST_CR4) & CR4_PCIDE))) {
		vcpu_inject_gp(v);
		return;
	}
	if (type == 0)
		tlb_flush_address(v, desc[1]);
	else
		vcpu_flush_vpid(v);
	vcpu_skip_instruction(v);
}
