/* Host unit tests for vmm/vmcheck.c, the software VM-entry checker: a valid VMCS built in the
 * fake (vmcs_fake.c) as vmm/vmx.c builds it, for each recorded CPU (caps_data.h), passes; each
 * test then breaks ONE field and expects exactly the named rule. Host program (cmocka); links
 * vmm/vmcheck.c, vmm/vmx.c (vmx_compute_controls), vmm/caps.c, lib/log.c, lib/fmt.c,
 * lib/string.c vmcs_fake.c and vmcs_valid.c. Nothing here executes a VMX instruction. */
#include "unit.h"

#include <sys/mman.h>

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../vmm/vmcheck.h"
#include "../../vmm/vcpu.h"
#include "../../vmm/vmcs.h"
#include "../../vmm/vmx.h"
#include "caps_data.h"
#include "vmcs_fake.h"
#include "vmcs_valid.h"

/* ---- reports captured through the callback ---- */

#define MAX_RULES 32

static struct {
	unsigned n;
	const char *rule[MAX_RULES];
	char sdm[MAX_RULES][16];
	char detail[MAX_RULES][160];
} got;

static void capture(void *ctx, const char *rule, const char *sdm, const char *detail)
{
	assert_ptr_equal(ctx, &got);
	assert_non_null(rule);
	assert_non_null(sdm);
	assert_non_null(detail);
	if (got.n < MAX_RULES) {
		got.rule[got.n] = rule;
		strncpy(got.sdm[got.n], sdm, sizeof(got.sdm[0]) - 1);
		strncpy(got.detail[got.n], detail, sizeof(got.detail[0]) - 1);
	}
	got.n++;
}

static const struct vmx_caps *caps;
static struct vmx_caps caps_copy; /* for tests that change a capability */

static unsigned run(void)
{
	memset(&got, 0, sizeof(got));
	unsigned broken = vmcheck_run(caps, capture, &got);
	assert_int_equal(broken, got.n);
	return broken;
}

static void print_got(void)
{
	for (unsigned i = 0; i < got.n && i < MAX_RULES; i++)
		print_message("  reported %s (SDM %s): %s\n", got.rule[i], got.sdm[i], got.detail[i]);
}

/* The valid VMCS passes. */
static void assert_clean(void)
{
	if (run() != 0) {
		print_got();
		fail_msg("%u rule(s) reported on a valid VMCS, first %s", got.n, got.rule[0]);
	}
}

/* Exactly one rule is reported, and it is `rule`. */
static void assert_only(const char *rule)
{
	unsigned n = run();
	if (n != 1 || strcmp(got.rule[0], rule) != 0) {
		print_got();
		fail_msg("expected exactly \"%s\", got %u report(s)", rule, n);
	}
	assert_true(got.sdm[0][0] != 0);
	assert_true(got.detail[0][0] != 0);
}

/* ---- the valid VMCS (vmcs_valid.c) ---- */

static uint32_t ctl_pin, ctl_proc, ctl_proc2, ctl_exit, ctl_entry;

static void build_valid(const struct vmx_caps *c)
{
	static struct vm vm;
	assert_null(vmcs_valid_build(&vm, c));
	caps = c;
	ctl_pin = vm.pin, ctl_proc = vm.proc, ctl_proc2 = vm.proc2;
	ctl_exit = vm.exit_ctls, ctl_entry = vm.entry_ctls;
}

static int setup_bochs(void **state)
{
	(void)state;
	build_valid(&caps_bochs_skylake_x);
	return 0;
}

static int setup_real(void **state)
{
	(void)state;
	build_valid(&caps_intel_i7_7800x);
	return 0;
}

static int setup_kvm_host(void **state)
{
	(void)state;
	build_valid(&caps_kvm_l1_host);
	return 0;
}

static int setup_kvm_named(void **state)
{
	(void)state;
	build_valid(&caps_kvm_l1_named_model);
	return 0;
}

static int setup_alder_lake(void **state)
{
	(void)state;
	build_valid(&caps_intel_i7_12700k);
	return 0;
}

static int setup_sapphire_rapids(void **state)
{
	(void)state;
	build_valid(&caps_intel_xeon_8480);
	return 0;
}

/* ---- the valid VMCS ---- */

static void test_valid_vmcs_passes(void **state)
{
	(void)state;
	assert_true(vmcs_fake_written(VMCS_GUEST_TR_AR));
	assert_int_equal(ctl_proc2 & (PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST),
			 PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST);
	assert_int_equal(ctl_entry & ENTRY_IA32E_MODE_GUEST, ENTRY_IA32E_MODE_GUEST);
	assert_clean();
}

static void test_valid_vmcs_without_report_callback(void **state)
{
	(void)state;
	assert_int_equal(vmcheck_run(caps, NULL, NULL), 0);
	vmcs_write16(VMCS_VPID, 0);
	assert_int_equal(vmcheck_run(caps, NULL, NULL), 1);
}

