/* The MSRs that live in the VMCS guest-state area (SDM Vol. 3C 24.4.1, 26.3.2.1, 27.3.1):
 * RDMSR/WRMSR of them reach the VMCS, not the CPU's registers, which hold keel's values in root.
 * They exit only under trap=msr (the all-ones bitmap). VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "emulate.h"
#include "handlers.h"
#include "vmcs.h"

/* IA32_DEBUGCTL bits a CPU may implement (SDM Vol. 4 table 2-2): LBR, BTF, 6-15 (TR, BTS, BTINT,
 * BTS_OFF_OS/USR, the freeze bits, uncore PMI, FREEZE_WHILE_SMM, RTM_DEBUG); bits 2-5 and 16-63
 * are reserved and WRMSR of them raises #GP(0). */
#define DEBUGCTL_DEFINED (BIT(0) | BIT(1) | (0x3FFULL << 6))

static int msr_guest_field(uint32_t msr, uint32_t *field)
{
	switch (msr) {
	case MSR_EFER: *field = VMCS_GUEST_EFER; return 1;
	case MSR_IA32_PAT: *field = VMCS_GUEST_PAT; return 1;
	case MSR_IA32_DEBUGCTL: *field = VMCS_GUEST_DEBUGCTL; return 1;
	case MSR_IA32_SYSENTER_CS: *field = VMCS_GUEST_SYSENTER_CS; return 1;
	case MSR_IA32_SYSENTER_ESP: *field = VMCS_GUEST_SYSENTER_ESP; return 1;
	case MSR_IA32_SYSENTER_EIP: *field = VMCS_GUEST_SYSENTER_EIP; return 1;
	case MSR_FS_BASE: *field = VMCS_GUEST_FS_BASE; return 1;
	case MSR_GS_BASE: *field = VMCS_GUEST_GS_BASE; return 1;
	default: return 0;
	}
}

int msr_guest_state_read(uint32_t msr, uint64_t *val)
{
	uint32_t field;
	if (!msr_guest_field(msr, &field))
		return 0;
	*val = guest_field_read(field);
	return 1;
}

int msr_guest_state_write(uint32_t msr, uint64_t val, int *fault_out)
{
	uint32_t field;
	if (!msr_guest_field(msr, &field))
		return 0;
	int fault = msr_write_faults(msr, val);
	if (msr == MSR_EFER) {
		/* LMA is read-only: it keeps its value. LME cannot change while paging is on (SDM
		 * Vol. 3A 9.8.5). */
		uint64_t cur = guest_efer();
		if (((val ^ cur) & EFER_LME) && (vmcs_readnat(VMCS_GUEST_CR0) & CR0_PG))
			fault = 1;
		val = (val & ~EFER_LMA) | (cur & EFER_LMA);
	} else if (msr == MSR_IA32_DEBUGCTL) {
		fault = fault || (val & ~DEBUGCTL_DEFINED);
	} else if (msr == MSR_IA32_SYSENTER_CS) {
		val &= 0xFFFFFFFF; /* a 32-bit field */
	}
	*fault_out = fault;
	if (!fault)
		guest_field_write(field, val);
	return 1;
}
