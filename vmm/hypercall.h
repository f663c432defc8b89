/* The VMCALL hypercall interface (ABI in vmm/hypercall_abi.h, docs/hypercalls.md) and the exit
 * statistics it reports. VMX root. */
#ifndef KEEL_VMM_HYPERCALL_H
#define KEEL_VMM_HYPERCALL_H

#include "exit.h"
#include "hypercall_abi.h"

void hypercall_handle(struct vcpu *v, struct guest_regs *r, const struct exit_info *e);

/* Prints the exit counts of every virtualized CPU as a table, one row per exit reason seen. */
void stats_print(const struct vm *vm);

/* True when a call number may be made from CPL 3. */
int hypercall_allowed_from_user(uint64_t nr);

#endif
