/* Host unit tests for vmm/vmx.c: the VM-execution, exit and entry control words computed from
 * recorded capability sets (caps_data.h), refusals, and the MSR and I/O bitmaps. Host program
 * (cmocka); links vmm/vmx.c, vmm/caps.c, lib/log.c, lib/fmt.c, lib/string.c and vmcs_fake.c (an
 * array-backed VMCS and fail-if-called stubs). Nothing here executes a VMX instruction. */
#include "unit.h"

#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../vmm/vmcs.h"
#include "../../vmm/vcpu.h"
#include "../../vmm/vmx.h"
#include "caps_data.h"
#include "vmcs_fake.h"

static struct vm vm;

static const char *compute(const struct vmx_caps *c)
{
	memset(&vm, 0, sizeof(vm));
	vm.caps = *c;
	return vmx_compute_controls(&vm);
}

/* What keel asks for, per SDM Vol. 3C 24.6-24.8 (see vmx_compute_controls). */
#define KEEL_PROC (PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS | PROC_SECONDARY_CONTROLS)
#define KEEL_PROC2                                                                                  \
	(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID | PROC2_ENABLE_RDTSCP |      \
	 PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES)
#define KEEL_EXIT                                                                                   \
	(EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT |   \
	 EXIT_SAVE_DEBUG_CONTROLS)
#define KEEL_ENTRY (ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | ENTRY_LOAD_DEBUG_CONTROLS)

/* w obeys cap: every allowed-0 (must-be-1) bit set, nothing outside allowed-1. */
static void assert_word_allowed(const char *name, uint32_t w, uint64_t cap)
{
	uint32_t must1 = (uint32_t)cap, may1 = (uint32_t)(cap >> 32);
	if ((w & must1) != must1)
		fail_msg("%s 0x%08x lacks must-be-1 bits 0x%08x", name, w, must1 & ~w);
	if (w & ~may1)
		fail_msg("%s 0x%08x sets must-be-0 bits 0x%08x", name, w, w & ~may1);
}

static void assert_all_words_allowed(const struct vmx_caps *c)
{
	assert_word_allowed("pin", vm.pin, vmx_caps_pinbased(c));
	assert_word_allowed("proc", vm.proc, vmx_caps_procbased(c));
	assert_word_allowed("proc2", vm.proc2, c->procbased2);
	assert_word_allowed("exit", vm.exit_ctls, vmx_caps_exit(c));
	assert_word_allowed("entry", vm.entry_ctls, vmx_caps_entry(c));
}

/* ---- control words from recorded capabilities ---- */

static void test_bochs_control_words(void **state)
{
	(void)state;
	assert_null(compute(&caps_bochs_skylake_x));
	/* (want | allowed-0) & allowed-1 of the TRUE MSRs, worked by hand from caps_data.h. */
	assert_int_equal(vm.pin, 0x00000016);
	assert_int_equal(vm.proc, 0x96006172);
	assert_int_equal(vm.proc2, 0x001010AA);
	assert_int_equal(vm.exit_ctls, 0x003F6FFF);
	assert_int_equal(vm.entry_ctls, 0x0000D3FF);
}

static void test_real_cpu_control_words(void **state)
{
	(void)state;
	assert_null(compute(&caps_intel_i7_7800x));
	assert_int_equal(vm.pin, 0x00000016);
	assert_int_equal(vm.proc, 0x96006172);
	assert_int_equal(vm.proc2, 0x001010AA);
	assert_int_equal(vm.exit_ctls, 0x003F6FFF);
	assert_int_equal(vm.entry_ctls, 0x0000D3FF);
}

static void test_words_obey_allowed_settings_on_bochs(void **state)
{
	(void)state;
	assert_null(compute(&caps_bochs_skylake_x));
	assert_all_words_allowed(&caps_bochs_skylake_x);
}

static void test_words_obey_allowed_settings_on_real_cpu(void **state)
{
	(void)state;
	assert_null(compute(&caps_intel_i7_7800x));
	assert_all_words_allowed(&caps_intel_i7_7800x);
}

