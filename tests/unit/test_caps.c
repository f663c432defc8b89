/* Host unit tests for vmm/caps.c: control-word adjustment, TRUE_* choice, predicates, the
 * unavailable reason and the report, on recorded capability sets (caps_data.h). Host program
 * (cmocka); links vmm/caps.c, lib/log.c, lib/fmt.c, lib/string.c. vmx_caps_probe() is not called. */
#include "unit.h"

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../lib/log.h"
#include "caps_data.h"

/* ---- vmx_adjust_controls ---- */

static void test_adjust_forces_must_be_1_bits(void **state)
{
	(void)state;
	uint32_t missing = 0xFFFFFFFF;
	assert_int_equal(vmx_adjust_controls(BOCHS_SKX_PINBASED, 0, &missing), 0x16);
	assert_int_equal(missing, 0);
}

static void test_adjust_clears_may_be_0_bits(void **state)
{
	(void)state;
	uint32_t missing = 0;
	/* Allowed-1 0x0F: bits 4-7 must stay 0 and are reported missing. */
	assert_int_equal(vmx_adjust_controls(0x0000000F00000000ull, 0xFF, &missing), 0x0F);
	assert_int_equal(missing, 0xF0);
}

static void test_adjust_keeps_wanted_allowed_bits(void **state)
{
	(void)state;
	uint32_t missing = 0xFFFFFFFF;
	uint32_t want = PIN_EXTINT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS;
	assert_int_equal(vmx_adjust_controls(BOCHS_SKX_PINBASED, want, &missing), want | 0x16);
	assert_int_equal(missing, 0);
}

static void test_adjust_reports_missing_monitor_trap_flag_on_bochs(void **state)
{
	(void)state;
	uint32_t missing = 0;
	uint32_t want = PROC_HLT_EXITING | PROC_USE_MSR_BITMAPS | PROC_SECONDARY_CONTROLS |
			PROC_MONITOR_TRAP_FLAG;
	uint32_t got = vmx_adjust_controls(BOCHS_SKX_TRUE_PROCBASED, want, &missing);
	assert_int_equal(missing, PROC_MONITOR_TRAP_FLAG);
	assert_int_equal(got, (want & ~PROC_MONITOR_TRAP_FLAG) | 0x04006172);
}

static void test_adjust_allows_monitor_trap_flag_on_real_cpu(void **state)
{
	(void)state;
	uint32_t missing = 0xFFFFFFFF;
	uint32_t got = vmx_adjust_controls(I7_7800X_TRUE_PROCBASED, PROC_MONITOR_TRAP_FLAG, &missing);
	assert_int_equal(missing, 0);
	assert_true(got & PROC_MONITOR_TRAP_FLAG);
}

static void test_adjust_true_msr_lets_cr3_exiting_be_0(void **state)
{
	(void)state;
	uint32_t cr3 = PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING;
	assert_int_equal(vmx_adjust_controls(BOCHS_SKX_PROCBASED, 0, NULL) & cr3, cr3);
	assert_int_equal(vmx_adjust_controls(BOCHS_SKX_TRUE_PROCBASED, 0, NULL) & cr3, 0);
}

static void test_adjust_without_missing_pointer(void **state)
{
	(void)state;
	assert_int_equal(vmx_adjust_controls(0x0000000F00000001ull, 0xF0, NULL), 0x01);
}

static void test_adjust_secondary_controls_for_keel(void **state)
{
	(void)state;
	uint32_t missing = 0xFFFFFFFF;
	uint32_t want = PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_RDTSCP |
			PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES;
	assert_int_equal(vmx_adjust_controls(BOCHS_SKX_PROCBASED2, want, &missing), want);
	assert_int_equal(missing, 0);
	assert_int_equal(vmx_adjust_controls(I7_7800X_PROCBASED2, want, &missing), want);
	assert_int_equal(missing, 0);
}

/* ---- TRUE_* choice (VMX_BASIC bit 55) ---- */

