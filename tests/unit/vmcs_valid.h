/* A valid VMCS in the fake (vmcs_fake.c), built as vmm/vmx.c builds it for the firmware guest in
 * 64-bit mode at CPL 0, from a recorded capability set. Shared by test_vmcheck and the exit-path
 * fuzzer. Host only. */
#ifndef KEEL_TESTS_UNIT_VMCS_VALID_H
#define KEEL_TESTS_UNIT_VMCS_VALID_H

#include "../../vmm/caps.h"
#include "../../vmm/vcpu.h"

#define HOST_CS 0x08
#define HOST_DS 0x10
#define HOST_TR 0x18
#define HOST_CR3 0x7F000000ULL
#define EPT_TABLE 0x7E000000ULL
#define MSR_BITMAP 0x7E100000ULL
#define IO_BITMAP_A 0x7E101000ULL
#define IO_BITMAP_B 0x7E102000ULL
#define EPTP_VALID (EPT_TABLE | (3 << 3) | 6) /* WB, 4-level walk */

#define GUEST_CR0 0x80010033ULL
#define GUEST_CR4 (0x668ULL | CR4_VMXE)
#define GUEST_EFER 0xD00ULL
#define CS_AR 0xA09B
#define DATA_AR 0xC093
#define TR_AR 0x8B

/* Computes the control words into *vm (zeroed first) from c, then writes every field an entry
 * checks. Returns NULL, or vmx_compute_controls()'s reason when c cannot run keel. */
const char *vmcs_valid_build(struct vm *vm, const struct vmx_caps *c);

#endif