static void test_words_obey_plain_msrs_without_true_controls(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.basic &= ~VMX_BASIC_TRUE_CTLS;
	assert_null(compute(&c));
	assert_all_words_allowed(&c);
	assert_word_allowed("proc", vm.proc, BOCHS_SKX_PROCBASED);
}

static void test_keel_controls_present(void **state)
{
	(void)state;
	const struct vmx_caps *sets[] = { &caps_bochs_skylake_x, &caps_intel_i7_7800x };
	for (unsigned i = 0; i < 2; i++) {
		assert_null(compute(sets[i]));
		assert_int_equal(vm.proc & KEEL_PROC, KEEL_PROC);
		assert_int_equal(vm.proc2 & KEEL_PROC2, KEEL_PROC2);
		assert_int_equal(vm.exit_ctls & KEEL_EXIT, KEEL_EXIT);
		assert_int_equal(vm.entry_ctls & KEEL_ENTRY, KEEL_ENTRY);
	}
}

static void test_only_what_keel_needs_exits(void **state)
{
	(void)state;
	assert_null(compute(&caps_bochs_skylake_x));
	assert_int_equal(vm.pin & (PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_PREEMPTION_TIMER), 0);
	assert_int_equal(vm.proc & (PROC_HLT_EXITING | PROC_RDTSC_EXITING | PROC_UNCOND_IO_EXITING |
				    PROC_MONITOR_TRAP_FLAG | PROC_TPR_SHADOW),
			 0);
	assert_int_equal(vm.proc2 & (PROC2_DESC_TABLE_EXITING | PROC2_WBINVD_EXITING), 0);
	assert_int_equal(vm.exit_ctls & EXIT_ACK_INTR_ON_EXIT, 0);
}

static void test_no_cr3_exiting_with_true_controls(void **state)
{
	(void)state;
	assert_null(compute(&caps_bochs_skylake_x));
	assert_int_equal(vm.proc & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING), 0);
	assert_null(compute(&caps_intel_i7_7800x));
	assert_int_equal(vm.proc & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING), 0);
}

static void test_cr3_exiting_forced_without_true_controls(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.basic &= ~VMX_BASIC_TRUE_CTLS;
	assert_null(compute(&c));
	assert_int_equal(vm.proc, 0x9601E172);
	assert_int_equal(vm.proc & (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING),
			 PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING);
}

static void test_vpid_left_out_without_invvpid(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.ept_vpid &= ~VPID_CAP_INVVPID;
	assert_null(compute(&c));
	assert_false(vm.proc2 & PROC2_ENABLE_VPID);
	assert_true(vm.proc2 & PROC2_ENABLE_EPT);
}

static void test_vpid_left_out_when_not_allowed(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.procbased2 &= ~((uint64_t)PROC2_ENABLE_VPID << 32);
	assert_null(compute(&c));
	assert_false(vm.proc2 & PROC2_ENABLE_VPID);
}

static void test_optional_instructions_left_out_when_not_allowed(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.procbased2 &= ~((uint64_t)(PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES) << 32);
	assert_null(compute(&c));
	assert_int_equal(vm.proc2, PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID);
}

static void test_each_optional_instruction_independent(void **state)
{
	(void)state;
	const uint32_t bits[] = { PROC2_ENABLE_RDTSCP, PROC2_ENABLE_INVPCID, PROC2_ENABLE_XSAVES };
	for (unsigned i = 0; i < 3; i++) {
		struct vmx_caps c = caps_intel_i7_7800x;
		c.procbased2 &= ~((uint64_t)bits[i] << 32);
		assert_null(compute(&c));
		assert_int_equal(vm.proc2, KEEL_PROC2 & ~bits[i]);
	}
}

/* ---- refusals ---- */

static void test_refused_without_ept(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.procbased2 &= ~((uint64_t)PROC2_ENABLE_EPT << 32);
	const char *why = compute(&c);
	assert_non_null(why);
	assert_contains(why, "EPT or unrestricted guest");
}

