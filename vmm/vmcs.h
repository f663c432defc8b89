/* Width-typed VMCS accessors: the field's width is checked at compile time from its encoding, and
 * every VMfail goes to one reporter that decodes the VM-instruction error. VMX root or setup. */
#ifndef KEEL_VMM_VMCS_H
#define KEEL_VMM_VMCS_H

#include <stdint.h>

#include "../arch/x86/vmcs.h"

/*
 * Reports a failed VMX instruction: what was attempted, VMfailInvalid or VMfailValid, and for the
 * latter the decoded VM-instruction error. Counts failures so setup can detect them afterwards.
 */
void vmx_report_failure(const char *what, uint64_t operand, int result);

#ifdef KEEL_HOST_TEST
/* Host unit tests back these with an array (tests/unit/vmcs_fake.c). */
uint64_t vmcs_read_raw(uint32_t field);
void vmcs_write_raw(uint32_t field, uint64_t value);
static inline int vmcs_read_or_fail(uint32_t field, uint64_t *v)
{
	*v = vmcs_read_raw(field);
	return 0;
}
#else
#include "../arch/x86/cpu.h"

/* Inline, and two instructions on the good path (VMREAD/VMWRITE, then JBE on CF|ZF): the exit path
 * does about ten of these per exit. Failures leave through vmx_report_failure. */
static inline uint64_t vmcs_read_raw(uint32_t field)
{
	uint64_t v;
	__asm__ goto("vmread %1, %0\n\tjbe %l[fail]" : "=r"(v) : "r"((uint64_t)field) : "cc" : fail);
	return v;
fail:
	vmx_report_failure("VMREAD of field", field, VMX_FAIL_UNKNOWN);
	return 0;
}

/* As vmcs_read_raw, but a failure (reported the same way) returns 1 and leaves *v unset: the
 * fast exit path then hands the exit on, and needs no frame to keep its arguments across a call. */
static inline int vmcs_read_or_fail(uint32_t field, uint64_t *v)
{
	__asm__ goto("vmread %1, %0\n\tjbe %l[fail]" : "=r"(*v) : "r"((uint64_t)field) : "cc" : fail);
	return 0;
fail:
	vmx_report_failure("VMREAD of field", field, VMX_FAIL_UNKNOWN);
	return 1;
}

static inline void vmcs_write_raw(uint32_t field, uint64_t value)
{
	__asm__ goto("vmwrite %1, %0\n\tjbe %l[fail]" : : "r"((uint64_t)field), "rm"(value) : "cc" : fail);
	return;
fail:
	vmx_report_failure("VMWRITE of field", field, VMX_FAIL_UNKNOWN);
}
#endif

#define VMCS_CHECKED(f, w) ({ _Static_assert(VMCS_WIDTH(f) == (w), "VMCS field width mismatch"); (f); })

#define vmcs_read16(f) ((uint16_t)vmcs_read_raw(VMCS_CHECKED(f, VMCS_WIDTH_16)))
#define vmcs_read32(f) ((uint32_t)vmcs_read_raw(VMCS_CHECKED(f, VMCS_WIDTH_32)))
#define vmcs_read64(f) (vmcs_read_raw(VMCS_CHECKED(f, VMCS_WIDTH_64)))
#define vmcs_readnat(f) (vmcs_read_raw(VMCS_CHECKED(f, VMCS_WIDTH_NAT)))
#define vmcs_write16(f, v) vmcs_write_raw(VMCS_CHECKED(f, VMCS_WIDTH_16), (uint16_t)(v))
#define vmcs_write32(f, v) vmcs_write_raw(VMCS_CHECKED(f, VMCS_WIDTH_32), (uint32_t)(v))
#define vmcs_write64(f, v) vmcs_write_raw(VMCS_CHECKED(f, VMCS_WIDTH_64), (uint64_t)(v))
#define vmcs_writenat(f, v) vmcs_write_raw(VMCS_CHECKED(f, VMCS_WIDTH_NAT), (uint64_t)(v))

/* SDM Vol. 3C 30.4: the text for a VM-instruction error number. */
const char *vmx_instruction_error_name(uint32_t err);

/* Failures reported since the last call (setup checks this after writing a whole VMCS). */
unsigned vmcs_take_failures(void);

#endif
