/* RDMSR and WRMSR of the MSRs keel's bitmap traps: IA32_FEATURE_CONTROL (VMX hidden) and the VMX
 * capability MSRs (#GP, as on a CPU without VMX); others pass through with #GP where the CPU gives it. */
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "emulate.h"
#include "handlers.h"
#include "host.h"
#include "sipi.h"
#include "vmcs.h"

int msr_read_emulate(struct vcpu *v, uint32_t msr, uint64_t *val)
{
	(void)v;
	if (msr_guest_state_read(msr, val)) /* trap=msr: the VMCS holds these (vmm/msr_guest.c) */
		return 0;
	switch (msr_classify(msr)) {
	case MSR_VIRT_FEATURE_CONTROL:
		if (safe_rdmsr(MSR_IA32_FEATURE_CONTROL, val))
			*val = 0;
		*val = msr_feature_control_view(*val);
		return 0;
	case MSR_VIRT_VMX_CAP:
		return 1; /* VMX is hidden: these MSRs do not exist for the guest */
	default:
		return safe_rdmsr(msr, val) ? 1 : 0;
	}
}

void msr_exit_read(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint64_t val;
	if (msr_read_emulate(v, (uint32_t)r->gpr[GPR_RCX], &val)) {
		vcpu_inject_gp(v);
		return;
	}
	r->gpr[GPR_RAX] = (uint32_t)val;
	r->gpr[GPR_RDX] = val >> 32;
	vcpu_skip_instruction(v);
}

/* An x2APIC ICR value that sends an INIT or a SIPI and sets no reserved bit (12-13, 16-17,
 * 20-31, which #GP; SDM Vol. 3A 11.12.9). */
static int x2apic_icr_is_init_or_sipi(uint64_t val)
{
	unsigned dm = (val >> 8) & 7;
	return (dm == 5 || dm == 6) && !(val & 0xFFF33000u);
}

int msr_write_emulate(struct vcpu *v, uint32_t msr, uint64_t val)
{
	int fault;

	if (msr == MSR_IA32_MISC_ENABLE) /* no other rule applies to it */
		return msr_misc_enable_emulate(val);
	if (msr == MSR_X2APIC_ICR && x2apic_icr_is_init_or_sipi(val)) {
		/* INIT and SIPI go through keel's forwarding (vmm/sipi.c); other IPIs as written. */
		uint64_t base;
		if (safe_rdmsr(MSR_IA32_APIC_BASE, &base) || !(base & APIC_BASE_X2APIC_MODE))
			return 1; /* the x2APIC MSRs #GP in xAPIC mode (SDM Vol. 3A 11.12.1.2) */
		sipi_icr_write(v, (uint32_t)val, (uint32_t)(val >> 32), 1);
		return 0;
	}
	if (msr_guest_state_write(msr, val, &fault))
		return fault;
	if (msr_write_faults(msr, val))
		return 1;
	switch (msr_classify(msr)) {
	case MSR_VIRT_UCODE_TRIGGER:
		/* The update would be read from a guest-linear address by a CPU that keel runs on;
		 * microcode belongs to the firmware, before keel. The guest sees its revision unchanged
		 * (IA32_BIOS_SIGN_ID), as after a rejected update. */
		if (!__atomic_exchange_n(&v->vm->ucode_write_logged, 1, __ATOMIC_RELAXED))
			log_warn("keel: cpu%u: guest microcode update (WRMSR 0x79) ignored: load microcode "
				 "from the firmware instead", v->index);
		return 0;
	default:
		return safe_wrmsr(msr, val) ? 1 : 0;
	}
}

void msr_exit_write(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	if (msr_write_emulate(v, (uint32_t)r->gpr[GPR_RCX], (uint32_t)r->gpr[GPR_RAX] | (r->gpr[GPR_RDX] << 32)))
		vcpu_inject_gp(v);
	else
		vcpu_skip_instruction(v);
}
