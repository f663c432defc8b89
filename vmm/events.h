/* Events keel delivers or reacts to: NMIs that hit keel in VMX root, the VMX-preemption timer (NMI
 * retries and the statistics clock). VMX root, on the current vCPU's VMCS. */
#ifndef KEEL_VMM_EVENTS_H
#define KEEL_VMM_EVENTS_H

#include <stdint.h>

#include "../arch/x86/msr.h"
#include "vcpu.h"

/* Preemption-timer start value for one statistics interval (saturated to 32 bits). */
static inline uint32_t events_stats_timer_value(const struct vm *vm)
{
	uint64_t t = vm->stats_ticks >> VMX_MISC_PREEMPT_RATE(vm->caps.misc);
	return t > 0xFFFFFFFFULL ? 0xFFFFFFFFu : (uint32_t)t;
}

/* True when v's preemption timer is the statistics clock (stats_interval=, CPU 0). */
static inline int events_stats_clock(const struct vcpu *v) { return v->vm->stats_ticks && v->index == 0; }

/*
 * Arms v's VMX-preemption timer (the current VMCS must be v's) to force a VM exit `ticks` timer
 * ticks after the next VM entry (0: right after it), so a pending NMI gets another chance.
 * Returns 0, or -1 when the CPU has no preemption timer.
 */
int events_nmi_timer_arm(struct vcpu *v, uint32_t ticks);
/* After that exit: the timer is off again unless it is the statistics clock. */
void events_nmi_timer_disarm(struct vcpu *v);

/* An NMI reached keel in VMX root on v (vmm/host.c): the guest's, to inject. Logs nothing (the
 * NMI may have interrupted the logger). */
void events_nmi_in_root(struct vcpu *v);
/* A machine check reached keel in VMX root on v: the guest's, queued like an NMI. */
void events_mc_in_root(struct vcpu *v);
/* Injects v's pending #MC unless another event is queued for this entry. */
void events_deliver_pending_mc(struct vcpu *v);
/* Injects v's pending NMI if the guest can take one now, else arms the retry timer. */
void events_deliver_pending_nmi(struct vcpu *v);

/* trap=exceptions (vmm/exception.c): at a preemption-timer exit, traps again the vectors an
 * exception exit let through for one event delivery. */
void exception_timer(struct vcpu *v);

#endif