static void test_true_msrs_used_when_basic_bit_55_set(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.pinbased = 1, c.procbased = 2, c.exit = 3, c.entry = 4;
	c.true_pinbased = 11, c.true_procbased = 12, c.true_exit = 13, c.true_entry = 14;
	assert_int_equal(vmx_caps_pinbased(&c), 11);
	assert_int_equal(vmx_caps_procbased(&c), 12);
	assert_int_equal(vmx_caps_exit(&c), 13);
	assert_int_equal(vmx_caps_entry(&c), 14);
}

static void test_plain_msrs_used_when_basic_bit_55_clear(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.basic &= ~VMX_BASIC_TRUE_CTLS;
	c.pinbased = 1, c.procbased = 2, c.exit = 3, c.entry = 4;
	c.true_pinbased = 11, c.true_procbased = 12, c.true_exit = 13, c.true_entry = 14;
	assert_int_equal(vmx_caps_pinbased(&c), 1);
	assert_int_equal(vmx_caps_procbased(&c), 2);
	assert_int_equal(vmx_caps_exit(&c), 3);
	assert_int_equal(vmx_caps_entry(&c), 4);
}

static void test_recorded_basic_fields(void **state)
{
	(void)state;
	assert_int_equal(VMX_BASIC_REVISION(BOCHS_SKX_BASIC), 0x2B);
	assert_int_equal(VMX_BASIC_VMCS_SIZE(BOCHS_SKX_BASIC), 4096);
	assert_int_equal(VMX_BASIC_MEMTYPE(BOCHS_SKX_BASIC), 6);
	assert_true(BOCHS_SKX_BASIC & VMX_BASIC_TRUE_CTLS);
	assert_int_equal(VMX_BASIC_REVISION(I7_7800X_BASIC), 4);
	assert_int_equal(VMX_BASIC_VMCS_SIZE(I7_7800X_BASIC), 1024);
	assert_true(I7_7800X_BASIC & VMX_BASIC_TRUE_CTLS);
}

/* Every recorded capability MSR must have its allowed-0 bits inside its allowed-1 bits. */
static void test_recorded_control_msrs_are_consistent(void **state)
{
	(void)state;
	for (unsigned i = 0; i < CAPS_ALL_COUNT; i++) {
		const struct vmx_caps *c = caps_all[i].caps;
		uint64_t msrs[] = { c->pinbased,	c->procbased,	   c->exit,	  c->entry,
				    c->true_pinbased, c->true_procbased, c->true_exit, c->true_entry,
				    c->procbased2 };
		for (unsigned j = 0; j < sizeof(msrs) / sizeof(msrs[0]); j++) {
			uint32_t must1 = (uint32_t)msrs[j], may1 = (uint32_t)(msrs[j] >> 32);
			if (must1 & ~may1)
				fail_msg("set %s msr %u: allowed-0 0x%08x outside allowed-1 0x%08x", caps_all[i].name, j,
					 must1, may1);
		}
		/* TRUE controls only relax the must-be-1 bits. */
		assert_int_equal((uint32_t)c->true_procbased & ~(uint32_t)c->procbased, 0);
		assert_int_equal((uint32_t)c->true_exit & ~(uint32_t)c->exit, 0);
		assert_int_equal((uint32_t)c->true_entry & ~(uint32_t)c->entry, 0);
	}
}

/* ---- predicates ---- */

static void test_predicates_on_bochs(void **state)
{
	(void)state;
	const struct vmx_caps *c = &caps_bochs_skylake_x;
	assert_true(vmx_caps_has_secondary(c));
	assert_true(vmx_caps_has_ept(c));
	assert_true(vmx_caps_has_vpid(c));
	assert_true(vmx_caps_has_unrestricted(c));
	assert_true(vmx_caps_has_ept_2m(c));
	assert_true(vmx_caps_has_ept_1g(c));
	assert_true(vmx_caps_has_ept_wb(c));
}

