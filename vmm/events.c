/* Events keel delivers or reacts to: NMIs that hit keel in VMX root (injected when the guest can
 * take one), the VMX-preemption timer (NMI retries, statistics clock), triple faults. VMX root. */
#include "events.h"

#include "../arch/x86/cpu.h"
#include "../arch/x86/msr.h"
#include "handlers.h"
#include "hypercall.h"
#include "vmcs.h"

int events_nmi_timer_arm(struct vcpu *v, uint32_t ticks)
{
	if (!((vmx_caps_pinbased(&v->vm->caps) >> 32) & PIN_PREEMPTION_TIMER))
		return -1;
	vmcs_write32(VMCS_PIN_CONTROLS, vmcs_read32(VMCS_PIN_CONTROLS) | PIN_PREEMPTION_TIMER);
	vmcs_write32(VMCS_PREEMPTION_TIMER, ticks);
	v->nmi_timer = 1;
	return 0;
}

void events_nmi_timer_disarm(struct vcpu *v)
{
	v->nmi_timer = 0;
	if (events_stats_clock(v))
		vmcs_write32(VMCS_PREEMPTION_TIMER, events_stats_timer_value(v->vm));
	else
		vmcs_write32(VMCS_PIN_CONTROLS, vmcs_read32(VMCS_PIN_CONTROLS) & ~PIN_PREEMPTION_TIMER);
}

/*
 * An NMI that hit keel in VMX root (vmm/host.c) is injected as soon as the guest could take one:
 * no other event queued, no blocking by NMI, STI or MOV-SS, active state (SDM Vol. 3C 26.3.1.5).
 * Otherwise the preemption timer brings the CPU back shortly to try again (keel uses no NMI
 * exiting, hence no NMI-window exiting). An NMI arriving after this check arms the timer itself.
 */
#define NMI_RETRY_TICKS 1024 /* timer ticks (TSC >> rate): the guest makes progress in between */

void events_deliver_pending_nmi(struct vcpu *v)
{
	uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), activity = vmcs_read32(VMCS_GUEST_ACTIVITY_STATE);
	if ((vmcs_read32(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID) ||
	    (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS | INTERRUPTIBILITY_NMI)) ||
	    (activity != ACTIVITY_ACTIVE && activity != ACTIVITY_HLT)) {
		events_nmi_timer_arm(v, NMI_RETRY_TICKS); /* without a timer: at the next exit */
		return;
	}
	/* An NMI wakes a halted CPU: inject into HLT and leave the vCPU active after delivery (RIP is
	 * already past the HLT; SDM Vol. 3C 26.3.1.5 allows the injection in the HLT state). */
	if (activity == ACTIVITY_HLT)
		vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	v->nmi_pending = 0;
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | VEC_NMI);
	if (v->nmi_timer)
		events_nmi_timer_disarm(v); /* delivered at an earlier exit than the timer's */
}

/*
 * Root-mode NMIs arrive only after an exit, with v's VMCS current: inside the handler (whose own
 * check may have passed already) or in the stub around it. Either way a zero-tick timer brings the
 * CPU back right after the next entry, so the NMI waits for no unrelated exit.
 */
void events_nmi_in_root(struct vcpu *v)
{
	v->nmi_pending = 1;
	v->nmis_in_root++;
	vcpu_make_slow(v);
	events_nmi_timer_arm(v, 0);
}

void events_mc_in_root(struct vcpu *v)
{
	v->mc_pending = 1;
	vcpu_make_slow(v);
	events_nmi_timer_arm(v, 0);
}

/* #MC is an abort-class exception with no error code; it can go in whenever no other event is
 * queued (the guest's CR4.MCE decides what it does, as on hardware). */
void events_deliver_pending_mc(struct vcpu *v)
{
	if (vmcs_read32(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID)
		return; /* retried at the next exit; the zero-tick timer brings one soon */
	v->mc_pending = 0;
	if (vmcs_read32(VMCS_GUEST_ACTIVITY_STATE) == ACTIVITY_HLT)
		vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	vcpu_inject_exception(v, VEC_MC, 0, 0);
}

void events_exit_triple_fault(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	vcpu_dump_guest(v, "triple fault");
	vcpu_stop(v, "the guest triple-faulted (a real CPU would shut down)");
}

/* The preemption timer: a retry for a pending NMI (events_nmi_timer_arm), or CPU 0's statistics
 * clock (stats_interval=). */
void events_exit_preemption_timer(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	struct vm *vm = v->vm;
	exception_timer(v); /* trap=exceptions: a vector let through for one delivery is trapped again */
	if (v->nmi_timer) {
		events_nmi_timer_disarm(v); /* vmx_exit_handler retries the NMI / #MC after this */
		if (v->nmi_pending || v->mc_pending)
			return;
		if (!events_stats_clock(v))
			return;
	}
	uint64_t now = rdtsc();
	if (now - vm->stats_last >= vm->stats_ticks) {
		vm->stats_last = now;
		stats_print(vm);
	}
	vmcs_write32(VMCS_PREEMPTION_TIMER, events_stats_timer_value(vm));
}

