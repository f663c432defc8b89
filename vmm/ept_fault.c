/* EPT violations and misconfigurations: guest accesses to keel's hidden memory (all ones / discarded
 * writes) and to device memory beyond the EPT map built at start. VMX root. */
#include "../arch/x86/ept.h"
#include "../lib/log.h"
#include "handlers.h"
#include "sipi.h"
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

/*
 * Beyond the map built at start: device memory (64-bit BARs, GPU apertures) mapped on demand by
 * the largest page that fits, with the MTRR type, from a fixed budget with reclaim (mm/ept.c), so
 * neither memory nor the log grows with the guest's device accesses. A GPA the EPT walk cannot
 * express (at or above 2^48 on a CPU without 5-level EPT) has no mapping to give: #GP, as keel
 * cannot complete the access, reported once.
 */
static void device_fault(struct vcpu *v, uint64_t gpa)
{
	struct vm *vm = v->vm;
	struct ept_dev_map m;
	int rc = ept_map_device(&vm->ept, gpa, &m);

	if (rc == EPT_DEV_REFUSED) {
		if (!__atomic_exchange_n(&vm->device_refused_logged, 1, __ATOMIC_RELAXED))
			log_warn("keel: cpu%u: guest access to GPA 0x%llx, which keel's EPT cannot map (%u-level walk): #GP",
				 v->index, (unsigned long long)gpa, vm->ept.levels);
		vcpu_inject_gp(v);
		return;
	}
	if (rc == EPT_DEV_MAPPED && __atomic_fetch_add(&vm->device_maps_logged, 1, __ATOMIC_RELAXED) == 0)
		log_info("keel: cpu%u: device memory beyond the EPT map: 0x%llx mapped on demand (%llu KiB pages, %s); "
			 "later mappings are counted, not logged",
			 v->index, (unsigned long long)m.base, (unsigned long long)(m.size >> 10), mtrr_type_name(m.type));
	if (rc == EPT_DEV_RECLAIMED) {
		vcpu_flush_ept(v);
		v->seen_dev_gen = vm->ept.dev_gen;
		for (unsigned i = 0; i < KEEL_MAX_CPUS; i++) /* the others flush at their next exit */
			if (vm->vcpus[i] && vm->vcpus[i] != v)
				vcpu_make_slow(vm->vcpus[i]);
	}
	/* EPT_DEV_MAPPED / EPT_DEV_PRESENT: the violation already invalidated what this CPU cached for
	 * the faulting GPA (SDM Vol. 3C 28.3.3.1), and nothing present was changed. */
}

void ept_exit_violation(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
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
	} else if (page == vm->apic_page && page) {
		sipi_exit_apic_write(v, r, gpa); /* the sender's side of INIT/SIPI (vmm/sipi.c) */
		return;
	} else if (page >= vm->ept.map_top) {
		device_fault(v, gpa);
		return;
	} else {
		log_err("keel: EPT violation at GPA 0x%llx (qualification 0x%llx, RIP 0x%llx) inside the map",
			(unsigned long long)gpa, (unsigned long long)e->qualification,
			(unsigned long long)vmcs_readnat(VMCS_GUEST_RIP));
		vcpu_dump_guest(v, "EPT violation");
		vcpu_stop(v, "unexpected EPT violation");
	}
	if (rc)
		vcpu_stop(v, "out of memory for EPT tables");
	vcpu_flush_ept(v);
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
