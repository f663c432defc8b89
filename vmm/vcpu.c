/* Per-vCPU primitives every exit handler shares: finding the current vCPU, RIP advance, event
 * injection, state dumps, stopping. VMX root, interrupts off. */
#include "vcpu.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "rip.h"
#include "vmcs.h"

_Static_assert(offsetof(struct vcpu, self) == 0, "vcpu_in_root reads the self pointer at %gs:0");

/*
 * In VMX root, RSP lies on a host stack inside keel's memory and GS.base is HOST_GS_BASE, the vCPU
 * (SDM 27.5.2: VM exit loads GS.base from the host-state area). Anywhere else (keel's boot code as
 * the guest, or before launch) the stack is the firmware's and GS is not keel's to read.
 */
struct vcpu *vcpu_in_root(void)
{
	uint64_t sp = (uint64_t)(uintptr_t)__builtin_frame_address(0);
	if (sp - keel_vm.mem_base >= keel_vm.mem_size)
		return 0;
	struct vcpu *v;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(v));
	return v;
}

uint32_t vcpu_this_apic_id(void)
{
	struct cpuid_regs r;
	cpuid(0, 0, &r);
	if (r.eax >= 0xB) {
		cpuid(0xB, 0, &r);
		if (r.ebx & 0xFFFF) /* leaf 0xB is implemented: EDX holds the full x2APIC ID */
			return r.edx;
	}
	cpuid(1, 0, &r);
	return r.ebx >> 24;
}

struct vcpu *vcpu_current(void)
{
	struct vcpu *v = vcpu_in_root();
	if (v)
		return v;
	uint32_t id = vcpu_this_apic_id();
	for (unsigned i = 0; i < KEEL_MAX_CPUS; i++)
		if (keel_vm.vcpus[i] && keel_vm.vcpus[i]->apic_id == id)
			return keel_vm.vcpus[i];
	return 0;
}

void vcpu_skip_instruction(struct vcpu *v)
{
	(void)v;
	vcpu_complete_instruction();
}

/* Fault-class exceptions (SDM Vol. 3A table 6-1); #DB is a fault only for instruction breakpoints,
 * which keel never injects. */
int vcpu_exception_is_fault(unsigned vector)
{
	return vector == VEC_DE || vector == 5 || vector == VEC_UD || vector == 7 || (vector >= 10 && vector <= 14) ||
	       vector == 16 || vector == 17 || vector == 19 || vector == 20 || vector == 21;
}

void vcpu_inject_exception(struct vcpu *v, unsigned vector, int has_error, uint32_t error)
{
	(void)v;
	uint32_t info = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | vector;
	/* Real mode pushes no error code, and VM entry refuses one there (SDM Vol. 3C 26.2.1.3). */
	if (has_error && (vmcs_readnat(VMCS_GUEST_CR0) & CR0_PE)) {
		info |= INTR_INFO_DELIVER_CODE;
		vmcs_write32(VMCS_ENTRY_EXCEPTION_ERROR, error);
	}
	/* A CPU delivering a fault saves RFLAGS with RF set, so that the handler's IRET does not hit
	 * an instruction breakpoint on the faulting instruction again (SDM Vol. 3A 17.3.1.1); an
	 * injected event pushes the RFLAGS field as it is, so keel sets RF there. */
	if (vcpu_exception_is_fault(vector))
		vmcs_writenat(VMCS_GUEST_RFLAGS, vmcs_readnat(VMCS_GUEST_RFLAGS) | RFLAGS_RF);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, info);
}

void vcpu_dump_guest(struct vcpu *v, const char *why)
{
#define SEG(n, S)                                                                                  \
	log_err("keel:   %s sel 0x%04x base 0x%llx limit 0x%x ar 0x%x", n, vmcs_read16(VMCS_GUEST_##S##_SEL), \
		(unsigned long long)vmcs_readnat(VMCS_GUEST_##S##_BASE), vmcs_read32(VMCS_GUEST_##S##_LIMIT), \
		vmcs_read32(VMCS_GUEST_##S##_AR))
	log_err("keel: guest state of cpu%u (%s):", v ? v->index : 0, why);
	log_err("keel:   RIP 0x%llx RSP 0x%llx RFLAGS 0x%llx", (unsigned long long)vmcs_readnat(VMCS_GUEST_RIP),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_RSP), (unsigned long long)vmcs_readnat(VMCS_GUEST_RFLAGS));
	log_err("keel:   CR0 0x%llx (shadow 0x%llx) CR3 0x%llx CR4 0x%llx (shadow 0x%llx) EFER 0x%llx",
		(unsigned long long)vmcs_readnat(VMCS_GUEST_CR0), (unsigned long long)vmcs_readnat(VMCS_CR0_SHADOW),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_CR3), (unsigned long long)vmcs_readnat(VMCS_GUEST_CR4),
		(unsigned long long)vmcs_readnat(VMCS_CR4_SHADOW), (unsigned long long)guest_efer());
	SEG("CS", CS);
	SEG("SS", SS);
	SEG("DS", DS);
	SEG("ES", ES);
	SEG("FS", FS);
	SEG("GS", GS);
	SEG("TR", TR);
	SEG("LDTR", LDTR);
	log_err("keel:   GDTR 0x%llx/0x%x IDTR 0x%llx/0x%x DR7 0x%llx PAT 0x%llx DEBUGCTL 0x%llx",
		(unsigned long long)vmcs_readnat(VMCS_GUEST_GDTR_BASE), vmcs_read32(VMCS_GUEST_GDTR_LIMIT),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_IDTR_BASE), vmcs_read32(VMCS_GUEST_IDTR_LIMIT),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_DR7), (unsigned long long)guest_pat(),
		(unsigned long long)vmcs_read64(VMCS_GUEST_DEBUGCTL));
	log_err("keel:   interruptibility 0x%x activity %u pending-dbg 0x%llx link 0x%llx",
		vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), vmcs_read32(VMCS_GUEST_ACTIVITY_STATE),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_PENDING_DBG), (unsigned long long)vmcs_read64(VMCS_LINK_POINTER));
	log_err("keel:   controls pin 0x%x proc 0x%x proc2 0x%x exit 0x%x entry 0x%x entry-intr 0x%x",
		vmcs_read32(VMCS_PIN_CONTROLS), vmcs_read32(VMCS_PROC_CONTROLS), vmcs_read32(VMCS_PROC2_CONTROLS),
		vmcs_read32(VMCS_EXIT_CONTROLS), vmcs_read32(VMCS_ENTRY_CONTROLS), vmcs_read32(VMCS_ENTRY_INTR_INFO));
#undef SEG
}

void vcpu_stop(struct vcpu *v, const char *why)
{
	log_err("keel: cpu%u stopped: %s; this CPU stays parked in VMX root", v->index, why);
	v->stopped = 1;
	for (;;) {
		cli();
		hlt();
	}
}

void vcpu_flush_ept(struct vcpu *v)
{
	if (v->vm->shadow && !v->vm->unpaged_ept)
		return; /* no EPT under shadow paging (and INVEPT may not exist: #UD) */
	unsigned type = vmx_caps_invept_type(&v->vm->caps);
	invept(type, v->vm->eptp); /* vmx_caps_unavailable_reason refused a CPU with neither type */
}

void vcpu_flush_vpid(struct vcpu *v)
{
	if (v->vpid) /* VPID is on only with a single- or all-context INVVPID (vmx_caps_has_vpid) */
		invvpid(vmx_caps_invvpid_type(&v->vm->caps), v->vpid);
}
