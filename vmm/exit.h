/* The VM-exit dispatcher: a table of handlers by basic exit reason, and the decoded exit they get.
 * VMX root, interrupts off. */
#ifndef KEEL_VMM_EXIT_H
#define KEEL_VMM_EXIT_H

#include <stdint.h>

#include "vcpu.h"

/* What every handler gets; anything else it needs it reads from the VMCS itself (the guest RIP,
 * for instance, only matters to handlers that log), which keeps the common exits short. */
struct exit_info {
	unsigned reason;        /* basic exit reason */
	uint64_t qualification;
};

typedef void (*exit_handler_fn)(struct vcpu *v, struct guest_regs *r, const struct exit_info *e);

const char *exit_reason_name(unsigned reason);
/* Dumps the exit and the guest state, then injects #UD (or stops the vCPU when it cannot go on). */
void exit_unhandled(struct vcpu *v, struct guest_regs *r, const struct exit_info *e);

/* What the C fast path (vmx_exit_fast, vmm/exit.c) returns to the exit stub. */
#define EXIT_FAST_DONE 0  /* the instruction's effect is done: the stub completes it (RIP, blocking, TF) */
#define EXIT_FAST_SLOW 1  /* not handled, nothing changed: the full save and the dispatcher */
#define EXIT_FAST_EVENT 2 /* an event was queued for the guest (a reflected exception): RIP stays */

/* The frame the stub (arch/x86/vmx_entry.asm) passes to vmx_exit_fast as its struct guest_regs:
 * RAX, RCX, RDX and RBX in their places, then R8-R11, RDI and RSI in the slots below; nothing else
 * of the guest's. The vCPU pointer (HOST_RSP's slot) follows at FAST_FRAME_SLOTS * 8. */
enum { FAST_FRAME_R8 = 4, FAST_FRAME_R11 = 7, FAST_FRAME_RDI = 8, FAST_FRAME_RSI = 9, FAST_FRAME_SLOTS = 10 };

/* Recomputes v->fast (and the stub's CPUID mask) from the per-exit work pending (vmm/exit.c). */
void exit_fast_refresh(struct vcpu *v);

/* Set by the VM-entry checker when built in: names the SDM rules a failed entry broke. */
extern void (*vmx_entry_check_hook)(struct vcpu *v);

/* The handler of each basic exit reason (vmm/exit.c); NULL slots go to exit_unhandled. Writable
 * only in host unit tests. */
#ifdef KEEL_HOST_TEST
extern exit_handler_fn exit_handlers[EXIT_REASON_COUNT];
#else
extern exit_handler_fn const exit_handlers[EXIT_REASON_COUNT];
#endif

#endif
