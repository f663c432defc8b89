/* trap=wbinvd: WBINVD executed for the guest (the caches are the machine's). VMX root. */
#include "handlers.h"
#include "vmcs.h"

int cache_wbinvd_emulate(void)
{
	if (vcpu_cpl() != 0) /* a privilege fault, raised before the exit; checked anyway */
		return 1;
	wbinvd();
	return 0;
}

void cache_exit_wbinvd(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r, (void)e;
	if (cache_wbinvd_emulate())
		vcpu_inject_gp(v);
	else
		vcpu_skip_instruction(v);
}
