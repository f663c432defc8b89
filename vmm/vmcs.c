/* VMCS access with failure reporting, and the VM-instruction error table.
 * VMX root (and setup with the VMCS current); never called without a current VMCS. */
#include "vmcs.h"

#include "../arch/x86/cpu.h"
#include "../lib/log.h"

static unsigned failures;

const char *vmx_instruction_error_name(uint32_t err)
{
	static const char *const names[] = {
		[1] = "VMCALL executed in VMX root operation",
		[2] = "VMCLEAR with invalid physical address",
		[3] = "VMCLEAR with VMXON pointer",
		[4] = "VMLAUNCH with non-clear VMCS",
		[5] = "VMRESUME with non-launched VMCS",
		[6] = "VMRESUME after VMXOFF",
		[7] = "VM entry with invalid control field(s)",
		[8] = "VM entry with invalid host-state field(s)",
		[9] = "VMPTRLD with invalid physical address",
		[10] = "VMPTRLD with VMXON pointer",
		[11] = "VMPTRLD with incorrect VMCS revision identifier",
		[12] = "VMREAD/VMWRITE from/to unsupported VMCS component",
		[13] = "VMWRITE to read-only VMCS component",
		[15] = "VMXON executed in VMX root operation",
		[16] = "VM entry with invalid executive-VMCS pointer",
		[17] = "VM entry with non-launched executive VMCS",
		[18] = "VM entry with executive-VMCS pointer not VMXON pointer",
		[19] = "VMCALL with non-clear VMCS",
		[20] = "VMCALL with invalid VM-exit control fields",
		[22] = "VMCALL with incorrect MSEG revision identifier",
		[23] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
		[24] = "VMCALL with invalid SMM-monitor features",
		[25] = "VM entry with invalid VM-execution control fields in executive VMCS",
		[26] = "VM entry with events blocked by MOV SS",
		[28] = "invalid operand to INVEPT/INVVPID",
	};
	if (err < sizeof(names) / sizeof(names[0]) && names[err])
		return names[err];
	return "unknown VM-instruction error";
}

void vmx_report_failure(const char *what, uint64_t operand, int result)
{
	failures++;
	uint64_t err = 0;
	if (result == VMX_FAIL_UNKNOWN)
		result = vmread(VMCS_INSTRUCTION_ERROR, &err) ? VMX_FAIL_INVALID : VMX_FAIL_VALID;
	if (result == VMX_FAIL_INVALID) {
		log_err("keel: %s 0x%llx failed: VMfailInvalid (no current VMCS, or bad operand)", what,
			(unsigned long long)operand);
		return;
	}
	vmread(VMCS_INSTRUCTION_ERROR, &err);
	log_err("keel: %s 0x%llx failed: VMfailValid, VM-instruction error %u (%s)", what,
		(unsigned long long)operand, (unsigned)err, vmx_instruction_error_name((uint32_t)err));
}

unsigned vmcs_take_failures(void)
{
	unsigned n = failures;
	failures = 0;
	return n;
}