static void test_valid_variants_pass(void **state)
{
	(void)state;
	vmcs_write64(VMCS_EPT_POINTER, EPT_TABLE | (3 << 3) | 0);
	if (caps->ept_vpid & EPT_CAP_MEMTYPE_UC)
		assert_clean();
	else
		assert_only("ctl.eptp_memtype"); /* nested KVM offers WB only */
	vmcs_write64(VMCS_EPT_POINTER, EPTP_VALID | BIT(6)); /* A/D flags, which every set has */
	assert_clean();
	vmcs_write64(VMCS_EPT_POINTER, EPTP_VALID);
	vmcs_write32(VMCS_GUEST_FS_AR, AR_UNUSABLE); /* an unusable data segment is fine */
	assert_clean();
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT); /* HLT is supported (MISC bit 6) */
	assert_clean();
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI); /* IF is 1 */
	assert_clean();
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_NMI);
	assert_clean();
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0);
	/* #GP with its error code; #BP as a software exception of length 1. */
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | INTR_INFO_DELIVER_CODE | (INTR_TYPE_HW_EXCEPTION << 8) | 13);
	assert_clean();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | (INTR_TYPE_SW_EXCEPTION << 8) | 3);
	vmcs_write32(VMCS_ENTRY_INSTR_LEN, 1);
	assert_clean();
	/* An invalid event is ignored while the valid bit is clear. */
	vmcs_write32(VMCS_ENTRY_INTR_INFO, (INTR_TYPE_NMI << 8) | 5);
	assert_clean();
	/* A usable LDTR of type 2. */
	vmcs_write16(VMCS_GUEST_LDTR_SEL, 0x40);
	vmcs_write32(VMCS_GUEST_LDTR_AR, AR_P | 2);
	assert_clean();
}

/* ---- controls (26.2.1) ---- */

static void test_pin_must_be_one_missing(void **state)
{
	(void)state;
	vmcs_write32(VMCS_PIN_CONTROLS, ctl_pin & ~BIT(1)); /* allowed-0: bits 1, 2, 4 */
	assert_only("ctl.pin_allowed");
}

static void test_pin_unsupported_bit(void **state)
{
	(void)state;
	vmcs_write32(VMCS_PIN_CONTROLS, ctl_pin | BIT(31));
	assert_only("ctl.pin_allowed");
}

static void test_proc_must_be_one_missing(void **state)
{
	(void)state;
	vmcs_write32(VMCS_PROC_CONTROLS, ctl_proc & ~BIT(1));
	assert_only("ctl.proc_allowed");
}

static void test_proc_unsupported_bit_on_bochs(void **state)
{
	(void)state;
	/* Bochs has no monitor trap flag; the i7-7800X does. */
	vmcs_write32(VMCS_PROC_CONTROLS, ctl_proc | PROC_MONITOR_TRAP_FLAG);
	assert_only("ctl.proc_allowed");
	build_valid(&caps_intel_i7_7800x);
	vmcs_write32(VMCS_PROC_CONTROLS, ctl_proc | PROC_MONITOR_TRAP_FLAG);
	assert_clean();
}

static void test_proc2_unsupported_bit(void **state)
{
	(void)state;
	/* The lowest secondary control the CPU refuses (bit 31 is allowed on Sapphire Rapids). */
	uint32_t refused = ~(uint32_t)(caps->procbased2 >> 32);
	assert_int_not_equal(refused, 0);
	vmcs_write32(VMCS_PROC2_CONTROLS, ctl_proc2 | (refused & -refused));
	assert_only("ctl.proc2_allowed");
}

static void test_proc2_ignored_without_secondary_controls(void **state)
{
	(void)state;
	/* Without the secondary controls the secondary word (and EPT, VPID) is not looked at. */
	vmcs_write32(VMCS_PROC2_CONTROLS, 0xFFFFFFFF);
	vmcs_write16(VMCS_VPID, 0);
	vmcs_write32(VMCS_PROC_CONTROLS, ctl_proc & ~PROC_SECONDARY_CONTROLS);
	assert_clean();
}

static void test_exit_unsupported_bit(void **state)
{
	(void)state;
	vmcs_write32(VMCS_EXIT_CONTROLS, ctl_exit | BIT(31));
	assert_only("ctl.exit_allowed");
}

static void test_exit_must_be_one_missing(void **state)
{
	(void)state;
	vmcs_write32(VMCS_EXIT_CONTROLS, ctl_exit & ~BIT(0));
	assert_only("ctl.exit_allowed");
}

static void test_entry_unsupported_bit(void **state)
{
	(void)state;
	vmcs_write32(VMCS_ENTRY_CONTROLS, ctl_entry | BIT(31));
	assert_only("ctl.entry_allowed");
}

static void test_entry_to_smm(void **state)
{
	(void)state;
	/* Even where the capability MSR allows the control (nested KVM does not), entry to SMM
	 * outside SMM fails: let the MSR allow it, so only that rule is left. */
	caps_copy = *caps;
	caps_copy.entry |= (uint64_t)ENTRY_SMM << 32;
	caps_copy.true_entry |= (uint64_t)ENTRY_SMM << 32;
	caps = &caps_copy;
	vmcs_write32(VMCS_ENTRY_CONTROLS, ctl_entry | ENTRY_SMM);
	assert_only("ctl.entry_smm");
}

