/* trap=exceptions: every exception vector in the exception bitmap, each reflected to the guest as
 * the CPU would have delivered it. VMX root. */
#include "../arch/x86/cr.h"
#include "events.h"
#include "handlers.h"
#include "shadow_exit.h"
#include "vmcs.h"

#define DR6_B0_3 0xFULL
#define DR6_BD BIT(13)
#define DR6_BS BIT(14)
#define DR6_RTM BIT(16)

/* An enabled instruction breakpoint among the matched ones (DR7 Ln or Gn, R/Wn = 00; B0-B3 may
 * report disabled ones too, SDM Vol. 3A 18.2.3-18.2.4): that #DB
 * is a fault, and its delivery saves RFLAGS.RF = 1 so the handler's IRET can go past it. */
static int exception_db_is_fault(uint64_t matched, uint64_t dr7)
{
	for (unsigned i = 0; i < 4; i++)
		if ((matched & (1u << i)) && ((dr7 >> (2 * i)) & 3) && ((dr7 >> (16 + 4 * i)) & 3) == 0)
			return 1;
	return 0;
}

/*
 * A debug exception that exits leaves DR6 and DR7 as they were; the exit qualification holds what
 * the CPU would have written to DR6 (SDM Vol. 3C 27.1, table 28-1). keel writes it as delivery
 * does: B0-B3 replaced, BD and BS set, RTM cleared for a #DB inside a transaction; DR7.GD cleared
 * after a general-detect fault.
 */
static void exception_db_state(uint64_t q)
{
	uint64_t dr6 = (read_dr(6) & ~DR6_B0_3) | (q & (DR6_B0_3 | DR6_BD | DR6_BS));
	if (q & DR6_RTM)
		dr6 &= ~DR6_RTM;
	write_dr(6, dr6);
	uint64_t dr7 = vmcs_readnat(VMCS_GUEST_DR7);
	if (q & DR6_BD)
		vmcs_writenat(VMCS_GUEST_DR7, dr7 & ~BIT(13));
	if (exception_db_is_fault(q & DR6_B0_3, dr7))
		vmcs_writenat(VMCS_GUEST_RFLAGS, vmcs_readnat(VMCS_GUEST_RFLAGS) | RFLAGS_RF);
}

/*
 * The reflection (SDM Vol. 3C 27.2.2, 26.6.1): the same vector and type, the error code the exit
 * reported, CR2 for #PF from the exit qualification (a VM exit does not load CR2), DR6 for #DB,
 * the instruction length for INT3, INTO and INT1 (software exceptions restart after the
 * instruction). An exception met while the CPU delivered another event (IDT-vectoring information
 * valid) is not reflected: vmx_exit_handler has queued that event again, and keel lets this vector
 * through for the next entry, so the CPU meets the fault again and itself decides what follows
 * (the fault, #DF or shutdown, SDM Vol. 3A table 6-5). A zero VMX-preemption timer brings the CPU
 * back right after that delivery, and the bitmap is restored (exception_timer).
 */
void exception_exit(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	uint32_t info = vmcs_read32(VMCS_EXIT_INTR_INFO);
	unsigned vector = INTR_INFO_VECTOR(info), type = INTR_INFO_TYPE(info);

	if (!(info & INTR_INFO_VALID) || vector >= 32) {
		exit_unhandled(v, r, e);
		return;
	}
	if (vector == VEC_PF && v->shadow && type == INTR_TYPE_HW_EXCEPTION) {
		/* mmu=shadow: most #PF exits are the shadow's own (hidden faults), during event delivery
		 * too; vmm/shadow_exit.c fills or reflects them. An IRET it retries blocks NMIs again. */
		if ((info & INTR_INFO_NMI_UNBLOCK_IRET) && !(vmcs_read32(VMCS_IDT_VECTORING_INFO) & INTR_INFO_VALID))
			vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY,
				     vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) | INTERRUPTIBILITY_NMI);
		shadow_exit_page_fault(v, e->qualification, vmcs_read32(VMCS_EXIT_INTR_ERROR));
		return;
	}
	if (vmcs_read32(VMCS_IDT_VECTORING_INFO) & INTR_INFO_VALID) {
		v->exc_unmasked |= 1u << vector;
		vmcs_write32(VMCS_EXCEPTION_BITMAP, v->vm->exception_bitmap & ~v->exc_unmasked);
		events_nmi_timer_arm(v, 0);
		return;
	}
	/* A fault in an IRET that had unblocked NMIs: blocking by NMI comes back, as the IRET did
	 * not complete (SDM Vol. 3C 27.2.3). */
	if ((info & INTR_INFO_NMI_UNBLOCK_IRET) && vector != VEC_DF)
		vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) | INTERRUPTIBILITY_NMI);
	if (vector == VEC_DB && type == INTR_TYPE_HW_EXCEPTION)
		exception_db_state(e->qualification);
	if (exception_reflect(v, info))
		exit_unhandled(v, r, e); /* NMIs exit only with NMI exiting, which keel leaves off */
}

int exception_reflect(struct vcpu *v, uint32_t info)
{
	unsigned vector = INTR_INFO_VECTOR(info), type = INTR_INFO_TYPE(info);
	if (type == INTR_TYPE_SW_EXCEPTION || type == INTR_TYPE_PRIV_SW_EXCEPTION) {
		vmcs_write32(VMCS_ENTRY_INSTR_LEN, vmcs_read32(VMCS_EXIT_INSTR_LEN));
		vmcs_write32(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | (type << 8) | vector);
		return 0;
	}
	if (type != INTR_TYPE_HW_EXCEPTION)
		return 1;
	int has_error = !!(info & INTR_INFO_DELIVER_CODE);
	uint32_t error = has_error ? vmcs_read32(VMCS_EXIT_INTR_ERROR) : 0;
	if (vector == VEC_PF) {
		struct guest_fault pf = { vmcs_readnat(VMCS_EXIT_QUALIFICATION), error };
		vcpu_inject_page_fault(v, &pf);
		return 0;
	}
	vcpu_inject_exception(v, vector, has_error, error);
	return 0;
}

int exception_fast(struct vcpu *v)
{
	uint32_t info = vmcs_read32(VMCS_EXIT_INTR_INFO);
	unsigned vector = INTR_INFO_VECTOR(info);
	/* The slow path's cases: no valid vector, #DB (DR6 and DR7 to update), #PF under shadow
	 * paging (the shadow MMU's), an IRET that unblocked NMIs, and an exception met during event
	 * delivery (IDT-vectoring information valid). */
	if (!(info & INTR_INFO_VALID) || vector >= 32 || vector == VEC_DB || (vector == VEC_PF && v->shadow) ||
	    (info & INTR_INFO_NMI_UNBLOCK_IRET) || (vmcs_read32(VMCS_IDT_VECTORING_INFO) & INTR_INFO_VALID))
		return EXIT_FAST_SLOW;
	return exception_reflect(v, info) ? EXIT_FAST_SLOW : EXIT_FAST_EVENT;
}

void exception_timer(struct vcpu *v)
{
	if (!v->exc_unmasked)
		return;
	v->exc_unmasked = 0;
	vmcs_write32(VMCS_EXCEPTION_BITMAP, v->vm->exception_bitmap);
}