static void test_predicates_on_real_cpu(void **state)
{
	(void)state;
	const struct vmx_caps *c = &caps_intel_i7_7800x;
	assert_true(vmx_caps_has_secondary(c));
	assert_true(vmx_caps_has_ept(c));
	assert_true(vmx_caps_has_vpid(c));
	assert_true(vmx_caps_has_unrestricted(c));
	assert_true(vmx_caps_has_ept_2m(c));
	assert_true(vmx_caps_has_ept_1g(c));
	assert_true(vmx_caps_has_ept_wb(c));
	assert_true(vmx_caps_allows2(c, PROC2_ENABLE_XSAVES));
	assert_true(vmx_caps_allows2(c, PROC2_MODE_BASED_EPT_EXEC));
	/* Absent from the recorded allowed-1 settings (0x025D3FFF). */
	assert_false(vmx_caps_allows2(c, PROC2_ENABLE_PML));
}

static void test_allows2_needs_secondary_controls(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.procbased &= ~(PROC_SECONDARY_CONTROLS << 32);
	assert_false(vmx_caps_has_secondary(&c));
	assert_false(vmx_caps_allows2(&c, PROC2_ENABLE_EPT));
	assert_false(vmx_caps_has_ept(&c));
	assert_false(vmx_caps_has_vpid(&c));
	assert_false(vmx_caps_has_unrestricted(&c));
}

static void test_allows2_reads_allowed_1_half(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	/* Secondary bit 22 (mode-based EPT execute) is 0 in Bochs's allowed-1 half. */
	assert_false(vmx_caps_allows2(&c, PROC2_MODE_BASED_EPT_EXEC));
	/* The allowed-0 half says nothing about what may be 1. */
	c.procbased2 = (uint64_t)PROC2_ENABLE_EPT;
	assert_false(vmx_caps_allows2(&c, PROC2_ENABLE_EPT));
}

static void test_allows2_needs_every_bit_asked(void **state)
{
	(void)state;
	const struct vmx_caps *c = &caps_bochs_skylake_x;
	assert_true(vmx_caps_allows2(c, PROC2_ENABLE_EPT | PROC2_ENABLE_VPID));
	assert_false(vmx_caps_allows2(c, PROC2_ENABLE_EPT | PROC2_MODE_BASED_EPT_EXEC));
}

static void test_ept_needs_4_level_walk(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.ept_vpid &= ~EPT_CAP_WALK_4;
	assert_false(vmx_caps_has_ept(&c));
}

static void test_vpid_needs_invvpid(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.ept_vpid &= ~VPID_CAP_INVVPID;
	assert_false(vmx_caps_has_vpid(&c));
	assert_true(vmx_caps_has_ept(&c));
}

static void test_ept_page_size_predicates(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.ept_vpid &= ~(EPT_CAP_PDPTE_1G | EPT_CAP_MEMTYPE_WB);
	assert_true(vmx_caps_has_ept_2m(&c));
	assert_false(vmx_caps_has_ept_1g(&c));
	assert_false(vmx_caps_has_ept_wb(&c));
	c.ept_vpid &= ~EPT_CAP_PDE_2M;
	assert_false(vmx_caps_has_ept_2m(&c));
}

/* ---- INVEPT/INVVPID types, 5-level firmware ---- */

static void test_invalidation_types_from_ept_vpid_cap(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	assert_int_equal(vmx_caps_invept_type(&c), INVEPT_SINGLE_CONTEXT);
	assert_int_equal(vmx_caps_invvpid_type(&c), INVVPID_SINGLE_CONTEXT);
	c.ept_vpid &= ~(EPT_CAP_INVEPT_SINGLE | VPID_CAP_SINGLE_CONTEXT);
	assert_int_equal(vmx_caps_invept_type(&c), INVEPT_ALL_CONTEXT);
	assert_int_equal(vmx_caps_invvpid_type(&c), INVVPID_ALL_CONTEXT);
	assert_true(vmx_caps_has_vpid(&c));
	/* Only individual-address INVVPID: keel cannot flush a whole VPID, so it uses none. */
	c.ept_vpid &= ~VPID_CAP_ALL_CONTEXT;
	assert_int_equal(vmx_caps_invvpid_type(&c), 0);
	assert_false(vmx_caps_has_vpid(&c));
	c.ept_vpid &= ~EPT_CAP_INVEPT_ALL;
	assert_int_equal(vmx_caps_invept_type(&c), 0);
	assert_non_null(strstr(vmx_caps_unavailable_reason(&c), "INVEPT"));
}

