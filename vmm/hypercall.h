/* The VMCALL hypercall interface (ABI in vmm/hypercall_abi.h, docs/hypercalls.md) and the exit
 * statistics it reports. VMX root. */
#ifndef KEEL_VMM_HYPERCALL_H
#define KEEL_VMM_HYPERCALL_H

#include "exit.h"
#include "emulate.h" /* KEEL_VERSION_CODE */
#include "hypercall_abi.h"

void hypercall_handle(struct vcpu *v, struct guest_regs *r, const struct exit_info *e);

/* Prints the exit counts of every virtualized CPU as a table, one row per exit reason seen. */
void stats_print(const struct vm *vm);

/* The calls that need no memory and no CPL check (both are allowed at CPL 3): NOP and VERSION.
 * Returns 1 with RAX (and results) written, 0 for any other call. RIP is the caller's. */
static inline int hypercall_simple(const struct vcpu *v, struct guest_regs *r)
{
	if (r->gpr[GPR_RAX] == KEEL_HC_NOP) {
		r->gpr[GPR_RAX] = KEEL_HC_OK;
		return 1;
	}
	if (r->gpr[GPR_RAX] == KEEL_HC_VERSION) {
		r->gpr[GPR_RAX] = KEEL_HC_OK;
		r->gpr[GPR_RBX] = KEEL_VERSION_CODE;
		r->gpr[GPR_RCX] = v->vm->nvirt;
		return 1;
	}
	return 0;
}

/* True when a call number may be made from CPL 3. */
int hypercall_allowed_from_user(uint64_t nr);

#endif