static void test_cr3_target_count(void **state)
{
	(void)state;
	vmcs_write32(VMCS_CR3_TARGET_COUNT, 4);
	assert_clean();
	vmcs_write32(VMCS_CR3_TARGET_COUNT, 5);
	assert_only("ctl.cr3_target_count");
}

static void test_msr_bitmap_unaligned(void **state)
{
	(void)state;
	vmcs_write64(VMCS_MSR_BITMAP, MSR_BITMAP | 0x800);
	assert_only("ctl.msr_bitmap_address");
}

static void test_msr_bitmap_beyond_physical_width(void **state)
{
	(void)state;
	vmcs_write64(VMCS_MSR_BITMAP, MSR_BITMAP | (1ULL << caps->max_phys_bits));
	assert_only("ctl.msr_bitmap_address");
}

static void test_io_bitmap_unaligned(void **state)
{
	(void)state;
	vmcs_write64(VMCS_IO_BITMAP_B, IO_BITMAP_B + 8);
	assert_only("ctl.io_bitmap_address");
}

static void test_eptp_memory_type(void **state)
{
	(void)state;
	vmcs_write64(VMCS_EPT_POINTER, (EPTP_VALID & ~7ULL) | 1); /* WC */
	assert_only("ctl.eptp_memtype");
}

static void test_eptp_wb_unsupported(void **state)
{
	(void)state;
	caps_copy = *caps;
	caps_copy.ept_vpid &= ~EPT_CAP_MEMTYPE_WB;
	caps = &caps_copy;
	assert_only("ctl.eptp_memtype");
}

static void test_eptp_walk_length(void **state)
{
	(void)state;
	vmcs_write64(VMCS_EPT_POINTER, (EPTP_VALID & ~(7ULL << 3)) | (4 << 3)); /* 5 levels */
	if (caps->ept_vpid & EPT_CAP_WALK_5)
		assert_clean();
	else
		assert_only("ctl.eptp_walk");
	caps_copy = *caps;
	caps_copy.ept_vpid &= ~EPT_CAP_WALK_5;
	caps = &caps_copy;
	assert_only("ctl.eptp_walk");
	vmcs_write64(VMCS_EPT_POINTER, (EPTP_VALID & ~(7ULL << 3)) | (1 << 3)); /* 2 levels */
	assert_only("ctl.eptp_walk");
}

static void test_eptp_ad_unsupported(void **state)
{
	(void)state;
	caps_copy = *caps;
	caps_copy.ept_vpid &= ~EPT_CAP_AD;
	caps = &caps_copy;
	vmcs_write64(VMCS_EPT_POINTER, EPTP_VALID | BIT(6));
	assert_only("ctl.eptp_ad");
}

static void test_eptp_reserved_bits(void **state)
{
	(void)state;
	vmcs_write64(VMCS_EPT_POINTER, EPTP_VALID | BIT(8));
	assert_only("ctl.eptp_reserved");
	vmcs_write64(VMCS_EPT_POINTER, EPTP_VALID | (1ULL << caps->max_phys_bits));
	assert_only("ctl.eptp_reserved");
}

static void test_vpid_zero(void **state)
{
	(void)state;
	vmcs_write16(VMCS_VPID, 0);
	assert_only("ctl.vpid_zero");
}

static void test_unrestricted_without_ept(void **state)
{
	(void)state;
	vmcs_write32(VMCS_PROC2_CONTROLS, ctl_proc2 & ~PROC2_ENABLE_EPT);
	assert_only("ctl.unrestricted_without_ept");
}

static void test_virtual_nmis_without_nmi_exiting(void **state)
{
	(void)state;
	vmcs_write32(VMCS_PIN_CONTROLS, ctl_pin | PIN_VIRTUAL_NMIS);
	assert_only("ctl.virtual_nmis");
}

/* ---- event injection (26.2.1.3) ---- */

static void inject(uint32_t type, uint32_t vector, uint32_t extra)
{
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | (type << 8) | vector | extra);
}

static void test_event_error_code_for_breakpoint(void **state)
{
	(void)state;
	inject(INTR_TYPE_HW_EXCEPTION, 3, INTR_INFO_DELIVER_CODE);
	assert_only("ctl.event_error_code");
}

static void test_event_error_code_for_external_interrupt(void **state)
{
	(void)state;
	inject(INTR_TYPE_EXT_INTR, 13, INTR_INFO_DELIVER_CODE);
	assert_only("ctl.event_error_code");
}

static void test_event_nmi_wrong_vector(void **state)
{
	(void)state;
	inject(INTR_TYPE_NMI, 2, 0);
	assert_clean();
	inject(INTR_TYPE_NMI, 5, 0);
	assert_only("ctl.event_nmi_vector");
}

static void test_event_exception_vector_above_31(void **state)
{
	(void)state;
	inject(INTR_TYPE_HW_EXCEPTION, 40, 0);
	assert_only("ctl.event_exception_vector");
}

static void test_event_reserved_type_and_bits(void **state)
{
	(void)state;
	inject(1, 0x20, 0);
	assert_only("ctl.event_reserved");
	inject(INTR_TYPE_EXT_INTR, 0x20, BIT(20));
	assert_only("ctl.event_reserved");
}

