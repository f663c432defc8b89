/* VMX capabilities: probed once per boot from CPUID and the IA32_VMX_* MSRs, then asked through
 * one-line predicates. Probing runs at CPL 0 (UEFI or VMX root); decoding is pure logic. */
#include "caps.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../arch/x86/vmx.h"
#include "../lib/log.h"
#include "../lib/string.h"

void vmx_caps_probe(struct vmx_caps *c)
{
	struct cpuid_regs r;

	memset(c, 0, sizeof(*c));
	cpuid(1, 0, &r);
	c->cpuid1_ecx = r.ecx;
	cpuid(0x80000000, 0, &r);
	if (r.eax >= 0x80000008) {
		cpuid(0x80000001, 0, &r);
		c->cpuid81_edx = r.edx;
		cpuid(0x80000008, 0, &r);
		c->max_phys_bits = r.eax & 0xFF;
	} else {
		c->max_phys_bits = 36;
	}
	c->cr4 = read_cr4();
	if (!(c->cpuid1_ecx & CPUID1_ECX_VMX))
		return;

	c->feature_control = rdmsr(MSR_IA32_FEATURE_CONTROL);
	c->basic = rdmsr(MSR_IA32_VMX_BASIC);
	c->pinbased = rdmsr(MSR_IA32_VMX_PINBASED_CTLS);
	c->procbased = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS);
	c->exit = rdmsr(MSR_IA32_VMX_EXIT_CTLS);
	c->entry = rdmsr(MSR_IA32_VMX_ENTRY_CTLS);
	c->misc = rdmsr(MSR_IA32_VMX_MISC);
	c->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
	c->vmcs_enum = rdmsr(MSR_IA32_VMX_VMCS_ENUM);
	if (c->basic & VMX_BASIC_TRUE_CTLS) {
		c->true_pinbased = rdmsr(MSR_IA32_VMX_TRUE_PINBASED_CTLS);
		c->true_procbased = rdmsr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
		c->true_exit = rdmsr(MSR_IA32_VMX_TRUE_EXIT_CTLS);
		c->true_entry = rdmsr(MSR_IA32_VMX_TRUE_ENTRY_CTLS);
	}
	/* PROCBASED_CTLS2 exists only when "activate secondary controls" may be 1 (SDM A.3.3). */
	if (c->procbased & (PROC_SECONDARY_CONTROLS << 32)) {
		c->procbased2 = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2);
		if (c->procbased2 & ((PROC2_ENABLE_EPT | PROC2_ENABLE_VPID) << 32))
			c->ept_vpid = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
	}
	c->msrs_read = 1;
}

uint32_t vmx_adjust_controls(uint64_t cap, uint32_t want, uint32_t *missing)
{
	uint32_t must1 = (uint32_t)cap, may1 = (uint32_t)(cap >> 32);
	if (missing)
		*missing = want & ~may1;
	return (want | must1) & may1;
}

static uint64_t pick(const struct vmx_caps *c, uint64_t plain, uint64_t true_msr)
{
	return (c->basic & VMX_BASIC_TRUE_CTLS) ? true_msr : plain;
}

uint64_t vmx_caps_pinbased(const struct vmx_caps *c) { return pick(c, c->pinbased, c->true_pinbased); }
uint64_t vmx_caps_procbased(const struct vmx_caps *c) { return pick(c, c->procbased, c->true_procbased); }
uint64_t vmx_caps_exit(const struct vmx_caps *c) { return pick(c, c->exit, c->true_exit); }
uint64_t vmx_caps_entry(const struct vmx_caps *c) { return pick(c, c->entry, c->true_entry); }

int vmx_caps_has_secondary(const struct vmx_caps *c)
{
	return !!(c->procbased & (PROC_SECONDARY_CONTROLS << 32));
}

int vmx_caps_allows2(const struct vmx_caps *c, uint32_t bit)
{
	return vmx_caps_has_secondary(c) && ((c->procbased2 >> 32) & bit) == bit;
}

int vmx_caps_has_ept(const struct vmx_caps *c)
{
	return vmx_caps_allows2(c, PROC2_ENABLE_EPT) && (c->ept_vpid & EPT_CAP_WALK_4);
}