static void test_refused_without_unrestricted_guest(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.procbased2 &= ~((uint64_t)PROC2_UNRESTRICTED_GUEST << 32);
	const char *why = compute(&c);
	assert_non_null(why);
	assert_contains(why, "EPT or unrestricted guest");
}

static void test_refused_without_secondary_controls(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.true_procbased &= ~((uint64_t)PROC_SECONDARY_CONTROLS << 32);
	const char *why = compute(&c);
	assert_non_null(why);
	assert_contains(why, "secondary controls");
}

static void test_refused_without_msr_bitmaps(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.true_procbased &= ~((uint64_t)PROC_USE_MSR_BITMAPS << 32);
	assert_string_equal(compute(&c), "the CPU cannot use MSR/I-O bitmaps or secondary controls");
}

static void test_refused_without_64bit_host_on_exit(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.true_exit &= ~((uint64_t)EXIT_HOST_ADDR_SPACE_SIZE << 32);
	const char *why = compute(&c);
	assert_non_null(why);
	assert_contains(why, "VM exit");
}

/* Where VM exit cannot load EFER, none of the four EFER/PAT exit controls nor the two entry ones
 * are used: EFER and PAT go through the MSR lists, all or nothing. */
static void test_missing_efer_load_switches_through_msr_lists(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.true_exit &= ~((uint64_t)EXIT_LOAD_EFER << 32);
	assert_null(compute(&c));
	assert_int_equal(guest_msrs_listed, 1);
	assert_int_equal(vm.exit_ctls & (EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT), 0);
	assert_int_equal(vm.entry_ctls & (ENTRY_LOAD_EFER | ENTRY_LOAD_PAT), 0);
	assert_true(vm.exit_ctls & EXIT_HOST_ADDR_SPACE_SIZE);
	assert_true(vm.entry_ctls & ENTRY_IA32E_MODE_GUEST);
	assert_null(compute(&caps_bochs_skylake_x));
	assert_int_equal(guest_msrs_listed, 0);
	assert_true(vm.exit_ctls & EXIT_LOAD_EFER);
}

/* Core 2 (Penryn): accepted for shadow paging, with EFER and PAT in MSR lists. */
static void test_penryn_shadow_uses_msr_lists(void **state)
{
	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.caps = caps_core2_penryn;
	vm.shadow = 1;
	assert_null(vmx_compute_controls(&vm));
	assert_int_equal(guest_msrs_listed, 1);
	assert_int_equal(vm.proc2 & (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST), 0);
	assert_true(vm.proc & PROC_CR3_LOAD_EXITING);
}

/* mmu=shadow on Skylake (EPT, unrestricted guest): the paged phase's controls are shadow mode's,
 * and the unpaged phase drops CR3 and INVLPG exiting and adds EPT and unrestricted guest; classes
 * trap= asked for stay in both phases. */
static void test_shadow_unpaged_phase_controls(void **state)
{
	(void)state;
	const uint32_t paging = PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_INVLPG_EXITING;
	memset(&vm, 0, sizeof(vm));
	vm.caps = caps_bochs_skylake_x;
	vm.shadow = 1;
	vm.unpaged_ept = 1;
	assert_null(vmx_compute_controls(&vm));
	assert_int_equal(vm.proc & paging, paging);
	assert_int_equal(vm.proc2 & (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST), 0);
	assert_int_equal(vm.proc_paging, paging);
	assert_int_equal(vm.proc2_unpaged, PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST);
	vm.trap = TRAP_ALL;
	assert_null(vmx_compute_controls(&vm));
	assert_int_equal(vm.proc_paging, 0); /* trap=cr3 and trap=invlpg exit in both phases */
	memset(&vm, 0, sizeof(vm));
	vm.caps = caps_core2_penryn;
	vm.shadow = 1; /* no unrestricted guest: no unpaged phase */
	assert_null(vmx_compute_controls(&vm));
	assert_int_equal(vm.proc_paging | vm.proc2_unpaged, 0);
}

/* With the lists, the guest's EFER and PAT live in the entry MSR-load list, which is also the exit
 * MSR-store list; keel's own values are in the exit MSR-load list; the VMCS fields stay unused. */
