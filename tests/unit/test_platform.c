/* Host unit tests for vmm/platform.c: the platform decision from CPUID facts (hypervisor bit,
 * leaf 0x40000000 signature, port 0xE9 echo, VMCS revision), its names, quirks and the report
 * line. Host program (cmocka); links vmm/platform.c, lib/log.c, lib/fmt.c, lib/string.c.
 * platform_probe() is not called (it executes CPUID and IN). */
#include "unit.h"

#include "../../lib/log.h"
#include "../../vmm/platform.h"

/* The facts of a CPU with the hypervisor bit and a 12-byte signature (may hold NULs). */
static struct platform_facts hv(const char sig[12], uint32_t max_leaf)
{
	struct platform_facts f;
	memset(&f, 0, sizeof(f));
	f.hypervisor_bit = 1;
	f.hv_max_leaf = max_leaf;
	memcpy(f.hv_signature, sig, 12);
	return f;
}

static struct platform_facts no_hv(int e9_echo, uint32_t revision)
{
	struct platform_facts f;
	memset(&f, 0, sizeof(f));
	f.e9_echo = e9_echo;
	f.vmcs_revision = revision;
	return f;
}

/* ---- platform_detect ---- */

static void test_kvm_signature_with_trailing_nuls(void **state)
{
	(void)state;
	struct platform_facts f = hv("KVMKVMKVM\0\0\0", 0x40000001);
	assert_int_equal(platform_detect(&f), PLATFORM_KVM);
}

static void test_kvm_signature_needs_all_nine_letters(void **state)
{
	(void)state;
	struct platform_facts f = hv("KVMKVMKV\0\0\0\0", 0x40000001);
	assert_int_equal(platform_detect(&f), PLATFORM_OTHER_HYPERVISOR);
	f = hv("KVMKVMKVMX\0\0", 0x40000001);
	assert_int_equal(platform_detect(&f), PLATFORM_OTHER_HYPERVISOR);
}

static void test_vendor_signatures(void **state)
{
	(void)state;
	struct platform_facts f = hv("VMwareVMware", 0x40000010);
	assert_int_equal(platform_detect(&f), PLATFORM_VMWARE);
	f = hv("Microsoft Hv", 0x4000000B);
	assert_int_equal(platform_detect(&f), PLATFORM_HYPERV);
	f = hv("XenVMMXenVMM", 0x40000005);
	assert_int_equal(platform_detect(&f), PLATFORM_XEN);
	f = hv("TCGTCGTCGTCG", 0x40000001);
	assert_int_equal(platform_detect(&f), PLATFORM_QEMU_TCG);
}

static void test_signature_is_case_sensitive(void **state)
{
	(void)state;
	struct platform_facts f = hv("vmwarevmware", 0x40000010);
	assert_int_equal(platform_detect(&f), PLATFORM_OTHER_HYPERVISOR);
}

static void test_hypervisor_bit_without_signature(void **state)
{
	(void)state;
	struct platform_facts f = hv("\0\0\0\0\0\0\0\0\0\0\0\0", 0);
	assert_int_equal(platform_detect(&f), PLATFORM_OTHER_HYPERVISOR);
}

/* A signature without the hypervisor bit is the highest basic leaf's data, not a vendor. */
static void test_signature_ignored_without_hypervisor_bit(void **state)
{
	(void)state;
	struct platform_facts f = hv("KVMKVMKVM\0\0\0", 0x40000001);
	f.hypervisor_bit = 0;
	assert_int_equal(platform_detect(&f), PLATFORM_BARE_METAL);
}

static void test_bare_metal(void **state)
{
	(void)state;
	struct platform_facts f = no_hv(0, 4); /* revision 4: Skylake and later Intel cores */
	assert_int_equal(platform_detect(&f), PLATFORM_BARE_METAL);
	f = no_hv(0, 0); /* no VMX */
	assert_int_equal(platform_detect(&f), PLATFORM_BARE_METAL);
}

static void test_bochs_by_vmcs_revision(void **state)
{
	(void)state;
	struct platform_facts f = no_hv(0, PLATFORM_BOCHS_VMCS_REVISION);
	assert_int_equal(platform_detect(&f), PLATFORM_BOCHS);
}

static void test_bochs_by_e9_echo_without_vmx(void **state)
{
	(void)state;
	struct platform_facts f = no_hv(1, 0);
	assert_int_equal(platform_detect(&f), PLATFORM_BOCHS);
}

/* QEMU's debugcon echoes 0xE9 too, but QEMU sets the hypervisor bit: the signature decides. */
static void test_e9_echo_does_not_override_hypervisor(void **state)
{
	(void)state;
	struct platform_facts f = hv("TCGTCGTCGTCG", 0x40000001);
	f.e9_echo = 1;
	assert_int_equal(platform_detect(&f), PLATFORM_QEMU_TCG);
	f = hv("KVMKVMKVM\0\0\0", 0x40000001);
	f.e9_echo = 1;
	f.vmcs_revision = PLATFORM_BOCHS_VMCS_REVISION;
	assert_int_equal(platform_detect(&f), PLATFORM_KVM);
}

