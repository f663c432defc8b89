/* trap=hlt, pause, mwait, monitor: the instructions a CPU waits with, emulated so the guest waits
 * as it would on hardware. VMX root. */
#include "../arch/x86/cr.h"
#include "handlers.h"
#include "operand.h"
#include "vmcs.h"

/*
 * HLT (SDM Vol. 2A HLT, Vol. 3C 25.1.3): RIP moves past it, then the vCPU enters the HLT activity
 * state, in which the CPU itself waits and wakes on what wakes a halted CPU: an external interrupt
 * (with RFLAGS.IF), an NMI, SMI, INIT, #MC (SDM Vol. 3C 26.7.2). With interrupts disabled and no
 * NMI it stays halted, as hardware does. HLT at CPL > 0 faults before the exit; checked anyway.
 */
void idle_exit_hlt(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r, (void)e;
	if (vcpu_cpl() != 0) {
		vcpu_inject_gp(v);
		return;
	}
	vcpu_skip_instruction(v); /* also drops STI blocking: STI; HLT wakes on the next interrupt */
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
}

/* PAUSE is a hint: done once the exit has cost its time. */
void idle_exit_pause(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r, (void)e;
	vcpu_skip_instruction(v);
}

/*
 * MWAIT (SDM Vol. 2B MWAIT, Vol. 3A 9.10.4): keel completes it at once, as a CPU may: MWAIT is
 * allowed to return for any implementation-specific reason, and a guest must recheck its wake-up
 * condition after it. Waiting in HLT instead would be wrong: a store to the monitored line (what a
 * Linux idle loop with TIF_POLLING_NRFLAG waits for) does not wake a halted CPU. ECX bits 31:1 are
 * reserved, and bit 0 needs CPUID.05H:ECX[1]: #GP(0) otherwise (not a privilege check, so the exit
 * comes first). EAX hints are ignored, as a CPU may.
 */
void idle_exit_mwait(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint32_t ecx = (uint32_t)r->gpr[GPR_RCX];
	struct cpuid_regs c;
	cpuid(5, 0, &c);
	if ((ecx & ~1u) || ((ecx & 1) && !(c.ecx & 2))) {
		vcpu_inject_gp(v);
		return;
	}
	vcpu_skip_instruction(v);
}

/*
 * MONITOR (SDM Vol. 2B MONITOR): arms nothing (the MWAIT that follows returns at once), but makes
 * the checks the CPU makes: ECX must be 0 (no extensions are defined), and DS:rAX (address size
 * of the mode: the exit reports no instruction information) must pass the segment checks and be
 * translatable, else #GP(0) or #PF. A segment override prefix is not visible here: DS is assumed.
 */
void idle_exit_monitor(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	if ((uint32_t)r->gpr[GPR_RCX]) {
		vcpu_inject_gp(v);
		return;
	}
	int mode64 = operand_mode64();
	unsigned asize = mode64 ? 2 : (vmcs_read32(VMCS_GUEST_CS_AR) & AR_DB) ? 1 : 0;
	uint32_t info = (asize << 7) | ((uint32_t)SEG_DS << 15) | ((uint32_t)GPR_RAX << 23) | (1u << 22); /* [rAX] */
	uint8_t byte;
	if (operand_access(v, r, info, 0, &byte, 1, 0))
		return;
	vcpu_skip_instruction(v);
}