static void test_msr_lists_hold_guest_and_host_values(void **state)
{
	(void)state;
	static struct vcpu v;
	vmcs_fake_reset(NULL);
	guest_msrs_listed = 1;
	guest_msrs_setup_lists(&v, 0xD01, 0x0007040600070406ull);
	guest_set_efer(0x500);
	guest_set_pat(0x1234);
	assert_int_equal(guest_efer(), 0x500);
	assert_int_equal(guest_pat(), 0x1234);
	assert_int_equal(v.guest_msr_list[LISTED_EFER].index, MSR_EFER);
	assert_int_equal(v.guest_msr_list[LISTED_EFER].value, 0x500);
	assert_int_equal(v.guest_msr_list[LISTED_PAT].index, MSR_IA32_PAT);
	assert_int_equal(v.host_msr_list[LISTED_EFER].value, 0xD01);
	assert_int_equal(v.host_msr_list[LISTED_PAT].value, 0x0007040600070406ull);
	assert_int_equal(vmcs_read64(VMCS_ENTRY_MSR_LOAD_ADDR), (uintptr_t)v.guest_msr_list);
	assert_int_equal(vmcs_read64(VMCS_EXIT_MSR_STORE_ADDR), (uintptr_t)v.guest_msr_list);
	assert_int_equal(vmcs_read64(VMCS_EXIT_MSR_LOAD_ADDR), (uintptr_t)v.host_msr_list);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_MSR_LOAD_COUNT), 2);
	assert_int_equal(vmcs_read32(VMCS_EXIT_MSR_STORE_COUNT), 2);
	assert_int_equal(vmcs_read32(VMCS_EXIT_MSR_LOAD_COUNT), 2);
	assert_false(vmcs_fake_written(VMCS_GUEST_EFER));
	assert_false(vmcs_fake_written(VMCS_GUEST_PAT));
	guest_msrs_listed = 0;
	guest_set_efer(0xD01);
	assert_true(vmcs_fake_written(VMCS_GUEST_EFER));
	assert_int_equal(v.guest_msr_list[LISTED_EFER].value, 0x500);
}

static void test_refused_without_64bit_guest_entry(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.true_entry &= ~((uint64_t)ENTRY_IA32E_MODE_GUEST << 32);
	const char *why = compute(&c);
	assert_non_null(why);
	assert_contains(why, "64-bit guest");
}

static void test_compute_controls_touches_no_vmcs_field(void **state)
{
	(void)state;
	vmcs_fake_reset(NULL);
	assert_null(compute(&caps_bochs_skylake_x));
	assert_false(vmcs_fake_written(VMCS_PIN_CONTROLS));
	assert_false(vmcs_fake_written(VMCS_PROC_CONTROLS));
	assert_false(vmcs_fake_written(VMCS_PROC2_CONTROLS));
	assert_false(vmcs_fake_written(VMCS_EXIT_CONTROLS));
	assert_false(vmcs_fake_written(VMCS_ENTRY_CONTROLS));
}

/* ---- MSR bitmap (SDM 24.6.9) ---- */

static uint8_t bitmap[8192];

static int clear_bitmap(void **state)
{
	(void)state;
	memset(bitmap, 0, sizeof(bitmap));
	return 0;
}

/* Offsets of the set bits, at most max of them; returns how many. */
static unsigned set_bits(const uint8_t *bm, size_t size, unsigned *out, unsigned max)
{
	unsigned n = 0;
	for (size_t i = 0; i < size * 8; i++)
		if (bm[i / 8] & (1u << (i % 8))) {
			if (n < max)
				out[n] = (unsigned)i;
			n++;
		}
	return n;
}

static void assert_only_bits(size_t size, unsigned a, unsigned b)
{
	unsigned got[4] = { 0 };
	unsigned n = set_bits(bitmap, size, got, 4);
	unsigned want = b == ~0u ? 1 : 2;
	if (n != want || got[0] != a || (want == 2 && got[1] != b))
		fail_msg("bitmap has %u bits set (first 0x%x, 0x%x), expected 0x%x and 0x%x", n, got[0], got[1], a,
			 b);
}

