/* trap=rdtsc: RDTSC and RDTSCP executed for the guest, with CR4.TSD and TSC offsetting honoured.
 * VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "handlers.h"
#include "host.h"
#include "vmcs.h"

/* The TSC the guest reads (SDM Vol. 3C 25.3): the CPU's, plus the TSC offset when offsetting is on
 * (keel sets no offset today; the field is honoured so that a future one stays invisible).
 * RDTSCP also loads ECX with IA32_TSC_AUX, which VM exits do not switch: the guest's own value. */
int tsc_emulate(struct guest_regs *r, int rdtscp)
{
	/* CR4.TSD at CPL > 0 is a privilege fault, raised before any exit; checked anyway. */
	if ((vmcs_readnat(VMCS_GUEST_CR4) & CR4_TSD) && vcpu_cpl() != 0)
		return 1;
	uint64_t t = rdtsc(), aux;
	if (vmcs_read32(VMCS_PROC_CONTROLS) & PROC_TSC_OFFSETTING)
		t += vmcs_read64(VMCS_TSC_OFFSET);
	r->gpr[GPR_RAX] = (uint32_t)t; /* 32-bit results zero-extend */
	r->gpr[GPR_RDX] = t >> 32;
	if (rdtscp) {
		if (safe_rdmsr(MSR_TSC_AUX, &aux))
			aux = 0;
		r->gpr[GPR_RCX] = (uint32_t)aux;
	}
	return 0;
}

void tsc_exit_rdtsc(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	if (tsc_emulate(r, 0))
		vcpu_inject_gp(v);
	else
		vcpu_skip_instruction(v);
}

void tsc_exit_rdtscp(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	if (tsc_emulate(r, 1))
		vcpu_inject_gp(v);
	else
		vcpu_skip_instruction(v);
}
