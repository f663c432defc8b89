/* The guest's IA32_EFER and IA32_PAT. Where the CPU has the VM-entry/VM-exit controls that load
 * and save them (Nehalem and later), they live in the VMCS guest-state area. Where it lacks them
 * (Core 2: core2_penryn_t9600), VM entry loads them from an MSR-load list that is also the VM-exit
 * MSR-store list, and VM exit loads keel's own from a second list (SDM Vol. 3C 25.7.2, 25.8.2,
 * 26.4, 28.4, 28.6). Every reader and writer of the two goes through here. VMX root or setup,
 * with a VMCS current. */
#ifndef KEEL_VMM_GUEST_MSRS_H
#define KEEL_VMM_GUEST_MSRS_H

#include <stdint.h>

#include "vmcs.h"

/* One entry of a VM-entry/VM-exit MSR list (SDM Vol. 3C table 25-15); lists are 16-byte aligned. */
struct vmx_msr_entry {
	uint32_t index;
	uint32_t reserved;
	uint64_t value;
};
_Static_assert(sizeof(struct vmx_msr_entry) == 16, "SDM Vol. 3C table 25-15");

enum { LISTED_EFER, LISTED_PAT, LISTED_COUNT };

/* 1: EFER and PAT are switched through the MSR lists (set by vmx_compute_controls). */
extern int guest_msrs_listed;

/* A guest-state field by its VMCS encoding; GUEST_EFER and GUEST_PAT go to the list when listed. */
uint64_t guest_field_read(uint32_t field);
void guest_field_write(uint32_t field, uint64_t val);
/* Inline: most exits that touch guest memory or decode an operand ask for EFER. */
static inline uint64_t guest_efer(void)
{
	return guest_msrs_listed ? guest_field_read(VMCS_GUEST_EFER) : vmcs_read_raw(VMCS_GUEST_EFER);
}
void guest_set_efer(uint64_t val);
uint64_t guest_pat(void);
void guest_set_pat(uint64_t val);
/* Fills v's two lists (guest values: the CPU's current ones; keel's: host_efer, host_pat) and
 * points the VMCS at them. */
struct vcpu;
void guest_msrs_setup_lists(struct vcpu *v, uint64_t host_efer, uint64_t host_pat);

#endif