static void test_event_software_interrupt_length_zero(void **state)
{
	(void)state;
	/* Length 0 is refused unless IA32_VMX_MISC bit 30 says it is allowed: Bochs lacks that bit. */
	assert_int_equal(caps->misc & BIT(30), 0);
	inject(INTR_TYPE_SW_INTR, 0x80, 0);
	assert_only("ctl.event_instr_len");
	vmcs_write32(VMCS_ENTRY_INSTR_LEN, 2);
	assert_clean();
}

static void test_event_length_zero_allowed_with_misc_bit_30(void **state)
{
	(void)state;
	/* The i7-7800X reports IA32_VMX_MISC bit 30: a software event of length 0 may be injected. */
	assert_int_not_equal(caps->misc & BIT(30), 0);
	inject(INTR_TYPE_SW_INTR, 0x80, 0);
	assert_clean();
	vmcs_write32(VMCS_ENTRY_INSTR_LEN, 16); /* but never more than 15 */
	assert_only("ctl.event_instr_len");
}

/* ---- host state (26.2.2-26.2.3) ---- */

static void test_host_cr0_fixed_bit_missing(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_HOST_CR0, vmcs_readnat(VMCS_HOST_CR0) & ~CR0_NE);
	assert_only("host.cr0_fixed");
	vmcs_writenat(VMCS_HOST_CR0, (vmcs_readnat(VMCS_HOST_CR0) | CR0_NE) & ~CR0_PG);
	assert_only("host.cr0_fixed");
}

static void test_host_cr4_without_vmxe(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_HOST_CR4, vmcs_readnat(VMCS_HOST_CR4) & ~CR4_VMXE);
	assert_only("host.cr4_fixed");
}

static void test_host_cr4_bit_outside_fixed1(void **state)
{
	(void)state;
	/* The lowest CR4 bit outside FIXED1 (LA57 is allowed on Sapphire Rapids). */
	uint64_t outside = ~caps->cr4_fixed1 & 0xFFFFFFFFULL;
	assert_true(outside != 0);
	vmcs_writenat(VMCS_HOST_CR4, vmcs_readnat(VMCS_HOST_CR4) | (outside & -outside));
	assert_only("host.cr4_fixed");
}

static void test_host_cr4_without_pae(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_HOST_CR4, vmcs_readnat(VMCS_HOST_CR4) & ~CR4_PAE);
	assert_only("host.pae");
}

static void test_host_cr3_beyond_physical_width(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_HOST_CR3, HOST_CR3 | (1ULL << caps->max_phys_bits));
	assert_only("host.cr3_width");
}

static void test_host_selector_rpl_ti(void **state)
{
	(void)state;
	vmcs_write16(VMCS_HOST_DS_SEL, HOST_DS | 3);
	assert_only("host.selector_rpl_ti");
	vmcs_write16(VMCS_HOST_DS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_SS_SEL, HOST_DS | 4);
	assert_only("host.selector_rpl_ti");
	vmcs_write16(VMCS_HOST_SS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_TR_SEL, HOST_TR | 4);
	assert_only("host.selector_rpl_ti");
}

static void test_host_tr_null(void **state)
{
	(void)state;
	vmcs_write16(VMCS_HOST_TR_SEL, 0);
	assert_only("host.tr_null");
}

static void test_host_cs_null(void **state)
{
	(void)state;
	vmcs_write16(VMCS_HOST_CS_SEL, 0);
	assert_only("host.cs_null");
}

static void test_host_non_canonical(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_HOST_RIP, 0x0000800000001000ULL);
	assert_only("host.canonical");
	vmcs_writenat(VMCS_HOST_RIP, 0xFFFF800000001000ULL); /* canonical upper half */
	assert_clean();
	vmcs_writenat(VMCS_HOST_GS_BASE, 0x00FF000000000000ULL);
	assert_only("host.canonical");
	vmcs_writenat(VMCS_HOST_GS_BASE, 0);
	vmcs_writenat(VMCS_HOST_IDTR_BASE, 0xFFFF7FFFFFFFF000ULL);
	assert_only("host.canonical");
}

/* ---- guest control registers, EFER, RFLAGS (26.3.1.1, 26.3.1.4) ---- */

static void test_guest_cr0_pg_without_pe(void **state)
{
	(void)state;
	/* Unrestricted guest lifts PE and PG from fixed0, but PG still needs PE. */
	vmcs_writenat(VMCS_GUEST_CR0, vmcs_readnat(VMCS_GUEST_CR0) & ~CR0_PE);
	assert_only("guest.cr0_pg_pe");
}

static void test_guest_cr0_fixed_bit_missing(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_CR0, vmcs_readnat(VMCS_GUEST_CR0) & ~CR0_NE);
	assert_only("guest.cr0_fixed");
}

static void test_guest_cr0_pe_pg_fixed_without_unrestricted(void **state)
{
	(void)state;
	/* Real mode (PE=PG=0, not IA-32e) is fine for an unrestricted guest only. */
	vmcs_write32(VMCS_ENTRY_CONTROLS, ctl_entry & ~ENTRY_IA32E_MODE_GUEST);
	vmcs_write64(VMCS_GUEST_EFER, 0);
	vmcs_write32(VMCS_GUEST_CS_AR, 0x9B);
	vmcs_writenat(VMCS_GUEST_CR0, 0x10 | CR0_NE);
	assert_clean();
	vmcs_write32(VMCS_PROC2_CONTROLS, ctl_proc2 & ~PROC2_UNRESTRICTED_GUEST);
	assert_only("guest.cr0_fixed");
}

