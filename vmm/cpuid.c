/* CPUID under keel: the host's answer, shaped so the guest sees what keel supports in VMX non-root
 * (vmm/emulate.c cpuid_shape), and keel's own leaves. VMX root. */
#include "../arch/x86/cpu.h"
#include "cpuid.h"
#include "emulate.h"
#include "handlers.h"
#include "vmcs.h"

void cpuid_answer(struct vcpu *v, struct guest_regs *r)
{
	struct cpuid_regs out;
	uint32_t leaf = (uint32_t)r->gpr[GPR_RAX], sub = (uint32_t)r->gpr[GPR_RCX];

	if (cpuid_leaf_is_keels(leaf)) {
		cpuid_keel_leaf(leaf, &out);
	} else {
		cpuid(leaf, sub, &out);
		cpuid_shape(&v->vm->cpuid_policy, leaf, sub, vmcs_readnat(VMCS_GUEST_CR4), &out);
	}
	r->gpr[GPR_RAX] = out.eax;
	r->gpr[GPR_RBX] = out.ebx;
	r->gpr[GPR_RCX] = out.ecx;
	r->gpr[GPR_RDX] = out.edx;
}

void cpuid_exit(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	cpuid_answer(v, r);
	vcpu_skip_instruction(v);
}

void cpuid_cache_fill(struct vcpu *v)
{
	struct cpuid_regs r;
	cpuid(0, 0, &r);
	v->cpuid_cached = cpuid_fast_leaves(r.eax);
	for (uint32_t leaf = 0; leaf < CPUID_FAST_LEAVES; leaf++) {
		if (!(v->cpuid_cached & (1u << leaf)))
			continue;
		cpuid(leaf, 0, &r);
		cpuid_shape(&v->vm->cpuid_policy, leaf, 0, 0, &r); /* no leaf here has CR4-dependent bits */
		v->cpuid_cache[leaf] = r;
	}
	v->cpuid_fast_mask = 0; /* until the first exit proves the launch (exit_fast_refresh) */
}
