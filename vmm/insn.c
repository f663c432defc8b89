/* Instructions keel completes or refuses without further state: INVD, and the VMX instructions
 * (#UD: VMX is hidden from the guest). VMX root. */
#include "../arch/x86/cpu.h"
#include "handlers.h"

void insn_exit_invd(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	/* Discarding caches would also discard keel's own dirty lines: write them back instead. */
	wbinvd();
	vcpu_skip_instruction(v);
}

void insn_exit_vmx(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	vcpu_inject_ud(v); /* CPUID reports no VMX to the guest: as on a CPU without it */
}