static void test_guest_cr4_without_vmxe(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_CR4, GUEST_CR4 & ~CR4_VMXE);
	assert_only("guest.cr4_fixed");
}

static void test_guest_ia32e_without_pae(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_CR4, GUEST_CR4 & ~CR4_PAE);
	assert_only("guest.ia32e_paging");
}

static void test_guest_ia32e_without_paging(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_CR0, vmcs_readnat(VMCS_GUEST_CR0) & ~CR0_PG);
	assert_only("guest.ia32e_paging");
}

static void test_guest_efer_lma_clear_in_ia32e(void **state)
{
	(void)state;
	vmcs_write64(VMCS_GUEST_EFER, GUEST_EFER & ~EFER_LMA);
	assert_only("guest.efer_lma");
}

static void test_guest_efer_lma_set_without_ia32e(void **state)
{
	(void)state;
	vmcs_write32(VMCS_ENTRY_CONTROLS, ctl_entry & ~ENTRY_IA32E_MODE_GUEST);
	assert_only("guest.efer_lma");
}

static void test_guest_efer_lme_clear_with_paging(void **state)
{
	(void)state;
	vmcs_write64(VMCS_GUEST_EFER, GUEST_EFER & ~EFER_LME);
	assert_only("guest.efer_lma");
}

/* EFER and PAT in MSR lists (a CPU without the EFER/PAT controls, guest_msrs.h). */
static void listed_setup(void)
{
	/* The lists must sit where a CPU with 36 physical address bits can reach them. */
	static struct vcpu *v;
	if (!v) {
		v = mmap((void *)0x10000000, sizeof(*v), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		assert_true(v == (void *)0x10000000);
	}
	guest_msrs_listed = 1;
	vmcs_write32(VMCS_ENTRY_CONTROLS, ctl_entry & ~(ENTRY_LOAD_EFER | ENTRY_LOAD_PAT));
	vmcs_write32(VMCS_EXIT_CONTROLS, ctl_exit & ~(EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT));
	guest_msrs_setup_lists(v, GUEST_EFER, 0x0007040600070406ull);
	guest_set_efer(GUEST_EFER);
}

static void test_msr_lists_valid(void **state)
{
	(void)state;
	listed_setup();
	assert_clean();
	guest_msrs_listed = 0;
}

static void test_guest_efer_list_lme_clear_with_paging(void **state)
{
	(void)state;
	listed_setup();
	guest_set_efer(GUEST_EFER & ~EFER_LME);
	assert_only("guest.efer_list_lme");
	guest_msrs_listed = 0;
}

static void test_msr_list_misaligned(void **state)
{
	(void)state;
	listed_setup();
	vmcs_write64(VMCS_EXIT_MSR_LOAD_ADDR, vmcs_read64(VMCS_EXIT_MSR_LOAD_ADDR) + 8);
	assert_only("ctl.msr_list_address");
	guest_msrs_listed = 0;
}

static void test_guest_rflags_bit1_clear(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, 0x200);
	assert_only("guest.rflags");
}

static void test_guest_rflags_reserved_bit(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, 0x202 | BIT(3));
	assert_only("guest.rflags");
	vmcs_writenat(VMCS_GUEST_RFLAGS, 0x202 | BIT(22));
	assert_only("guest.rflags");
}

static void test_guest_rflags_vm_in_ia32e(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, 0x202 | RFLAGS_VM);
	assert_only("guest.rflags");
}

/* ---- guest segments (26.3.1.2) ---- */

static void test_guest_data_segment_not_accessed(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_DS_AR, DATA_AR & ~AR_TYPE_ACCESSED);
	assert_only("guest.segment_ar");
}

static void test_guest_data_segment_not_present(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_SS_AR, DATA_AR & ~AR_P);
	assert_only("guest.segment_ar");
}

static void test_guest_data_segment_reserved_bits(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_GS_AR, DATA_AR | BIT(9));
	assert_only("guest.segment_ar");
}

static void test_guest_cs_unusable(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_CS_AR, CS_AR | AR_UNUSABLE);
	assert_only("guest.cs_unusable");
}

static void test_guest_cs_not_accessed(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_CS_AR, CS_AR & ~AR_TYPE_ACCESSED);
	assert_only("guest.cs_ar");
}

static void test_guest_cs_l_and_db(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_CS_AR, CS_AR | AR_DB);
	assert_only("guest.cs_l_db");
}

static void test_guest_tr_unusable(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_TR_AR, TR_AR | AR_UNUSABLE);
	assert_only("guest.tr");
}

static void test_guest_tr_available_tss(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_TR_AR, (TR_AR & ~0xFu) | 9);
	assert_only("guest.tr");
}

static void test_guest_tr_16bit_busy_tss_in_ia32e(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_TR_AR, (TR_AR & ~0xFu) | 3); /* allowed outside IA-32e only */
	assert_only("guest.tr");
}