static void test_msr_bitmap_low_read_and_write(void **state)
{
	(void)state;
	vmx_msr_bitmap_trap(bitmap, MSR_IA32_FEATURE_CONTROL, 1, 1);
	assert_int_equal(bitmap[0x000 + 0x3A / 8], 1u << (0x3A % 8));
	assert_int_equal(bitmap[0x800 + 0x3A / 8], 1u << (0x3A % 8));
	assert_only_bits(4096, 0x3A, 0x800 * 8 + 0x3A);
}

static void test_msr_bitmap_high_read_and_write(void **state)
{
	(void)state;
	vmx_msr_bitmap_trap(bitmap, MSR_EFER, 1, 1);
	assert_int_equal(bitmap[0x400 + 0x80 / 8], 0x01);
	assert_int_equal(bitmap[0xC00 + 0x80 / 8], 0x01);
	assert_only_bits(4096, 0x400 * 8 + 0x80, 0xC00 * 8 + 0x80);
}

static void test_msr_bitmap_read_only(void **state)
{
	(void)state;
	vmx_msr_bitmap_trap(bitmap, 0x480, 1, 0);
	assert_only_bits(4096, 0x480, ~0u);
}

static void test_msr_bitmap_write_only(void **state)
{
	(void)state;
	vmx_msr_bitmap_trap(bitmap, MSR_LSTAR, 0, 1);
	assert_only_bits(4096, 0xC00 * 8 + 0x82, ~0u);
}

static void test_msr_bitmap_range_ends(void **state)
{
	(void)state;
	vmx_msr_bitmap_trap(bitmap, 0x1FFF, 1, 0);
	vmx_msr_bitmap_trap(bitmap, 0xC0001FFF, 0, 1);
	assert_int_equal(bitmap[0x3FF], 0x80);
	assert_int_equal(bitmap[0xFFF], 0x80);
	vmx_msr_bitmap_trap(bitmap, 0, 1, 0);
	vmx_msr_bitmap_trap(bitmap, 0xC0000000, 1, 0);
	assert_int_equal(bitmap[0x000], 0x01);
	assert_int_equal(bitmap[0x400], 0x01);
}

static void test_msr_bitmap_ignores_msrs_outside_both_ranges(void **state)
{
	(void)state;
	const uint32_t outside[] = { 0x2000, 0x40000000, 0xBFFFFFFF, 0xC0002000, 0xFFFFFFFF };
	for (unsigned i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		vmx_msr_bitmap_trap(bitmap, outside[i], 1, 1);
	unsigned dummy[1];
	assert_int_equal(set_bits(bitmap, sizeof(bitmap), dummy, 1), 0);
}

static void test_msr_bitmap_keeps_neighbour_bits(void **state)
{
	(void)state;
	vmx_msr_bitmap_trap(bitmap, 0x480, 1, 0);
	vmx_msr_bitmap_trap(bitmap, 0x481, 1, 0);
	vmx_msr_bitmap_trap(bitmap, 0x487, 1, 0);
	assert_int_equal(bitmap[0x480 / 8], 0x83);
}

/* ---- I/O bitmaps A and B (SDM 24.6.4), one 8 KiB block ---- */

static void test_io_bitmap_port_e9(void **state)
{
	(void)state;
	vmx_io_bitmap_trap(bitmap, 0xE9); /* the debug console port */
	assert_int_equal(bitmap[0xE9 / 8], 1u << (0xE9 % 8));
	assert_only_bits(sizeof(bitmap), 0xE9, ~0u);
}

static void test_io_bitmap_b_holds_ports_from_0x8000(void **state)
{
	(void)state;
	vmx_io_bitmap_trap(bitmap, 0x8000);
	vmx_io_bitmap_trap(bitmap, 0xFFFF);
	assert_int_equal(bitmap[4096], 0x01);
	assert_int_equal(bitmap[8191], 0x80);
	vmx_io_bitmap_trap(bitmap, 0x7FFF);
	assert_int_equal(bitmap[4095], 0x80);
}

/* ---- the VMCS double and the typed accessors ---- */

static void test_typed_writes_truncate_to_field_width(void **state)
{
	(void)state;
	vmcs_write16(VMCS_VPID, 0x12345);
	vmcs_write32(VMCS_PIN_CONTROLS, 0x123456789ull);
	vmcs_write64(VMCS_EPT_POINTER, 0x123456789ABCDEFull);
	vmcs_writenat(VMCS_GUEST_RIP, 0xFFFFFFFF80001000ull);
	assert_int_equal(vmcs_read16(VMCS_VPID), 0x2345);
	assert_int_equal(vmcs_read32(VMCS_PIN_CONTROLS), 0x23456789);
	assert_int_equal(vmcs_read64(VMCS_EPT_POINTER), 0x123456789ABCDEFull);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RIP), 0xFFFFFFFF80001000ull);
	assert_true(vmcs_fake_written(VMCS_VPID));
	assert_false(vmcs_fake_written(VMCS_GUEST_RSP));
}

