/* A valid VMCS in the fake, as vmm/vmx.c builds it (see vmcs_valid.h). Host only. */
#include "vmcs_valid.h"

#include <string.h>

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../vmm/vmcs.h"
#include "../../vmm/vmx.h"
#include "vmcs_fake.h"

const char *vmcs_valid_build(struct vm *vm, const struct vmx_caps *c)
{
	memset(vm, 0, sizeof(*vm));
	vm->caps = *c;
	const char *why = vmx_compute_controls(vm);
	if (why)
		return why;

	vmcs_fake_reset(NULL);
	/* controls */
	vmcs_write32(VMCS_PIN_CONTROLS, vm->pin);
	vmcs_write32(VMCS_PROC_CONTROLS, vm->proc);
	vmcs_write32(VMCS_PROC2_CONTROLS, vm->proc2);
	vmcs_write32(VMCS_EXIT_CONTROLS, vm->exit_ctls);
	vmcs_write32(VMCS_ENTRY_CONTROLS, vm->entry_ctls);
	vmcs_write32(VMCS_CR3_TARGET_COUNT, 0);
	vmcs_write64(VMCS_MSR_BITMAP, MSR_BITMAP);
	vmcs_write64(VMCS_IO_BITMAP_A, IO_BITMAP_A);
	vmcs_write64(VMCS_IO_BITMAP_B, IO_BITMAP_B);
	vmcs_write64(VMCS_EPT_POINTER, EPTP_VALID);
	vmcs_write16(VMCS_VPID, 1);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write32(VMCS_ENTRY_INSTR_LEN, 0);

	/* host state */
	uint64_t cr0 = (0x80050033ULL | c->cr0_fixed0) & c->cr0_fixed1;
	uint64_t cr4 = (c->cr4 | CR4_VMXE | CR4_PAE | c->cr4_fixed0) & c->cr4_fixed1;
	vmcs_writenat(VMCS_HOST_CR0, cr0);
	vmcs_writenat(VMCS_HOST_CR3, HOST_CR3);
	vmcs_writenat(VMCS_HOST_CR4, cr4);
	vmcs_write16(VMCS_HOST_CS_SEL, HOST_CS);
	vmcs_write16(VMCS_HOST_SS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_DS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_ES_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_FS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_GS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_TR_SEL, HOST_TR);
	vmcs_writenat(VMCS_HOST_FS_BASE, 0);
	vmcs_writenat(VMCS_HOST_GS_BASE, 0x7D000000ULL);
	vmcs_writenat(VMCS_HOST_TR_BASE, 0x7D001000ULL);
	vmcs_writenat(VMCS_HOST_GDTR_BASE, 0x7D002000ULL);
	vmcs_writenat(VMCS_HOST_IDTR_BASE, 0x7D003000ULL);
	vmcs_writenat(VMCS_HOST_RSP, 0x7D010000ULL);
	vmcs_writenat(VMCS_HOST_RIP, 0x7C001234ULL);
	vmcs_write64(VMCS_HOST_EFER, GUEST_EFER);

	/* guest state: the firmware as it runs */
	vmcs_writenat(VMCS_GUEST_CR0, (GUEST_CR0 | c->cr0_fixed0) & c->cr0_fixed1);
	vmcs_writenat(VMCS_GUEST_CR3, 0x7F800000ULL);
	vmcs_writenat(VMCS_GUEST_CR4, GUEST_CR4);
	vmcs_write64(VMCS_GUEST_EFER, GUEST_EFER);
	vmcs_write16(VMCS_GUEST_CS_SEL, 0x38);
	vmcs_write32(VMCS_GUEST_CS_AR, CS_AR);
	vmcs_write32(VMCS_GUEST_CS_LIMIT, 0xFFFFFFFF);
	static const uint32_t sel[] = { VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL, VMCS_GUEST_ES_SEL,
					VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL };
	static const uint32_t ar[] = { VMCS_GUEST_SS_AR, VMCS_GUEST_DS_AR, VMCS_GUEST_ES_AR,
				       VMCS_GUEST_FS_AR, VMCS_GUEST_GS_AR };
	static const uint32_t lim[] = { VMCS_GUEST_SS_LIMIT, VMCS_GUEST_DS_LIMIT, VMCS_GUEST_ES_LIMIT,
					VMCS_GUEST_FS_LIMIT, VMCS_GUEST_GS_LIMIT };
	for (unsigned i = 0; i < 5; i++) {
		vmcs_write_raw(sel[i], 0x30);
		vmcs_write_raw(ar[i], DATA_AR);
		vmcs_write_raw(lim[i], 0xFFFFFFFF);
	}
	vmcs_write16(VMCS_GUEST_LDTR_SEL, 0);
	vmcs_write32(VMCS_GUEST_LDTR_AR, AR_UNUSABLE);
	vmcs_write16(VMCS_GUEST_TR_SEL, 0);
	vmcs_write32(VMCS_GUEST_TR_AR, TR_AR);
	vmcs_write32(VMCS_GUEST_TR_LIMIT, 0x67);
	vmcs_writenat(VMCS_GUEST_TR_BASE, 0);
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, 0x7F9DE000ULL);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, 0x47);
	vmcs_writenat(VMCS_GUEST_IDTR_BASE, 0x7F4F0018ULL);
	vmcs_write32(VMCS_GUEST_IDTR_LIMIT, 0xFFF);
	vmcs_write64(VMCS_LINK_POINTER, ~0ULL);
	vmcs_writenat(VMCS_GUEST_RFLAGS, 0x202);
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0);
	return 0;
}