static void test_guest_tr_ti_set(void **state)
{
	(void)state;
	vmcs_write16(VMCS_GUEST_TR_SEL, 0x1C);
	assert_only("guest.tr");
}

static void test_guest_tr_not_present(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_TR_AR, TR_AR & ~AR_P);
	assert_only("guest.tr");
}

static void test_guest_ldtr_usable_bad_type(void **state)
{
	(void)state;
	vmcs_write16(VMCS_GUEST_LDTR_SEL, 0x40);
	vmcs_write32(VMCS_GUEST_LDTR_AR, AR_P | 3);
	assert_only("guest.ldtr");
}

/* ---- non-register state (26.3.1.5) ---- */

static void test_guest_link_pointer_zero(void **state)
{
	(void)state;
	vmcs_write64(VMCS_LINK_POINTER, 0);
	assert_only("guest.link_pointer");
}

static void test_guest_activity_state_5(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, 5);
	assert_only("guest.activity");
}

static void test_guest_activity_not_supported(void **state)
{
	(void)state;
	caps_copy = *caps;
	caps_copy.misc &= ~VMX_MISC_ACTIVITY_SHUTDOWN;
	caps = &caps_copy;
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_SHUTDOWN);
	assert_only("guest.activity");
}

static void test_guest_interruptibility_sti_and_mov_ss(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS);
	assert_only("guest.interruptibility");
}

static void test_guest_interruptibility_smi(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_SMI);
	assert_only("guest.interruptibility");
}

static void test_guest_interruptibility_sti_with_if_clear(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, 0x2);
	assert_clean();
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI);
	assert_only("guest.interruptibility");
}

static void test_guest_interruptibility_reserved_bits(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, BIT(5));
	assert_only("guest.interruptibility");
}

/* Event injection against activity and interruptibility state (26.3.1.5). */
#define INJECT_EXT_INTR(v) (INTR_INFO_VALID | (INTR_TYPE_EXT_INTR << 8) | (v))
#define INJECT_NMI (INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | 2)
#define INJECT_UD (INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | 6)

static void test_guest_activity_blocking(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_MOV_SS);
	assert_clean();
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
	assert_only("guest.activity_blocking");
}

static void test_guest_activity_event_wait_for_sipi(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
	if (!(caps->misc & VMX_MISC_ACTIVITY_WAIT_SIPI)) {
		assert_only("guest.activity"); /* QEMU's named models, KVM before Linux 5.11 */
		return;
	}
	assert_clean();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_NMI);
	assert_only("guest.activity_event");
}

static void test_guest_activity_event_hlt(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_EXT_INTR(0x30)); /* wakes a halted CPU: allowed */
	assert_clean();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_UD); /* no #UD from HLT state */
	assert_only("guest.activity_event");
}

static void test_guest_activity_event_shutdown(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_SHUTDOWN);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_NMI);
	if (!(caps->misc & VMX_MISC_ACTIVITY_SHUTDOWN)) {
		assert_only("guest.activity"); /* nested KVM offers HLT and wait-for-SIPI only */
		return;
	}
	assert_clean();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_EXT_INTR(0x30));
	assert_only("guest.activity_event");
}

static void test_guest_interruptibility_event(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_UD); /* an exception under STI blocking: fine */
	assert_clean();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_EXT_INTR(0x30));
	assert_only("guest.interruptibility_event");
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_MOV_SS);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_NMI);
	assert_only("guest.interruptibility_event");
}

static void test_guest_nmi_blocking_event(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_NMI);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INJECT_NMI);
	assert_clean(); /* without virtual NMIs VM entry accepts it (keel must not do it, see exit.c) */
	vmcs_write32(VMCS_PIN_CONTROLS, ctl_pin | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS);
	assert_only("guest.nmi_blocking_event");
}

/* ---- several at once ---- */

static void test_each_broken_rule_counted(void **state)
{
	(void)state;
	vmcs_write16(VMCS_VPID, 0);
	vmcs_write16(VMCS_HOST_TR_SEL, 0);
	vmcs_write64(VMCS_LINK_POINTER, 0);
	assert_int_equal(run(), 3);
	assert_string_equal(got.rule[0], "ctl.vpid_zero");
	assert_string_equal(got.rule[1], "host.tr_null");
	assert_string_equal(got.rule[2], "guest.link_pointer");
}

/* ---- vmx_compute_controls on every recorded set ---- */

/* Keel's control words for every set: they build, pass the checker, and ask for the secondary
 * controls the set allows and for none it refuses. */
