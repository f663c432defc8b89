/* trap=dr: MOV to and from the debug registers, emulated on the guest's own DR0-DR3/DR6 (VM exits
 * do not switch them) and on the VMCS's DR7. VMX root. */
#include "../arch/x86/cr.h"
#include "exit.h"
#include "handlers.h"
#include "operand.h"
#include "trap_emulate.h"
#include "vmcs.h"

#define DR6_BD BIT(13)
#define DR7_GD BIT(13)
#define DR7_FIXED1 BIT(10)
#define DR7_ZERO (BIT(12) | BIT(14) | BIT(15))

/*
 * The order is the CPU's (SDM Vol. 2B MOV DR "Protected Mode Exceptions", Vol. 3C 25.1.3: the MOV-DR
 * exit itself comes before the #GP for CPL and the #UD for DR4/DR5, so both are keel's to raise):
 * privilege, then the DR4/DR5 encoding, then general detect, then the value.
 */
static inline __attribute__((always_inline)) int dr_check(unsigned dr, int write, uint64_t val, int mode64,
							 unsigned cpl, uint64_t cr4, uint64_t dr7, unsigned *real)
{
	if (cpl != 0)
		return VEC_GP;
	if (dr == 4 || dr == 5) {
		if (cr4 & CR4_DE)
			return VEC_UD;
		dr += 2; /* aliases of DR6 and DR7 (SDM Vol. 3A 18.2.2) */
	}
	if (dr7 & DR7_GD)
		return VEC_DB;
	if (write && mode64 && (dr == 6 || dr == 7) && (val >> 32))
		return VEC_GP;
	*real = dr;
	return 0;
}

int dr_access_check(unsigned dr, int write, uint64_t val, int mode64, unsigned cpl, uint64_t cr4, uint64_t dr7,
		    unsigned *real)
{
	return dr_check(dr, write, val, mode64, cpl, cr4, dr7, real);
}

uint64_t dr7_write_value(uint64_t val) { return (val | DR7_FIXED1) & ~DR7_ZERO; }

/* The mode and CR4 are read only where they can matter (a fast-path exit, vmm/exit.c): the mode
 * when a value has bits 63:32 set (outside 64-bit mode MOV DR moves 32 bits), CR4.DE for DR4/DR5. */
static inline __attribute__((always_inline)) int dr_do(struct guest_regs *r, uint64_t q)
{
	unsigned dr = DRQ_DR(q), gpr = DRQ_GPR(q), real;
	int write = !DRQ_FROM_DR(q);
	uint64_t dr7 = vmcs_readnat(VMCS_GUEST_DR7);
	uint64_t val = write ? operand_gpr(r, gpr) : 0;
	int mode64 = (val >> 32) && operand_mode64();
	if (!mode64)
		val &= 0xFFFFFFFF;
	uint64_t cr4 = dr == 4 || dr == 5 ? vmcs_readnat(VMCS_GUEST_CR4) : 0;

	int vec = dr_check(dr, write, val, mode64, vcpu_cpl(), cr4, dr7, &real);
	if (vec)
		return vec;
	if (write) {
		if (real == 7)
			vmcs_writenat(VMCS_GUEST_DR7, dr7_write_value(val));
		else
			write_dr(real, val); /* the CPU applies DR6's fixed bits itself */
	} else {
		uint64_t out = real == 7 ? dr7 : read_dr(real);
		if ((out >> 32) && !operand_mode64())
			out = (uint32_t)out;
		operand_set_gpr(r, gpr, out);
	}
	return 0;
}

int dr_emulate(struct guest_regs *r, uint64_t q) { return dr_do(r, q); }

int dr_fast(struct guest_regs *r)
{
	uint64_t q;
	if (vmcs_read_or_fail(VMCS_EXIT_QUALIFICATION, &q) || DRQ_GPR(q) > GPR_RBX)
		return EXIT_FAST_SLOW; /* the fast frame holds RAX, RCX, RDX and RBX in their places */
	return dr_do(r, q) ? EXIT_FAST_SLOW : EXIT_FAST_DONE; /* a vector means: fault, go slow */
}

void dr_exit(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	int vec = dr_emulate(r, e->qualification);
	if (!vec) {
		vcpu_skip_instruction(v);
	} else if (vec == VEC_DB) {
		/* General detect: a fault-class #DB with DR6.BD set; the CPU clears DR7.GD as it
		 * delivers it, so the handler can use the debug registers (SDM Vol. 3A 18.2.4). */
		write_dr(6, read_dr(6) | DR6_BD);
		vmcs_writenat(VMCS_GUEST_DR7, vmcs_readnat(VMCS_GUEST_DR7) & ~DR7_GD);
		vmcs_writenat(VMCS_GUEST_RFLAGS, vmcs_readnat(VMCS_GUEST_RFLAGS) | RFLAGS_RF);
		vcpu_inject_exception(v, VEC_DB, 0, 0);
	} else {
		vcpu_inject_exception(v, (unsigned)vec, vec == VEC_GP, 0);
	}
}