static void test_five_level_firmware_declined(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.cr4 |= CR4_LA57;
	const char *why = vmx_caps_unavailable_reason(&c);
	assert_non_null(why);
	assert_non_null(strstr(why, "5-level paging"));
}

/* ---- vmx_caps_unavailable_reason ---- */

static void test_reason_null_on_bochs(void **state)
{
	(void)state;
	assert_null(vmx_caps_unavailable_reason(&caps_bochs_skylake_x));
}

static void test_reason_null_on_real_cpu(void **state)
{
	(void)state;
	assert_null(vmx_caps_unavailable_reason(&caps_intel_i7_7800x));
}

static void test_reason_no_vmx_in_cpuid(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.cpuid1_ecx &= ~CPUID1_ECX_VMX;
	const char *why = vmx_caps_unavailable_reason(&c);
	assert_non_null(why);
	assert_contains(why, "CPUID.1:ECX.VMX[bit 5] is 0");
}

static void test_reason_msrs_not_read(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.msrs_read = 0;
	assert_string_equal(vmx_caps_unavailable_reason(&c), "the VMX capability MSRs could not be read");
}

static void test_reason_feature_control_locked_off(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.feature_control = FEATURE_CONTROL_LOCK;
	const char *why = vmx_caps_unavailable_reason(&c);
	assert_non_null(why);
	assert_contains(why, "VT-x is disabled in the firmware setup");
}

static void test_reason_locked_with_vmx_only_in_smx(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.feature_control = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_IN_SMX;
	assert_non_null(vmx_caps_unavailable_reason(&c));
}

static void test_reason_unlocked_feature_control_is_usable(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.feature_control = 0; /* keel may still set and lock it */
	assert_null(vmx_caps_unavailable_reason(&c));
	c.feature_control = FEATURE_CONTROL_VMX_OUTSIDE_SMX;
	assert_null(vmx_caps_unavailable_reason(&c));
}

static void test_reason_cr4_vmxe_already_set(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.cr4 |= CR4_VMXE;
	const char *why = vmx_caps_unavailable_reason(&c);
	assert_non_null(why);
	assert_contains(why, "CR4.VMXE is already set");
}

static void test_reason_no_secondary_controls(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.procbased &= ~(PROC_SECONDARY_CONTROLS << 32);
	c.true_procbased &= ~(PROC_SECONDARY_CONTROLS << 32);
	assert_string_equal(vmx_caps_unavailable_reason(&c),
			    "the CPU has no secondary processor-based controls (needed for EPT)");
}

static void test_reason_no_ept(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.procbased2 &= ~(PROC2_ENABLE_EPT << 32);
	assert_string_equal(vmx_caps_unavailable_reason(&c), "the CPU has no EPT with a 4-level walk");
}

static void test_reason_ept_without_4_level_walk(void **state)
{
	(void)state;
	struct vmx_caps c = caps_intel_i7_7800x;
	c.ept_vpid &= ~EPT_CAP_WALK_4;
	assert_string_equal(vmx_caps_unavailable_reason(&c), "the CPU has no EPT with a 4-level walk");
}

static void test_reason_ept_without_wb_or_uc(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.ept_vpid &= ~(EPT_CAP_MEMTYPE_WB | EPT_CAP_MEMTYPE_UC);
	assert_contains(vmx_caps_unavailable_reason(&c), "neither write-back nor uncacheable");
	c.ept_vpid |= EPT_CAP_MEMTYPE_UC;
	assert_null(vmx_caps_unavailable_reason(&c));
}

static void test_reason_no_unrestricted_guest(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.procbased2 &= ~(PROC2_UNRESTRICTED_GUEST << 32);
	const char *why = vmx_caps_unavailable_reason(&c);
	assert_non_null(why);
	assert_contains(why, "no unrestricted-guest support");
}

static void test_reason_vmcs_larger_than_a_page(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.basic = (c.basic & ~(0x1FFFull << 32)) | (4104ull << 32);
	assert_string_equal(vmx_caps_unavailable_reason(&c), "the VMCS region is larger than 4 KiB");
}