static void test_field_widths_from_encoding(void **state)
{
	(void)state;
	assert_int_equal(VMCS_WIDTH(VMCS_VPID), VMCS_WIDTH_16);
	assert_int_equal(VMCS_WIDTH(VMCS_MSR_BITMAP), VMCS_WIDTH_64);
	assert_int_equal(VMCS_WIDTH(VMCS_PROC2_CONTROLS), VMCS_WIDTH_32);
	assert_int_equal(VMCS_WIDTH(VMCS_HOST_RIP), VMCS_WIDTH_NAT);
}

#define B(f) cmocka_unit_test_setup(f, clear_bitmap)
#define V(f) cmocka_unit_test_setup_teardown(f, vmcs_fake_reset, vmcs_fake_reset)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bochs_control_words),
		cmocka_unit_test(test_real_cpu_control_words),
		cmocka_unit_test(test_words_obey_allowed_settings_on_bochs),
		cmocka_unit_test(test_words_obey_allowed_settings_on_real_cpu),
		cmocka_unit_test(test_words_obey_plain_msrs_without_true_controls),
		cmocka_unit_test(test_keel_controls_present),
		cmocka_unit_test(test_only_what_keel_needs_exits),
		cmocka_unit_test(test_no_cr3_exiting_with_true_controls),
		cmocka_unit_test(test_cr3_exiting_forced_without_true_controls),
		cmocka_unit_test(test_vpid_left_out_without_invvpid),
		cmocka_unit_test(test_vpid_left_out_when_not_allowed),
		cmocka_unit_test(test_optional_instructions_left_out_when_not_allowed),
		cmocka_unit_test(test_each_optional_instruction_independent),
		cmocka_unit_test(test_refused_without_ept),
		cmocka_unit_test(test_refused_without_unrestricted_guest),
		cmocka_unit_test(test_refused_without_secondary_controls),
		cmocka_unit_test(test_refused_without_msr_bitmaps),
		cmocka_unit_test(test_refused_without_64bit_host_on_exit),
		cmocka_unit_test(test_missing_efer_load_switches_through_msr_lists),
		cmocka_unit_test(test_penryn_shadow_uses_msr_lists),
		cmocka_unit_test(test_shadow_unpaged_phase_controls),
		cmocka_unit_test(test_msr_lists_hold_guest_and_host_values),
		cmocka_unit_test(test_refused_without_64bit_guest_entry),
		cmocka_unit_test(test_compute_controls_touches_no_vmcs_field),
		B(test_msr_bitmap_low_read_and_write),
		B(test_msr_bitmap_high_read_and_write),
		B(test_msr_bitmap_read_only),
		B(test_msr_bitmap_write_only),
		B(test_msr_bitmap_range_ends),
		B(test_msr_bitmap_ignores_msrs_outside_both_ranges),
		B(test_msr_bitmap_keeps_neighbour_bits),
		B(test_io_bitmap_port_e9),
		B(test_io_bitmap_b_holds_ports_from_0x8000),
		V(test_typed_writes_truncate_to_field_width),
		V(test_field_widths_from_encoding),
	};
	return cmocka_run_group_tests_name("vmx", tests, NULL, NULL);
}
