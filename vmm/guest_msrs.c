/* The guest's IA32_EFER and IA32_PAT, in the VMCS or in MSR lists (guest_msrs.h). */
#include "guest_msrs.h"

#include "../arch/x86/msr.h"
#include "vcpu.h"
#include "vmcs.h"

int guest_msrs_listed;

/* The VM-entry MSR-load list of the current VMCS: keel's memory is identity-mapped in root. */
static struct vmx_msr_entry *guest_list(void)
{
	return (struct vmx_msr_entry *)(uintptr_t)vmcs_read64(VMCS_ENTRY_MSR_LOAD_ADDR);
}

uint64_t guest_field_read(uint32_t field)
{
	if (guest_msrs_listed && field == VMCS_GUEST_EFER)
		return guest_list()[LISTED_EFER].value;
	if (guest_msrs_listed && field == VMCS_GUEST_PAT)
		return guest_list()[LISTED_PAT].value;
	return vmcs_read_raw(field);
}

void guest_field_write(uint32_t field, uint64_t val)
{
	if (guest_msrs_listed && field == VMCS_GUEST_EFER)
		guest_list()[LISTED_EFER].value = val;
	else if (guest_msrs_listed && field == VMCS_GUEST_PAT)
		guest_list()[LISTED_PAT].value = val;
	else
		vmcs_write_raw(field, val);
}

void guest_set_efer(uint64_t val) { guest_field_write(VMCS_GUEST_EFER, val); }
uint64_t guest_pat(void) { return guest_field_read(VMCS_GUEST_PAT); }
void guest_set_pat(uint64_t val) { guest_field_write(VMCS_GUEST_PAT, val); }

void guest_msrs_setup_lists(struct vcpu *v, uint64_t host_efer, uint64_t host_pat)
{
	v->guest_msr_list[LISTED_EFER] = (struct vmx_msr_entry){ .index = MSR_EFER };
	v->guest_msr_list[LISTED_PAT] = (struct vmx_msr_entry){ .index = MSR_IA32_PAT };
	v->host_msr_list[LISTED_EFER] = (struct vmx_msr_entry){ .index = MSR_EFER, .value = host_efer };
	v->host_msr_list[LISTED_PAT] = (struct vmx_msr_entry){ .index = MSR_IA32_PAT, .value = host_pat };
	uint64_t guest = (uint64_t)(uintptr_t)v->guest_msr_list, host = (uint64_t)(uintptr_t)v->host_msr_list;
	/* One list for both directions: VM exit stores the guest's values where VM entry loads them. */
	vmcs_write64(VMCS_ENTRY_MSR_LOAD_ADDR, guest);
	vmcs_write32(VMCS_ENTRY_MSR_LOAD_COUNT, LISTED_COUNT);
	vmcs_write64(VMCS_EXIT_MSR_STORE_ADDR, guest);
	vmcs_write32(VMCS_EXIT_MSR_STORE_COUNT, LISTED_COUNT);
	vmcs_write64(VMCS_EXIT_MSR_LOAD_ADDR, host);
	vmcs_write32(VMCS_EXIT_MSR_LOAD_COUNT, LISTED_COUNT);
}
