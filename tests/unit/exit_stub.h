/* What arch/x86/vmx_entry.asm does with an exit its own CPUID path did not complete, for the host
 * harnesses (tests/unit/test_exit.c, tests/fuzz/fuzz_exit.c): the fast frame built from the
 * guest's registers (only the slots the stub saves, vmm/exit.h), vmx_exit_fast, then either the
 * completion and the count or the full save and vmx_exit_handler. */
#ifndef KEEL_TESTS_EXIT_STUB_H
#define KEEL_TESTS_EXIT_STUB_H

#include "../../vmm/exit.h"
#include "../../vmm/rip.h"
#include "../../vmm/vcpu.h"

int vmx_exit_fast(struct vcpu *v, struct guest_regs *r, uint32_t raw);
void vmx_exit_handler(struct guest_regs *r, struct vcpu *v);

enum { GPR_R8 = 8 };

static inline int stub_exit(struct vcpu *v, struct guest_regs *regs, uint32_t raw)
{
	struct guest_regs f;
	/* poison: a fast handler reading a slot the stub does not fill sees this, not the guest's */
	for (unsigned i = 0; i < 16; i++)
		f.gpr[i] = 0xDEAD0000DEAD0000ULL + i;
	for (unsigned i = 0; i < 4; i++)
		f.gpr[i] = regs->gpr[i];
	for (unsigned i = 0; i < 4; i++)
		f.gpr[FAST_FRAME_R8 + i] = regs->gpr[GPR_R8 + i];
	f.gpr[FAST_FRAME_RDI] = regs->gpr[GPR_RDI];
	f.gpr[FAST_FRAME_RSI] = regs->gpr[GPR_RSI];
	int fast = vmx_exit_fast(v, &f, raw);
	for (unsigned i = 0; i < 4; i++)
		regs->gpr[i] = f.gpr[i];
	for (unsigned i = 0; i < 4; i++)
		regs->gpr[GPR_R8 + i] = f.gpr[FAST_FRAME_R8 + i];
	regs->gpr[GPR_RDI] = f.gpr[FAST_FRAME_RDI];
	regs->gpr[GPR_RSI] = f.gpr[FAST_FRAME_RSI];
	if (fast == EXIT_FAST_DONE)
		vcpu_complete_instruction();
	if (fast != EXIT_FAST_SLOW)
		v->exits[raw]++;
	else
		vmx_exit_handler(regs, v);
	return fast;
}

#endif