static void test_controls_on_every_set(void **state)
{
	(void)state;
	static struct vm vm;
	for (unsigned i = 0; i < CAPS_ALL_COUNT; i++) {
		const struct vmx_caps *c = caps_all[i].caps;
		const char *why = vmcs_valid_build(&vm, c);
		if (why)
			fail_msg("%s: %s", caps_all[i].name, why);
		caps = c;
		assert_clean();
		uint32_t need = PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID | PROC2_ENABLE_RDTSCP |
				PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES;
		if ((vm.proc2 & need) != need)
			fail_msg("%s: secondary controls 0x%08x lack 0x%08x", caps_all[i].name, vm.proc2, need & ~vm.proc2);
		if (vm.proc2 & ~(uint32_t)(c->procbased2 >> 32))
			fail_msg("%s: secondary controls 0x%08x beyond allowed-1", caps_all[i].name, vm.proc2);
		/* WAITPKG works in the guest exactly where keel turns "enable user wait and pause" on;
		 * elsewhere CPUID hides it (SDM Vol. 3C 25.3). */
		int uwait = !!((c->procbased2 >> 32) & PROC2_ENABLE_USER_WAIT_PAUSE);
		if (!!(vm.proc2 & PROC2_ENABLE_USER_WAIT_PAUSE) != uwait)
			fail_msg("%s: enable user wait and pause %s although the CPU %s it", caps_all[i].name,
				 uwait ? "off" : "on", uwait ? "allows" : "refuses");
		if (!uwait != !!(vm.cpuid_policy.leaf7_ecx & CPUID7_ECX_WAITPKG))
			fail_msg("%s: WAITPKG %s in CPUID", caps_all[i].name, uwait ? "hidden" : "shown");
		assert_true(vm.proc & PROC_USE_MSR_BITMAPS);
		assert_true(vm.entry_ctls & ENTRY_IA32E_MODE_GUEST);
		assert_true(vm.exit_ctls & EXIT_HOST_ADDR_SPACE_SIZE);
		/* The TRUE MSRs let CR3 accesses run without exits on every set. */
		assert_int_equal(vm.proc & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING), 0);
	}
}

/* QEMU's named models do not offer "enable user wait and pause": keel must not set it there. */
static void test_controls_named_model_without_user_wait(void **state)
{
	(void)state;
	static struct vm vm;
	assert_null(vmcs_valid_build(&vm, &caps_kvm_l1_named_model));
	assert_int_equal(vm.proc2 & PROC2_ENABLE_USER_WAIT_PAUSE, 0);
	assert_true(vm.cpuid_policy.leaf7_ecx & CPUID7_ECX_WAITPKG); /* hidden from the guest */
	assert_int_equal(vm.proc2 & PROC2_TSC_SCALING, 0);
}

/* nested KVM with kvm_intel ept=0 on L0 offers no EPT and no unrestricted guest. */
static void test_controls_kvm_without_ept_refused(void **state)
{
	(void)state;
	static struct vm vm;
	struct vmx_caps c = caps_kvm_l1_host;
	c.procbased2 &= ~((uint64_t)(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_PML) << 32);
	c.ept_vpid &= ~0xFFFFFFFFull;
	assert_string_equal(vmcs_valid_build(&vm, &c),
			    "the CPU refuses EPT or unrestricted guest in the secondary controls");
}

/* The wait-for-SIPI state keel puts an AP in after INIT: entry accepts it only where IA32_VMX_MISC
 * bit 8 says so (every INIT fails VM entry on a QEMU named model otherwise). */
static void test_wait_for_sipi_entry_by_set(void **state)
{
	(void)state;
	for (unsigned i = 0; i < CAPS_ALL_COUNT; i++) {
		build_valid(caps_all[i].caps);
		vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
		if (caps_all[i].caps->misc & VMX_MISC_ACTIVITY_WAIT_SIPI)
			assert_clean();
		else
			assert_only("guest.activity");
	}
	/* Exactly one set (QEMU's named model) lacks it. */
	assert_false(caps_kvm_l1_named_model.misc & VMX_MISC_ACTIVITY_WAIT_SIPI);
	assert_true(caps_kvm_l1_host.misc & VMX_MISC_ACTIVITY_WAIT_SIPI);
}

/* Keel's EPTP memory type (WB) is the one every set supports; UC is refused under nested KVM. */
static void test_eptp_memory_types_by_set(void **state)
{
	(void)state;
	for (unsigned i = 0; i < CAPS_ALL_COUNT; i++) {
		build_valid(caps_all[i].caps);
		assert_clean(); /* EPTP_VALID: WB */
		vmcs_write64(VMCS_EPT_POINTER, EPT_TABLE | (3 << 3) | 0);
		if (caps_all[i].caps->ept_vpid & EPT_CAP_MEMTYPE_UC)
			assert_clean();
		else
			assert_only("ctl.eptp_memtype");
	}
}

/* Each test runs on every recorded set (BOTH: the name predates the nested-KVM and recent-Intel
 * sets), unless it is about one of them. */
#define BOTH(f) cmocka_unit_test_setup_teardown(f, setup_bochs, vmcs_fake_reset), \
		cmocka_unit_test_setup_teardown(f, setup_real, vmcs_fake_reset), \
		cmocka_unit_test_setup_teardown(f, setup_kvm_host, vmcs_fake_reset), \
		cmocka_unit_test_setup_teardown(f, setup_kvm_named, vmcs_fake_reset), \
		cmocka_unit_test_setup_teardown(f, setup_alder_lake, vmcs_fake_reset), \
		cmocka_unit_test_setup_teardown(f, setup_sapphire_rapids, vmcs_fake_reset)
