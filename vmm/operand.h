/* Memory operands of trapped instructions: the effective and linear address from the VM-exit
 * instruction information, with the CPU's segment checks, and the access through the guest's page
 * tables. VMX root; operand_linear is pure (host unit tests call it). */
#ifndef KEEL_VMM_OPERAND_H
#define KEEL_VMM_OPERAND_H

#include <stdint.h>

#include "vcpu.h"
#include "vmcs.h"

/* A segment register as the VMCS holds it (SDM Vol. 3C 24.4.1). */
struct operand_seg {
	uint64_t base;
	uint32_t limit, ar;
};

/*
 * The linear address of a size-byte operand: base + index * 2^scale + displacement (the exit
 * qualification) in the address size, then the segment (SDM Vol. 3A 3.4.4, 5.3; Vol. 1 3.7.5).
 * gpr holds the 16 GPRs with RSP. Outside 64-bit mode the access must fit the segment's limit
 * (expand-up or expand-down) and type (no writes to code or read-only data, no reads of
 * execute-only code, no unusable segment); in 64-bit mode only FS and GS add a base, and the first
 * and last byte must be canonical. Returns 0 with *la, or the vector to raise with error code 0:
 * VEC_SS for an SS-based operand, VEC_GP for the others.
 */
int operand_linear(uint32_t info, uint64_t disp, const uint64_t gpr[16], int mode64, unsigned segno,
		   const struct operand_seg *seg, unsigned size, int write, uint64_t *la);

/* The guest register n of an exit: RSP from the VMCS, the others from r. */
static inline uint64_t operand_gpr(const struct guest_regs *r, unsigned n)
{
	return n == GPR_RSP ? vmcs_readnat(VMCS_GUEST_RSP) : r->gpr[n];
}

static inline void operand_set_gpr(struct guest_regs *r, unsigned n, uint64_t val)
{
	if (n == GPR_RSP)
		vmcs_writenat(VMCS_GUEST_RSP, val);
	else
		r->gpr[n] = val;
}

/* True in 64-bit mode (IA-32e mode and CS.L). */
static inline int operand_mode64(void)
{
	return (guest_efer() & EFER_LMA) && (vmcs_read32(VMCS_GUEST_CS_AR) & AR_L);
}

/*
 * Reads (write = 0) or writes the memory operand of the current exit: operand_linear on the guest's
 * state, then vcpu_copy_guest. Returns 0, or -1 after injecting the fault the CPU would raise
 * (#GP(0)/#SS(0) from the segment checks, #PF with CR2; #GP(0) where keel will not touch memory).
 */
int operand_access(struct vcpu *v, const struct guest_regs *r, uint32_t info, uint64_t disp, void *buf,
		   unsigned size, int write);

/* operand_access with the mode the caller knows (operand_mode64()); with inject 0 a fault is only
 * reported (-1), not injected: the fast exit path then leaves the instruction to the slow one,
 * which repeats it and injects. */
int operand_access_ex(struct vcpu *v, const struct guest_regs *r, uint32_t info, uint64_t disp, void *buf,
		      unsigned size, int write, int inject, int mode64);

/* Copies len bytes at guest-linear la (a system access such as a descriptor-table read); 0 or -1
 * after injecting #PF or #GP(0) as operand_access does. */
int operand_copy_linear(struct vcpu *v, uint64_t la, void *buf, unsigned len, int write);

#endif