int vmx_caps_has_vpid(const struct vmx_caps *c)
{
	/* keel flushes a vCPU's VPID with single- or all-context INVVPID: one must exist. */
	return vmx_caps_allows2(c, PROC2_ENABLE_VPID) && (c->ept_vpid & VPID_CAP_INVVPID) &&
	       vmx_caps_invvpid_type(c);
}

unsigned vmx_caps_invept_type(const struct vmx_caps *c)
{
	if (!(c->ept_vpid & EPT_CAP_INVEPT))
		return 0;
	return (c->ept_vpid & EPT_CAP_INVEPT_SINGLE) ? INVEPT_SINGLE_CONTEXT
	       : (c->ept_vpid & EPT_CAP_INVEPT_ALL)  ? INVEPT_ALL_CONTEXT
						      : 0;
}

unsigned vmx_caps_invvpid_type(const struct vmx_caps *c)
{
	if (!(c->ept_vpid & VPID_CAP_INVVPID))
		return 0;
	return (c->ept_vpid & VPID_CAP_SINGLE_CONTEXT) ? INVVPID_SINGLE_CONTEXT
	       : (c->ept_vpid & VPID_CAP_ALL_CONTEXT)  ? INVVPID_ALL_CONTEXT
							: 0;
}

int vmx_caps_has_unrestricted(const struct vmx_caps *c)
{
	return vmx_caps_allows2(c, PROC2_UNRESTRICTED_GUEST);
}

int vmx_caps_has_ept_2m(const struct vmx_caps *c) { return !!(c->ept_vpid & EPT_CAP_PDE_2M); }
int vmx_caps_has_ept_1g(const struct vmx_caps *c) { return !!(c->ept_vpid & EPT_CAP_PDPTE_1G); }
int vmx_caps_has_ept_wb(const struct vmx_caps *c) { return !!(c->ept_vpid & EPT_CAP_MEMTYPE_WB); }

/* What every mode needs (EPT or shadow paging). */
const char *vmx_caps_shadow_unavailable_reason(const struct vmx_caps *c)
{
	if (!(c->cpuid1_ecx & CPUID1_ECX_VMX))
		return "CPUID.1:ECX.VMX[bit 5] is 0 (this processor, or the hypervisor below keel, "
		       "does not offer VMX)";
	if (!c->msrs_read)
		return "the VMX capability MSRs could not be read";
	if ((c->feature_control & FEATURE_CONTROL_LOCK) &&
	    !(c->feature_control & FEATURE_CONTROL_VMX_OUTSIDE_SMX))
		return "VT-x is disabled in the firmware setup (IA32_FEATURE_CONTROL is locked with "
		       "VMX outside SMX off)";
	if (c->cr4 & CR4_VMXE)
		return "CR4.VMXE is already set: another hypervisor or driver owns VMX on this CPU";
	if (!vmx_caps_has_secondary(c))
		return "the CPU has no secondary processor-based controls (needed for EPT)";
	if (c->cr4 & CR4_LA57)
		return "the firmware runs 5-level paging (CR4.LA57) and keel's host page tables are 4-level";
	if (VMX_BASIC_VMCS_SIZE(c->basic) > 4096)
		return "the VMCS region is larger than 4 KiB";
	return 0;
}

const char *vmx_caps_ept_unavailable_reason(const struct vmx_caps *c)
{
	if (!vmx_caps_has_secondary(c))
		return "the CPU has no secondary processor-based controls (needed for EPT)";
	if (!vmx_caps_has_ept(c))
		return "the CPU has no EPT with a 4-level walk";
	if (!vmx_caps_has_ept_wb(c) && !(c->ept_vpid & EPT_CAP_MEMTYPE_UC))
		return "EPT supports neither write-back nor uncacheable paging-structure memory";
	if (!vmx_caps_invept_type(c))
		return "the CPU offers no single- or all-context INVEPT (IA32_VMX_EPT_VPID_CAP bits 20, 25, 26)";
	if (!vmx_caps_has_unrestricted(c))
		return "the CPU has no unrestricted-guest support (needed to run real-mode AP start-up)";
	return 0;
}

/* EPT mode: the shared rules, then what only EPT needs, in the order a user meets them. */
const char *vmx_caps_unavailable_reason(const struct vmx_caps *c)
{
	const char *why = vmx_caps_shadow_unavailable_reason(c);
	return why ? why : vmx_caps_ept_unavailable_reason(c);
}