static void test_reason_checks_vmx_before_anything_else(void **state)
{
	(void)state;
	struct vmx_caps c;
	memset(&c, 0, sizeof(c)); /* what probe leaves when CPUID says no VMX */
	c.cr4 = CR4_VMXE;
	assert_contains(vmx_caps_unavailable_reason(&c), "CPUID.1:ECX.VMX");
}

/* ---- vmx_caps_report ---- */

static char report_text[8192];

static void capture(const char *s, size_t n)
{
	size_t used = strlen(report_text);
	if (used + n < sizeof(report_text)) {
		memcpy(report_text + used, s, n);
		report_text[used + n] = 0;
	}
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void report(const struct vmx_caps *c)
{
	report_text[0] = 0;
	assert_true(log_add_output(capture) >= 0);
	log_set_level(LOG_INFO);
	vmx_caps_report(c);
	log_remove_output(capture);
}

static void test_report_bochs_says_yes_to_what_keel_needs(void **state)
{
	(void)state;
	report(&caps_bochs_skylake_x);
	assert_contains(report_text, "EPT yes (4-level walk yes, 2 MiB pages yes, 1 GiB pages yes, WB yes");
	assert_contains(report_text, "VPID yes (INVVPID address yes, single yes, all yes, single-keep-globals "
				     "yes)");
	assert_contains(report_text, "unrestricted guest yes");
	assert_contains(report_text, "secondary controls yes");
	assert_contains(report_text, "revision 0x2b, VMCS 4096 bytes, memory type 6, TRUE controls yes");
	assert_contains(report_text, "lock no, VMX outside SMX no");
	assert_contains(report_text, "EPT_VPID_CAP=0x00000f0106334141");
}

static void test_report_real_cpu(void **state)
{
	(void)state;
	report(&caps_intel_i7_7800x);
	assert_contains(report_text, "EPT yes");
	assert_contains(report_text, "VPID yes");
	assert_contains(report_text, "unrestricted guest yes");
	assert_contains(report_text, "max physical address 46 bits, 1 GiB host pages yes");
	assert_contains(report_text, "lock yes, VMX outside SMX yes");
	assert_contains(report_text, "preemption timer yes (TSC >> 7)");
	assert_contains(report_text, "VMCS 1024 bytes");
}

static void test_report_one_line_per_fact(void **state)
{
	(void)state;
	report(&caps_bochs_skylake_x);
	assert_int_equal(count_lines(report_text), 8);
	assert_memory_equal(report_text, "[cpu0] keel: vmx: ", 18);
}

static void test_report_says_no_when_missing(void **state)
{
	(void)state;
	struct vmx_caps c = caps_bochs_skylake_x;
	c.procbased2 &= ~((PROC2_ENABLE_EPT | PROC2_ENABLE_VPID | PROC2_UNRESTRICTED_GUEST) << 32);
	report(&c);
	assert_contains(report_text, "EPT no");
	assert_contains(report_text, "VPID no");
	assert_contains(report_text, "unrestricted guest no");
}

static void test_report_without_msrs_stops_after_cpuid(void **state)
{
	(void)state;
	struct vmx_caps c;
	memset(&c, 0, sizeof(c));
	c.max_phys_bits = 36;
	report(&c);
	assert_int_equal(count_lines(report_text), 1);
	assert_contains(report_text, "CPUID.1:ECX.VMX=0 SMX=0, max physical address 36 bits");
}


/* ---- the modern sets: nested KVM, Alder Lake, Sapphire Rapids ---- */

/* What each set says about the capabilities keel must not assume (DESIGN.md, "Never assume a VMX
 * capability"), one row per set, read through keel's predicates and the msr.h masks. */
static const struct {
	const struct vmx_caps *caps;
	int wait_sipi, shutdown, ept_uc, walk5, user_wait_pause, tsc_scaling, pml, true_ctls;
} expect[] = {
	/*                            SIPI SHUT UC  W5  UWP TSC PML TRUE */
	{ &caps_bochs_skylake_x,        1,  1,  1,  0,  0,  1,  1,  1 },
	{ &caps_intel_i7_7800x,         1,  1,  1,  0,  0,  1,  0,  1 },
	{ &caps_kvm_l1_host,            1,  0,  0,  0,  1,  1,  1,  1 },
	{ &caps_kvm_l1_named_model,     0,  0,  0,  1,  0,  0,  1,  1 },
	{ &caps_intel_i7_12700k,        1,  1,  1,  0,  1,  1,  0,  1 },
	{ &caps_intel_xeon_8480,        1,  1,  1,  1,  1,  1,  1,  1 },
};

static void test_capability_table_covers_every_set(void **state)
{
	(void)state;
	assert_int_equal(sizeof(expect) / sizeof(expect[0]), CAPS_ALL_COUNT);
	for (unsigned i = 0; i < CAPS_ALL_COUNT; i++)
		assert_ptr_equal(expect[i].caps, caps_all[i].caps);
}

static void test_capabilities_keel_must_not_assume(void **state)
{
	(void)state;
	for (unsigned i = 0; i < CAPS_ALL_COUNT; i++) {
		const struct vmx_caps *c = expect[i].caps;
		const char *n = caps_all[i].name;
		if (!!(c->misc & VMX_MISC_ACTIVITY_WAIT_SIPI) != expect[i].wait_sipi)
			fail_msg("%s: wait-for-SIPI", n);
		if (!!(c->misc & VMX_MISC_ACTIVITY_SHUTDOWN) != expect[i].shutdown)
			fail_msg("%s: shutdown activity state", n);
		if (!!(c->ept_vpid & EPT_CAP_MEMTYPE_UC) != expect[i].ept_uc)
			fail_msg("%s: EPT UC", n);
		if (!!(c->ept_vpid & BIT(7)) != expect[i].walk5) /* 5-level EPT walk */
			fail_msg("%s: 5-level EPT", n);
		if (vmx_caps_allows2(c, PROC2_ENABLE_USER_WAIT_PAUSE) != expect[i].user_wait_pause)
			fail_msg("%s: enable user wait and pause", n);
		if (vmx_caps_allows2(c, PROC2_TSC_SCALING) != expect[i].tsc_scaling)
			fail_msg("%s: TSC scaling", n);
		if (vmx_caps_allows2(c, PROC2_ENABLE_PML) != expect[i].pml)
			fail_msg("%s: PML", n);
		if (!!(c->basic & VMX_BASIC_TRUE_CTLS) != expect[i].true_ctls)
			fail_msg("%s: TRUE controls", n);
	}
}

/* What every set has, and keel relies on: HLT state, EPT (4-level walk, WB, 2 MiB and 1 GiB
 * pages, A/D), INVEPT single- and all-context, VPID with all four INVVPID types. */
static void test_capabilities_every_set_has(void **state)
{
	(void)state;
	for (unsigned i = 0; i < CAPS_ALL_COUNT; i++) {
		const struct vmx_caps *c = caps_all[i].caps;
		const char *n = caps_all[i].name;
		if (!(c->misc & VMX_MISC_ACTIVITY_HLT))
			fail_msg("%s: HLT activity state", n);
		if (!vmx_caps_has_ept(c) || !vmx_caps_has_ept_wb(c) || !vmx_caps_has_ept_2m(c) ||
		    !vmx_caps_has_ept_1g(c) || !(c->ept_vpid & EPT_CAP_AD))
			fail_msg("%s: EPT 4-level/WB/2M/1G/AD", n);
		if (!(c->ept_vpid & EPT_CAP_INVEPT) || !(c->ept_vpid & EPT_CAP_INVEPT_SINGLE) ||
		    !(c->ept_vpid & EPT_CAP_INVEPT_ALL))
			fail_msg("%s: INVEPT single and all-context", n);
		uint64_t invvpid = VPID_CAP_INDIVIDUAL_ADDR | VPID_CAP_SINGLE_CONTEXT | VPID_CAP_ALL_CONTEXT |
				   VPID_CAP_SINGLE_CONTEXT_KEEP_GLOBALS;
		if (!vmx_caps_has_vpid(c) || (c->ept_vpid & invvpid) != invvpid)
			fail_msg("%s: VPID with every INVVPID type", n);
		if (!vmx_caps_has_unrestricted(c))
			fail_msg("%s: unrestricted guest", n);
		if (!vmx_caps_allows2(c, PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES))
			fail_msg("%s: RDTSCP, INVPCID, XSAVES", n);
		if (vmx_caps_unavailable_reason(c))
			fail_msg("%s: unavailable: %s", n, vmx_caps_unavailable_reason(c));
	}
}

static void test_kvm_basic_is_kvms_vmcs12(void **state)
{
	(void)state;
	assert_int_equal(VMX_BASIC_REVISION(KVM_L1_BASIC), 0x11E57ED0); /* VMCS12_REVISION */
	assert_int_equal(VMX_BASIC_VMCS_SIZE(KVM_L1_BASIC), 4096);
	assert_int_equal(VMX_BASIC_MEMTYPE(KVM_L1_BASIC), 6);
	assert_true(KVM_L1_BASIC & VMX_BASIC_INS_OUTS);
	/* KVM's preemption timer runs at TSC >> 5 (VMX_MISC_EMULATED_PREEMPTION_TIMER_RATE). */
	assert_int_equal(VMX_MISC_PREEMPT_RATE(KVM_L1_MISC), 5);
	assert_int_equal(VMX_MISC_PREEMPT_RATE(QEMU_SPR_MISC), 5);
	/* The two KVM sets differ in MISC only by wait-for-SIPI. */
	assert_int_equal(KVM_L1_MISC ^ QEMU_SPR_MISC, VMX_MISC_ACTIVITY_WAIT_SIPI);
}

/* Sapphire Rapids may activate the tertiary controls (0x492), whose one offered bit is IPI
 * virtualization; neither KVM set offers them to L1. */
static void test_tertiary_controls(void **state)
{
	(void)state;
	assert_true(vmx_caps_procbased(&caps_intel_xeon_8480) & (BIT(17) << 32));
	assert_int_equal(SPR_PROCBASED3, BIT(4));
	assert_false(vmx_caps_procbased(&caps_kvm_l1_host) & (BIT(17) << 32));
	assert_false(vmx_caps_procbased(&caps_kvm_l1_named_model) & (BIT(17) << 32));
	assert_false(vmx_caps_procbased(&caps_intel_i7_12700k) & (BIT(17) << 32));
}

/* nested KVM with kvm_intel ept=0 on L0: no EPT (and so no unrestricted guest or PML) for L1
 * (nested_vmx_setup_secondary_ctls; enable_unrestricted_guest needs enable_ept). */
static void test_reason_kvm_without_ept(void **state)
{
	(void)state;
	struct vmx_caps c = caps_kvm_l1_host;
	c.procbased2 &= ~((uint64_t)(PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_PML) << 32);
	c.ept_vpid &= ~0xFFFFFFFFull;
	assert_string_equal(vmx_caps_unavailable_reason(&c), "the CPU has no EPT with a 4-level walk");
	assert_true(vmx_caps_has_vpid(&c));
}

static void test_report_kvm_host(void **state)
{
	(void)state;
	report(&caps_kvm_l1_host);
	assert_contains(report_text, "revision 0x11e57ed0, VMCS 4096 bytes, memory type 6, TRUE controls yes");
	assert_contains(report_text, "WB yes, UC no, A/D yes, INVEPT single yes, all yes");
	assert_contains(report_text, "VPID yes (INVVPID address yes, single yes, all yes, single-keep-globals yes)");
	assert_contains(report_text, "preemption timer yes (TSC >> 5), wait-for-SIPI yes");
	assert_contains(report_text, "lock yes, VMX outside SMX yes");
}

static void test_report_kvm_named_model_has_no_wait_for_sipi(void **state)
{
	(void)state;
	report(&caps_kvm_l1_named_model);
	assert_contains(report_text, "wait-for-SIPI no");
	assert_contains(report_text, "UC no");
	assert_contains(report_text, "max physical address 40 bits");
	assert_contains(report_text, "secondary controls yes (allowed-1 0x00137bff)");
}

static void test_report_modern_silicon(void **state)
{
	(void)state;
	report(&caps_intel_i7_12700k);
	assert_contains(report_text, "secondary controls yes (allowed-1 0x0e597fff)");
	assert_contains(report_text, "WB yes, UC yes");
	assert_contains(report_text, "wait-for-SIPI yes");
	report(&caps_intel_xeon_8480);
	assert_contains(report_text, "secondary controls yes (allowed-1 0xcf5fffff)");
	assert_contains(report_text, "EPT_VPID_CAP=0x00000f01067341c1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adjust_forces_must_be_1_bits),
		cmocka_unit_test(test_adjust_clears_may_be_0_bits),
		cmocka_unit_test(test_adjust_keeps_wanted_allowed_bits),
		cmocka_unit_test(test_adjust_reports_missing_monitor_trap_flag_on_bochs),
		cmocka_unit_test(test_adjust_allows_monitor_trap_flag_on_real_cpu),
		cmocka_unit_test(test_adjust_true_msr_lets_cr3_exiting_be_0),
		cmocka_unit_test(test_adjust_without_missing_pointer),
		cmocka_unit_test(test_adjust_secondary_controls_for_keel),
		cmocka_unit_test(test_true_msrs_used_when_basic_bit_55_set),
		cmocka_unit_test(test_plain_msrs_used_when_basic_bit_55_clear),
		cmocka_unit_test(test_recorded_basic_fields),
		cmocka_unit_test(test_recorded_control_msrs_are_consistent),
		cmocka_unit_test(test_predicates_on_bochs),
		cmocka_unit_test(test_predicates_on_real_cpu),
		cmocka_unit_test(test_allows2_needs_secondary_controls),
		cmocka_unit_test(test_allows2_reads_allowed_1_half),
		cmocka_unit_test(test_allows2_needs_every_bit_asked),
		cmocka_unit_test(test_ept_needs_4_level_walk),
		cmocka_unit_test(test_vpid_needs_invvpid),
		cmocka_unit_test(test_ept_page_size_predicates),
		cmocka_unit_test(test_reason_null_on_bochs),
		cmocka_unit_test(test_reason_null_on_real_cpu),
		cmocka_unit_test(test_reason_no_vmx_in_cpuid),
		cmocka_unit_test(test_reason_msrs_not_read),
		cmocka_unit_test(test_reason_feature_control_locked_off),
		cmocka_unit_test(test_reason_locked_with_vmx_only_in_smx),
		cmocka_unit_test(test_reason_unlocked_feature_control_is_usable),
		cmocka_unit_test(test_reason_cr4_vmxe_already_set),
		cmocka_unit_test(test_reason_no_secondary_controls),
		cmocka_unit_test(test_reason_no_ept),
		cmocka_unit_test(test_reason_ept_without_4_level_walk),
		cmocka_unit_test(test_reason_ept_without_wb_or_uc),
		cmocka_unit_test(test_reason_no_unrestricted_guest),
		cmocka_unit_test(test_reason_vmcs_larger_than_a_page),
		cmocka_unit_test(test_reason_checks_vmx_before_anything_else),
		cmocka_unit_test(test_report_bochs_says_yes_to_what_keel_needs),
		cmocka_unit_test(test_report_real_cpu),
		cmocka_unit_test(test_report_one_line_per_fact),
		cmocka_unit_test(test_report_says_no_when_missing),
		cmocka_unit_test(test_report_without_msrs_stops_after_cpuid),
		cmocka_unit_test(test_capability_table_covers_every_set),
		cmocka_unit_test(test_capabilities_keel_must_not_assume),
		cmocka_unit_test(test_capabilities_every_set_has),
		cmocka_unit_test(test_kvm_basic_is_kvms_vmcs12),
		cmocka_unit_test(test_tertiary_controls),
		cmocka_unit_test(test_reason_kvm_without_ept),
		cmocka_unit_test(test_report_kvm_host),
		cmocka_unit_test(test_report_kvm_named_model_has_no_wait_for_sipi),
		cmocka_unit_test(test_report_modern_silicon),
		cmocka_unit_test(test_invalidation_types_from_ept_vpid_cap),
		cmocka_unit_test(test_five_level_firmware_declined),
	};
	return cmocka_run_group_tests_name("caps", tests, NULL, NULL);
}
