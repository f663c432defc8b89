/* trap=wbinvd: WBINVD executed for the guest (the caches are the machine's). VMX root. */
#include "handlers.h"
#include "vmcs.h"

void cache_exit_wbinvd(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r, (void)e;
	if (vcpu_cpl() != 0) { /* a privilege fault, raised before the exit; checked anyway */
		vcpu_inject_gp(v);
		return;
	}
	wbinvd();
	vcpu_skip_instruction(v);
}