/* ---- names and quirks ---- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(platform_name(PLATFORM_BARE_METAL), "bare metal");
	assert_string_equal(platform_name(PLATFORM_KVM), "KVM");
	assert_string_equal(platform_name(PLATFORM_VMWARE), "VMware");
	assert_string_equal(platform_name(PLATFORM_HYPERV), "Hyper-V");
	assert_string_equal(platform_name(PLATFORM_XEN), "Xen");
	assert_string_equal(platform_name(PLATFORM_QEMU_TCG), "QEMU TCG");
	assert_string_equal(platform_name(PLATFORM_BOCHS), "Bochs");
	assert_string_equal(platform_name(PLATFORM_OTHER_HYPERVISOR), "unknown hypervisor");
	assert_string_equal(platform_name((enum platform)99), "?");
}

static void test_quirks_only_on_bochs(void **state)
{
	(void)state;
	assert_contains(platform_quirks(PLATFORM_BOCHS), "INIT");
	for (int p = PLATFORM_BARE_METAL; p <= PLATFORM_OTHER_HYPERVISOR; p++)
		if (p != PLATFORM_BOCHS)
			assert_string_equal(platform_quirks((enum platform)p), "none");
}

/* ---- platform_report ---- */

static char text[1024];

static void capture(const char *s, size_t n)
{
	size_t used = strlen(text);
	if (used + n < sizeof(text)) {
		memcpy(text + used, s, n);
		text[used + n] = 0;
	}
}

static void report(const struct platform_facts *f)
{
	text[0] = 0;
	assert_true(log_add_output(capture) >= 0);
	log_set_level(LOG_INFO);
	platform_report(f);
	log_remove_output(capture);
}

static void test_report_tcg(void **state)
{
	(void)state;
	struct platform_facts f = hv("TCGTCGTCGTCG", 0x40000001);
	report(&f);
	assert_contains(text, "keel: platform: QEMU TCG (hypervisor signature \"TCGTCGTCGTCG\", max leaf "
			      "0x40000001); quirks: none\n");
}

static void test_report_kvm_drops_nuls(void **state)
{
	(void)state;
	struct platform_facts f = hv("KVMKVMKVM\0\0\0", 0x40000001);
	report(&f);
	assert_contains(text, "keel: platform: KVM (hypervisor signature \"KVMKVMKVM\"");
}

static void test_report_unprintable_signature(void **state)
{
	(void)state;
	struct platform_facts f = hv("AB\x01\x7F\xFFxyz\0\0\0\0", 0x40000001);
	report(&f);
	assert_contains(text, "unknown hypervisor (hypervisor signature \"AB...xyz\"");
}

static void test_report_bochs(void **state)
{
	(void)state;
	struct platform_facts f = no_hv(1, PLATFORM_BOCHS_VMCS_REVISION);
	report(&f);
	assert_contains(text, "keel: platform: Bochs (no hypervisor bit; VMCS revision 0x2b); quirks: INIT");
	f = no_hv(1, 0);
	report(&f);
	assert_contains(text, "keel: platform: Bochs (no hypervisor bit; port 0xE9 echoes 0xE9)");
}

static void test_report_bare_metal_one_line(void **state)
{
	(void)state;
	struct platform_facts f = no_hv(0, 4);
	report(&f);
	assert_contains(text, "keel: platform: bare metal (no hypervisor bit, no emulator fingerprint); quirks: none");
	assert_non_null(strchr(text, '\n'));
	assert_null(strchr(strchr(text, '\n') + 1, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_signature_with_trailing_nuls),
		cmocka_unit_test(test_kvm_signature_needs_all_nine_letters),
		cmocka_unit_test(test_vendor_signatures),
		cmocka_unit_test(test_signature_is_case_sensitive),
		cmocka_unit_test(test_hypervisor_bit_without_signature),
		cmocka_unit_test(test_signature_ignored_without_hypervisor_bit),
		cmocka_unit_test(test_bare_metal),
		cmocka_unit_test(test_bochs_by_vmcs_revision),
		cmocka_unit_test(test_bochs_by_e9_echo_without_vmx),
		cmocka_unit_test(test_e9_echo_does_not_override_hypervisor),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_quirks_only_on_bochs),
		cmocka_unit_test(test_report_tcg),
		cmocka_unit_test(test_report_kvm_drops_nuls),
		cmocka_unit_test(test_report_unprintable_signature),
		cmocka_unit_test(test_report_bochs),
		cmocka_unit_test(test_report_bare_metal_one_line),
	};
	return cmocka_run_group_tests_name("platform", tests, NULL, NULL);
}
