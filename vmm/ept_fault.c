/* EPT violations and misconfigurations: guest accesses to keel's hidden memory (all ones / discarded
 * writes) and to device memory beyond the EPT map built at start. VMX root. */
#include "../arch/x86/ept.h"
#include "../lib/log.h"
#include "handlers.h"
#include "vmcs.h"

void hidden_access_log(struct vcpu *v, uint64_t page, int write, uint64_t rip)
{
	struct vm *vm = v->vm;
	const unsigned max = sizeof(vm->hidden_logged) / sizeof(vm->hidden_logged[0]);

	/* nhidden_logged never exceeds max: reading past the array would let the compiler assume
	 * the bound check below always holds (it did, and overwrote the exit-handler table). */
	for (unsigned i = 0; i < vm->nhidden_logged; i++)
		if (vm->hidden_logged[i] == page)
			return;
	if (vm->nhidden_logged < max) {
		vm->hidden_logged[vm->nhidden_logged++] = page;
	} else {
		if (!vm->hidden_log_full) {
			vm->hidden_log_full = 1;
			log_warn("keel: more guest accesses to keel's memory: no longer reported page by page");
		}
		return;
	}
	log_warn("keel: cpu%u: guest %s keel's hidden page 0x%llx at RIP 0x%llx: %s", v->index,
		 write ? "wrote to" : "read", (unsigned long long)page, (unsigned long long)rip,
		 write ? "write discarded" : "reads return all ones");
}

void ept_exit_violation(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	uint64_t gpa = vmcs_read64(VMCS_GUEST_PHYSICAL_ADDRESS);
	struct vm *vm = v->vm;
	int hidden = ept_is_hidden(&vm->ept, gpa);
	uint64_t page = gpa & ~0xFFFULL;
	int rc;

	if (hidden) {
		/* keel's own memory: reads see all ones, writes land in a scratch page (docs/memory.md). */
		int write = !!(e->qualification & EPTQ_WRITE);
		hidden_access_log(v, page, write, vmcs_readnat(VMCS_GUEST_RIP));
		rc = ept_map_4k(&vm->ept, page, (uint64_t)(uintptr_t)(write ? vm->sink_page : vm->ones_page),
				write ? EPT_RWX : (EPT_R | EPT_X), MT_WB);
	} else if (page >= vm->ept.map_top) {
		/* Beyond the map built at start (a device placed high): identity, uncached, as hardware. */
		log_info("keel: cpu%u: guest touched 0x%llx beyond the EPT map: mapping it uncached", v->index,
			 (unsigned long long)gpa);
		rc = ept_map_4k(&vm->ept, page, page, EPT_RWX, MT_UC);
	} else {
		log_err("keel: EPT violation at GPA 0x%llx (qualification 0x%llx, RIP 0x%llx) inside the map",
			(unsigned long long)gpa, (unsigned long long)e->qualification,
			(unsigned long long)vmcs_readnat(VMCS_GUEST_RIP));
		vcpu_dump_guest(v, "EPT violation");
		vcpu_stop(v, "unexpected EPT violation");
	}
	if (rc)
		vcpu_stop(v, "out of memory for EPT tables");
	invept(INVEPT_SINGLE_CONTEXT, vm->eptp);
}

void ept_exit_misconfig(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	log_err("keel: EPT misconfiguration at GPA 0x%llx, RIP 0x%llx",
		(unsigned long long)vmcs_read64(VMCS_GUEST_PHYSICAL_ADDRESS),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_RIP));
	vcpu_stop(v, "EPT misconfiguration (a keel bug)");
}
