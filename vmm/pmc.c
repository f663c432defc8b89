/* trap=rdpmc: RDPMC executed for the guest after the checks the CPU makes. VMX root. */
#include "../arch/x86/cr.h"
#include "handlers.h"
#include "trap_emulate.h"
#include "vmcs.h"

int pmc_index_faults(uint32_t ecx, uint32_t cpuid_a_eax, uint32_t cpuid_a_edx)
{
	unsigned version = cpuid_a_eax & 0xFF, idx = ecx & 0x3FFFFFFF;
	unsigned gp = (cpuid_a_eax >> 8) & 0xFF, fixed = version >= 2 ? cpuid_a_edx & 0x1F : 0;
	if (ecx & BIT(31))
		return 1;
	return (ecx & BIT(30)) ? idx >= fixed : idx >= gp;
}

/* The counters are the CPU's own (keel neither switches nor virtualizes the PMU): RDPMC in root
 * reads what the guest's RDPMC would. */
int pmc_emulate(struct guest_regs *r)
{
	uint32_t ecx = (uint32_t)r->gpr[GPR_RCX];
	struct cpuid_regs a = { 0, 0, 0, 0 }, m;
	cpuid(0, 0, &m);
	if (m.eax >= 0xA)
		cpuid(0xA, 0, &a);
	if ((!(vmcs_readnat(VMCS_GUEST_CR4) & CR4_PCE) && vcpu_cpl() != 0) || pmc_index_faults(ecx, a.eax, a.edx))
		return 1;
	uint64_t val = rdpmc(ecx);
	r->gpr[GPR_RAX] = (uint32_t)val;
	r->gpr[GPR_RDX] = val >> 32;
	return 0;
}

void pmc_exit_rdpmc(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	if (pmc_emulate(r))
		vcpu_inject_gp(v);
	else
		vcpu_skip_instruction(v);
}
