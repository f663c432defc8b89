/* RDMSR and WRMSR of the MSRs keel's bitmap traps: IA32_FEATURE_CONTROL (VMX hidden) and the VMX
 * capability MSRs (#GP, as on a CPU without VMX); others pass through with #GP where the CPU gives it. */
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "emulate.h"
#include "handlers.h"
#include "host.h"
#include "vmcs.h"

void msr_exit_read(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint32_t msr = (uint32_t)r->gpr[GPR_RCX];
	uint64_t val;

	if (msr_guest_state_read(v, r, msr)) /* trap=msr: the VMCS holds these (vmm/msr_guest.c) */
		return;
	switch (msr_classify(msr)) {
	case MSR_VIRT_FEATURE_CONTROL:
		if (safe_rdmsr(MSR_IA32_FEATURE_CONTROL, &val))
			val = 0;
		val = msr_feature_control_view(val);
		break;
	case MSR_VIRT_VMX_CAP:
		vcpu_inject_gp(v); /* VMX is hidden: these MSRs do not exist for the guest */
		return;
	default:
		if (safe_rdmsr(msr, &val)) {
			vcpu_inject_gp(v);
			return;
		}
	}
	r->gpr[GPR_RAX] = (uint32_t)val;
	r->gpr[GPR_RDX] = val >> 32;
	vcpu_skip_instruction(v);
}

void msr_exit_write(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint32_t msr = (uint32_t)r->gpr[GPR_RCX];
	uint64_t val = (uint32_t)r->gpr[GPR_RAX] | (r->gpr[GPR_RDX] << 32);

	uint64_t cur;

	if (msr_guest_state_write(v, r, msr))
		return;
	if (msr_write_faults(msr, val)) {
		vcpu_inject_gp(v);
		return;
	}
	switch (msr_classify(msr)) {
	case MSR_VIRT_UCODE_TRIGGER:
		/* The update would be read from a guest-linear address by a CPU that keel runs on;
		 * microcode belongs to the firmware, before keel. The guest sees its revision unchanged
		 * (IA32_BIOS_SIGN_ID), as after a rejected update. */
		if (!__atomic_exchange_n(&v->vm->ucode_write_logged, 1, __ATOMIC_RELAXED))
			log_warn("keel: cpu%u: guest microcode update (WRMSR 0x79) ignored: load microcode "
				 "from the firmware instead", v->index);
		break;
	case MSR_VIRT_MISC_ENABLE:
		if (safe_rdmsr(msr, &cur) || safe_wrmsr(msr, msr_misc_enable_write(cur, val))) {
			vcpu_inject_gp(v);
			return;
		}
		break;
	default:
		if (safe_wrmsr(msr, val)) {
			vcpu_inject_gp(v);
			return;
		}
	}
	vcpu_skip_instruction(v);
}
