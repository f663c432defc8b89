/* Completing an emulated instruction: RIP past it, STI/MOV-SS blocking dropped, a TF guest's
 * single-step trap kept pending. Inline for the fast exit path; VMX root, v's VMCS current. */
#ifndef KEEL_VMM_RIP_H
#define KEEL_VMM_RIP_H

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "vcpu.h"
#include "vmcs.h"

/* The guest runs 64-bit code: IA-32e mode and CS.L. */
static inline int vcpu_guest_in_64bit_mode(void)
{
	return (guest_efer() & EFER_LMA) && (vmcs_read32(VMCS_GUEST_CS_AR) & AR_L);
}

/*
 * RIP += instruction length. Outside 64-bit mode EIP wraps at 4 GiB; RIP bits 63:32 are 0 there
 * (SDM 26.3.1.4), so only an advance that carries across a 4 GiB boundary needs the mode, which
 * keeps the common exit at two VMREADs and one VMWRITE for RIP.
 */
static inline uint64_t vcpu_next_rip(uint64_t rip, uint32_t len, int (*long_mode)(void))
{
	uint64_t next = rip + len;
	if (__builtin_expect((next ^ rip) >> 32, 0) && !long_mode())
		next &= 0xFFFFFFFF;
	return next;
}

static inline void vcpu_complete_instruction(void)
{
	vmcs_writenat(VMCS_GUEST_RIP, vcpu_next_rip(vmcs_readnat(VMCS_GUEST_RIP), vmcs_read32(VMCS_EXIT_INSTR_LEN),
						     vcpu_guest_in_64bit_mode));
	uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
	if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
		vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, intr & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
	/* A single-stepping guest expects #DB after the instruction keel completed for it: a pending
	 * single-step trap (DR6.BS, SDM 24.4.2 pending debug exceptions) delivers it on entry. */
	if (vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_TF)
		vmcs_writenat(VMCS_GUEST_PENDING_DBG, vmcs_readnat(VMCS_GUEST_PENDING_DBG) | BIT(14));
}

#endif