#define BOCHS(f) cmocka_unit_test_setup_teardown(f, setup_bochs, vmcs_fake_reset)
#define REAL(f) cmocka_unit_test_setup_teardown(f, setup_real, vmcs_fake_reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_valid_vmcs_passes),
		BOTH(test_valid_vmcs_without_report_callback),
		BOTH(test_valid_variants_pass),
		BOTH(test_pin_must_be_one_missing),
		BOTH(test_pin_unsupported_bit),
		BOTH(test_proc_must_be_one_missing),
		BOCHS(test_proc_unsupported_bit_on_bochs),
		BOTH(test_proc2_unsupported_bit),
		BOTH(test_proc2_ignored_without_secondary_controls),
		BOTH(test_exit_unsupported_bit),
		BOTH(test_exit_must_be_one_missing),
		BOTH(test_entry_unsupported_bit),
		BOTH(test_entry_to_smm),
		BOTH(test_cr3_target_count),
		BOTH(test_msr_bitmap_unaligned),
		BOTH(test_msr_bitmap_beyond_physical_width),
		BOTH(test_io_bitmap_unaligned),
		BOTH(test_eptp_memory_type),
		BOTH(test_eptp_wb_unsupported),
		BOTH(test_eptp_walk_length),
		BOTH(test_eptp_ad_unsupported),
		BOTH(test_eptp_reserved_bits),
		BOTH(test_vpid_zero),
		BOTH(test_unrestricted_without_ept),
		BOTH(test_virtual_nmis_without_nmi_exiting),
		BOTH(test_event_error_code_for_breakpoint),
		BOTH(test_event_error_code_for_external_interrupt),
		BOTH(test_event_nmi_wrong_vector),
		BOTH(test_event_exception_vector_above_31),
		BOTH(test_event_reserved_type_and_bits),
		BOCHS(test_event_software_interrupt_length_zero),
		REAL(test_event_length_zero_allowed_with_misc_bit_30),
		BOTH(test_host_cr0_fixed_bit_missing),
		BOTH(test_host_cr4_without_vmxe),
		BOTH(test_host_cr4_bit_outside_fixed1),
		BOTH(test_host_cr4_without_pae),
		BOTH(test_host_cr3_beyond_physical_width),
		BOTH(test_host_selector_rpl_ti),
		BOTH(test_host_tr_null),
		BOTH(test_host_cs_null),
		BOTH(test_host_non_canonical),
		BOTH(test_guest_cr0_pg_without_pe),
		BOTH(test_guest_cr0_fixed_bit_missing),
		BOTH(test_guest_cr0_pe_pg_fixed_without_unrestricted),
		BOTH(test_guest_cr4_without_vmxe),
		BOTH(test_guest_ia32e_without_pae),
		BOTH(test_guest_ia32e_without_paging),
		BOTH(test_guest_efer_lma_clear_in_ia32e),
		BOTH(test_guest_efer_lma_set_without_ia32e),
		BOTH(test_guest_efer_lme_clear_with_paging),
		BOTH(test_msr_lists_valid),
		BOTH(test_guest_efer_list_lme_clear_with_paging),
		BOTH(test_msr_list_misaligned),
		BOTH(test_guest_rflags_bit1_clear),
		BOTH(test_guest_rflags_reserved_bit),
		BOTH(test_guest_rflags_vm_in_ia32e),
		BOTH(test_guest_data_segment_not_accessed),
		BOTH(test_guest_data_segment_not_present),
		BOTH(test_guest_data_segment_reserved_bits),
		BOTH(test_guest_cs_unusable),
		BOTH(test_guest_cs_not_accessed),
		BOTH(test_guest_cs_l_and_db),
		BOTH(test_guest_tr_unusable),
		BOTH(test_guest_tr_available_tss),
		BOTH(test_guest_tr_16bit_busy_tss_in_ia32e),
		BOTH(test_guest_tr_ti_set),
		BOTH(test_guest_tr_not_present),
		BOTH(test_guest_ldtr_usable_bad_type),
		BOTH(test_guest_link_pointer_zero),
		BOTH(test_guest_activity_state_5),
		BOTH(test_guest_activity_not_supported),
		BOTH(test_guest_activity_blocking),
		BOTH(test_guest_activity_event_wait_for_sipi),
		BOTH(test_guest_activity_event_hlt),
		BOTH(test_guest_activity_event_shutdown),
		BOTH(test_guest_interruptibility_event),
		BOTH(test_guest_nmi_blocking_event),
		BOTH(test_guest_interruptibility_sti_and_mov_ss),
		BOTH(test_guest_interruptibility_smi),
		BOTH(test_guest_interruptibility_sti_with_if_clear),
		BOTH(test_guest_interruptibility_reserved_bits),
		BOTH(test_each_broken_rule_counted),
		cmocka_unit_test_teardown(test_controls_on_every_set, vmcs_fake_reset),
		cmocka_unit_test_teardown(test_controls_named_model_without_user_wait, vmcs_fake_reset),
		cmocka_unit_test_teardown(test_controls_kvm_without_ept_refused, vmcs_fake_reset),
		cmocka_unit_test_teardown(test_wait_for_sipi_entry_by_set, vmcs_fake_reset),
		cmocka_unit_test_teardown(test_eptp_memory_types_by_set, vmcs_fake_reset),
	};
	return cmocka_run_group_tests_name("vmcheck", tests, NULL, NULL);
}