/* Takes the 64-bit mask itself: VMX_BASIC bit 55 and the VPID_CAP bits 40-43 do not fit an int. */
static const char *yes_no(uint64_t v) { return v ? "yes" : "no"; }

void vmx_caps_report(const struct vmx_caps *c)
{
	uint64_t e = c->ept_vpid;

	log_info("keel: vmx: CPUID.1:ECX.VMX=%d SMX=%d, max physical address %u bits, 1 GiB host pages %s",
		 !!(c->cpuid1_ecx & CPUID1_ECX_VMX), !!(c->cpuid1_ecx & CPUID1_ECX_SMX), c->max_phys_bits,
		 yes_no(c->cpuid81_edx & CPUID81_EDX_PAGE1GB));
	if (!c->msrs_read)
		return;
	log_info("keel: vmx: IA32_FEATURE_CONTROL=0x%llx (lock %s, VMX outside SMX %s)",
		 (unsigned long long)c->feature_control, yes_no(c->feature_control & FEATURE_CONTROL_LOCK),
		 yes_no(c->feature_control & FEATURE_CONTROL_VMX_OUTSIDE_SMX));
	log_info("keel: vmx: IA32_VMX_BASIC=0x%016llx (revision 0x%x, VMCS %u bytes, memory type %u, TRUE "
		 "controls %s)",
		 (unsigned long long)c->basic, VMX_BASIC_REVISION(c->basic), VMX_BASIC_VMCS_SIZE(c->basic),
		 VMX_BASIC_MEMTYPE(c->basic), yes_no(c->basic & VMX_BASIC_TRUE_CTLS));
	log_info("keel: vmx: secondary controls %s (allowed-1 0x%08x)", yes_no(vmx_caps_has_secondary(c)),
		 (unsigned)(c->procbased2 >> 32));
	log_info("keel: vmx: EPT %s (4-level walk %s, 2 MiB pages %s, 1 GiB pages %s, WB %s, UC %s, A/D %s, "
		 "INVEPT single %s, all %s)",
		 yes_no(vmx_caps_has_ept(c)), yes_no(e & EPT_CAP_WALK_4), yes_no(e & EPT_CAP_PDE_2M),
		 yes_no(e & EPT_CAP_PDPTE_1G), yes_no(e & EPT_CAP_MEMTYPE_WB), yes_no(e & EPT_CAP_MEMTYPE_UC),
		 yes_no(e & EPT_CAP_AD), yes_no(e & EPT_CAP_INVEPT_SINGLE), yes_no(e & EPT_CAP_INVEPT_ALL));
	log_info("keel: vmx: VPID %s (INVVPID address %s, single %s, all %s, single-keep-globals %s)",
		 yes_no(vmx_caps_has_vpid(c)), yes_no(e & VPID_CAP_INDIVIDUAL_ADDR), yes_no(e & VPID_CAP_SINGLE_CONTEXT),
		 yes_no(e & VPID_CAP_ALL_CONTEXT), yes_no(e & VPID_CAP_SINGLE_CONTEXT_KEEP_GLOBALS));
	log_info("keel: vmx: unrestricted guest %s, preemption timer %s (TSC >> %u), wait-for-SIPI %s",
		 yes_no(vmx_caps_has_unrestricted(c)), yes_no((vmx_caps_pinbased(c) >> 32) & PIN_PREEMPTION_TIMER),
		 VMX_MISC_PREEMPT_RATE(c->misc), yes_no(c->misc & VMX_MISC_ACTIVITY_WAIT_SIPI));
	log_info("keel: vmx: RDTSCP %s, INVPCID %s, XSAVES %s, MSR bitmaps %s, EPT_VPID_CAP=0x%016llx",
		 yes_no(vmx_caps_allows2(c, PROC2_ENABLE_RDTSCP)), yes_no(vmx_caps_allows2(c, PROC2_ENABLE_INVPCID)),
		 yes_no(vmx_caps_allows2(c, PROC2_ENABLE_XSAVES)),
		 yes_no((vmx_caps_procbased(c) >> 32) & PROC_USE_MSR_BITMAPS), (unsigned long long)e);
}
