/* Host unit tests for vmm/hypercall.c: which calls CPL 3 may make, and the VMCALL handler for the
 * calls that need no VMX instruction (SEAL runs INVEPT and is left to the boot tests). Host
 * program (cmocka); links vmm/hypercall.c, lib/log.c, lib/fmt.c, lib/string.c; the vCPU helpers
 * it calls are fakes below. */
#include "unit.h"

#include "../../mm/shadow.h"

#include "../../lib/log.h"
#include "../../vmm/emulate.h" /* KEEL_VERSION_CODE as hypercall.c sees it */
#include "../../vmm/hypercall.h"

/* ---- fakes for vmm/exit.c, vmm/handlers.c and mm/ept.c ---- */

static unsigned fake_cpl;
static unsigned skips;
static int injected_vector;
static int injected_has_error;

#define GUEST_TEXT_GVA 0x401000ull
static const char guest_text[] = "hello\x01\x7F\xFFkeel";

/* vcpu_cpl reads SS.DPL from the VMCS */
uint64_t vmcs_read_raw(uint32_t field) { return field == VMCS_GUEST_SS_AR ? (uint64_t)fake_cpl << 5 : 0; }

void vcpu_skip_instruction(struct vcpu *v)
{
	(void)v;
	skips++;
}

void vcpu_inject_exception(struct vcpu *v, unsigned vector, int has_error, uint32_t error)
{
	(void)v, (void)error;
	injected_vector = (int)vector;
	injected_has_error = has_error;
}

int vcpu_read_guest(struct vcpu *v, uint64_t gva, void *buf, size_t len)
{
	(void)v;
	if (gva < GUEST_TEXT_GVA || gva + len > GUEST_TEXT_GVA + sizeof(guest_text))
		return -1;
	memcpy(buf, guest_text + (gva - GUEST_TEXT_GVA), len);
	return 0;
}

const char *exit_reason_name(unsigned reason) { return reason == EXIT_REASON_CPUID ? "CPUID" : "other"; }

void vcpu_flush_ept(struct vcpu *v)
{
	(void)v;
	fail_msg("unexpected call to %s in a host test", __func__);
}

unsigned ept_set_hidden_present(struct ept *e, int present)
{
	(void)e, (void)present;
	fail_msg("unexpected call to %s in a host test", __func__);
	return 0;
}

unsigned ept_hidden_pages(const struct ept *e)
{
	(void)e;
	fail_msg("unexpected call to %s in a host test", __func__);
	return 0;
}

/* ---- machine ---- */

static struct vm vm;
static struct vcpu cpu0, cpu1;
static struct guest_regs regs;
static const struct exit_info vmcall_exit = { EXIT_REASON_VMCALL, 0 };
static char log_text[4096];

static void capture(const char *s, size_t n)
{
	size_t used = strlen(log_text);
	if (used + n < sizeof(log_text)) {
		memcpy(log_text + used, s, n);
		log_text[used + n] = 0;
	}
}

static int setup(void **state)
{
	(void)state;
	memset(&vm, 0, sizeof(vm));
	memset(&cpu0, 0, sizeof(cpu0));
	memset(&cpu1, 0, sizeof(cpu1));
	memset(&regs, 0, sizeof(regs));
	cpu0.vm = cpu1.vm = &vm;
	cpu1.index = 1;
	cpu0.launched = cpu1.launched = 1;
	vm.vcpus[0] = &cpu0;
	vm.vcpus[1] = &cpu1;
	vm.nvirt = 2;
	vm.mem_base = 0x1E100000;
	vm.mem_size = 484 * 1024;
	fake_cpl = 0;
	skips = 0;
	injected_vector = -1;
	injected_has_error = -1;
	log_text[0] = 0;
	log_set_level(LOG_INFO);
	return log_add_output(capture) < 0;
}

static int teardown(void **state)
{
	(void)state;
	log_remove_output(capture);
	return 0;
}

static long call(uint64_t nr, uint64_t a, uint64_t b)
{
	regs.gpr[GPR_RAX] = nr;
	regs.gpr[GPR_RBX] = a;
	regs.gpr[GPR_RCX] = b;
	hypercall_handle(&cpu0, &regs, &vmcall_exit);
	return (long)regs.gpr[GPR_RAX];
}

/* ---- hypercall_allowed_from_user ---- */

static void test_user_may_call_version_nop_stats(void **state)
{
	(void)state;
	assert_true(hypercall_allowed_from_user(KEEL_HC_VERSION));
	assert_true(hypercall_allowed_from_user(KEEL_HC_NOP));
	assert_true(hypercall_allowed_from_user(KEEL_HC_STATS));
	assert_true(hypercall_allowed_from_user(KEEL_HC_MMU_STATS));
}

static void test_user_may_not_call_log_print_memrange_seal(void **state)
{
	(void)state;
	assert_false(hypercall_allowed_from_user(KEEL_HC_LOG));
	assert_false(hypercall_allowed_from_user(KEEL_HC_STATS_PRINT));
	assert_false(hypercall_allowed_from_user(KEEL_HC_MEMRANGE));
	assert_false(hypercall_allowed_from_user(KEEL_HC_SEAL));
}

static void test_user_may_not_call_unknown_numbers(void **state)
{
	(void)state;
	assert_false(hypercall_allowed_from_user(8));
	assert_false(hypercall_allowed_from_user(0x100000000ull)); /* VERSION in the low half only */
	assert_false(hypercall_allowed_from_user(~0ull));
}

/* ---- hypercall_handle ---- */

static void test_version_reports_code_and_cpus(void **state)
{
	(void)state;
	assert_int_equal(call(KEEL_HC_VERSION, 0, 0), KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RBX], KEEL_VERSION_CODE);
	assert_int_equal(regs.gpr[GPR_RCX], 2);
	assert_int_equal(skips, 1);
}

static void test_user_call_refused_with_ud_and_no_skip(void **state)
{
	(void)state;
	fake_cpl = 3;
	regs.gpr[GPR_RAX] = KEEL_HC_MEMRANGE;
	hypercall_handle(&cpu0, &regs, &vmcall_exit);
	assert_int_equal(injected_vector, VEC_UD);
	assert_int_equal(injected_has_error, 0);
	assert_int_equal(skips, 0); /* a fault: RIP stays on the VMCALL */
	assert_int_equal(regs.gpr[GPR_RAX], KEEL_HC_MEMRANGE);
	assert_int_equal(regs.gpr[GPR_RBX], 0);
}

static void test_user_call_allowed_runs(void **state)
{
	(void)state;
	fake_cpl = 3;
	assert_int_equal(call(KEEL_HC_NOP, 0, 0), KEEL_HC_OK);
	assert_int_equal(injected_vector, -1);
	assert_int_equal(skips, 1);
}

static void test_unknown_call_returns_enosys(void **state)
{
	(void)state;
	assert_int_equal(call(0x77, 0, 0), KEEL_HC_ENOSYS);
	assert_int_equal(skips, 1);
}

static void test_stats_returns_counts(void **state)
{
	(void)state;
	cpu1.exits[EXIT_REASON_CPUID] = 41;
	cpu1.exits[EXIT_REASON_COUNT] = 58; /* beyond the table: in the total only */
	assert_int_equal(call(KEEL_HC_STATS, 1, EXIT_REASON_CPUID), KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RBX], 41);
	assert_int_equal(regs.gpr[GPR_RCX], 2);
	assert_int_equal(call(KEEL_HC_STATS, 1, KEEL_STATS_TOTAL), KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RBX], 99);
}

static void test_stats_bad_arguments_einval(void **state)
{
	(void)state;
	assert_int_equal(call(KEEL_HC_STATS, 2, 0), KEEL_HC_EINVAL);            /* no such vCPU */
	assert_int_equal(call(KEEL_HC_STATS, KEEL_MAX_CPUS, 0), KEEL_HC_EINVAL);
	assert_int_equal(call(KEEL_HC_STATS, ~0ull, 0), KEEL_HC_EINVAL);
	assert_int_equal(call(KEEL_HC_STATS, 0, EXIT_REASON_COUNT), KEEL_HC_EINVAL);
	assert_int_equal(regs.gpr[GPR_RBX], 0);
}

/* MMU_STATS under EPT: the mode, and every counter reads 0. */
static void test_mmu_stats_ept_mode_zero(void **state)
{
	(void)state;
	fake_cpl = 3;
	regs.gpr[GPR_RBX] = 123;
	assert_int_equal(call(KEEL_HC_MMU_STATS, 1, KEEL_MMU_STAT_HIDDEN_FAULTS), KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RBX], 0);
	assert_int_equal(regs.gpr[GPR_RCX], KEEL_MMU_EPT);
	assert_int_equal(skips, 1);
}

/* MMU_STATS under shadow paging: each index names its own counter of that vCPU. */
static void test_mmu_stats_shadow_counters(void **state)
{
	(void)state;
	static struct shadow_mmu sh;
	static const struct {
		unsigned index;
		uint64_t value;
	} want[] = {
		{ KEEL_MMU_STAT_HIDDEN_FAULTS, 50 }, { KEEL_MMU_STAT_REFLECTED_FAULTS, 3 },
		{ KEEL_MMU_STAT_CR3_LOADS, 4 },      { KEEL_MMU_STAT_ROOT_HITS, 1 },
		{ KEEL_MMU_STAT_INVLPGS, 2 },        { KEEL_MMU_STAT_FLUSHES, 11 },
		{ KEEL_MMU_STAT_KEEL_PAGE_MAPS, 6 }, { KEEL_MMU_STAT_RECLAIMS, 7 },
		{ KEEL_MMU_STAT_PAGES_IN_USE, 9 },   { KEEL_MMU_STAT_PAGES_TOTAL, 512 },
	};
	_Static_assert(sizeof(want) / sizeof(want[0]) == KEEL_MMU_STAT_COUNT, "every counter checked");
	memset(&sh, 0, sizeof(sh));
	sh.stats = (struct shadow_stats){ .hidden_faults = 50, .reflected_faults = 3, .cr3_loads = 4, .root_hits = 1,
					  .invlpgs = 2, .flushes = 11, .keel_page_maps = 6, .reclaims = 7,
					  .pages_in_use = 9, .pages_total = 512 };
	cpu1.shadow = cpu1.shadow_mmu = &sh;
	for (unsigned i = 0; i < KEEL_MMU_STAT_COUNT; i++) {
		assert_int_equal(call(KEEL_HC_MMU_STATS, 1, want[i].index), KEEL_HC_OK);
		assert_int_equal(regs.gpr[GPR_RBX], want[i].value);
		assert_int_equal(regs.gpr[GPR_RCX], KEEL_MMU_SHADOW);
	}
	assert_int_equal(call(KEEL_HC_MMU_STATS, 0, KEEL_MMU_STAT_HIDDEN_FAULTS), KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RCX], KEEL_MMU_EPT); /* the mode is per vCPU */
	cpu1.shadow = cpu1.shadow_mmu = 0;
}

static void test_mmu_stats_bad_arguments_einval(void **state)
{
	(void)state;
	assert_int_equal(call(KEEL_HC_MMU_STATS, 2, 0), KEEL_HC_EINVAL); /* no such vCPU */
	assert_int_equal(call(KEEL_HC_MMU_STATS, KEEL_MAX_CPUS, 0), KEEL_HC_EINVAL);
	assert_int_equal(call(KEEL_HC_MMU_STATS, ~0ull, 0), KEEL_HC_EINVAL);
	assert_int_equal(call(KEEL_HC_MMU_STATS, 0, KEEL_MMU_STAT_COUNT), KEEL_HC_EINVAL);
	assert_int_equal(regs.gpr[GPR_RBX], 0);
}

/* Some CPUs left native (no wait-for-SIPI, out of memory, a failed launch): no seal. */
static void test_seal_refused_with_cpus_left_native(void **state)
{
	(void)state;
	vm.ncpus = 2;
	vm.nvirt = 1;
	assert_int_equal(call(KEEL_HC_SEAL, 0, 0), KEEL_HC_EBUSY);
	assert_int_equal(vm.sealed, 0);
}

static void test_memrange_reports_keel_memory(void **state)
{
	(void)state;
	assert_int_equal(call(KEEL_HC_MEMRANGE, 0, 0), KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RBX], 0x1E100000);
	assert_int_equal(regs.gpr[GPR_RCX], 484 * 1024);
}

static void test_log_prints_printable_ascii(void **state)
{
	(void)state;
	assert_int_equal(call(KEEL_HC_LOG, GUEST_TEXT_GVA, sizeof(guest_text) - 1), KEEL_HC_OK);
	assert_contains(log_text, "guest cpu0 says: hello...keel\n");
}

static void test_log_too_long_einval(void **state)
{
	(void)state;
	assert_int_equal(call(KEEL_HC_LOG, GUEST_TEXT_GVA, KEEL_HC_LOG_MAX + 1), KEEL_HC_EINVAL);
	assert_string_equal(log_text, "");
}

static void test_log_unreadable_efault(void **state)
{
	(void)state;
	assert_int_equal(call(KEEL_HC_LOG, 0xDEAD0000, 4), KEEL_HC_EFAULT);
	assert_string_equal(log_text, "");
}

static void test_stats_print_lists_seen_exits(void **state)
{
	(void)state;
	cpu0.exits[EXIT_REASON_CPUID] = 7;
	cpu1.launched = 0;
	assert_int_equal(call(KEEL_HC_STATS_PRINT, 0, 0), KEEL_HC_OK);
	assert_contains(log_text, "exit statistics (2 CPUs virtualized)");
	assert_contains(log_text, "cpu0 total 7");
	assert_contains(log_text, "cpu0 CPUID");
	assert_not_contains(log_text, "cpu1");
	assert_not_contains(log_text, "other");
}

static void test_stats_print_shadow_counters(void **state)
{
	(void)state;
	static struct shadow_mmu sh;
	memset(&sh, 0, sizeof(sh));
	sh.stats = (struct shadow_stats){ .hidden_faults = 50, .reflected_faults = 3, .cr3_loads = 4, .root_hits = 1,
					  .invlpgs = 2, .flushes = 1, .keel_page_maps = 6, .reclaims = 0,
					  .pages_in_use = 9, .pages_total = 512 };
	vm.shadow = 1;
	cpu0.shadow = cpu0.shadow_mmu = &sh;
	cpu1.launched = 0;
	assert_int_equal(call(KEEL_HC_STATS_PRINT, 0, 0), KEEL_HC_OK);
	assert_contains(log_text, "exit statistics (2 CPUs virtualized) under mmu=shadow");
	assert_contains(log_text, "cpu0 shadow MMU: 50 hidden faults, 3 reflected, 4 CR3 loads (1 cached), 2 INVLPGs, "
				  "1 flushes, 6 maps of keel's memory, 0 reclaims, 9 of 512 pages in use");
	cpu0.shadow = cpu0.shadow_mmu = 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_user_may_call_version_nop_stats),
		T(test_user_may_not_call_log_print_memrange_seal),
		T(test_user_may_not_call_unknown_numbers),
		T(test_version_reports_code_and_cpus),
		T(test_user_call_refused_with_ud_and_no_skip),
		T(test_user_call_allowed_runs),
		T(test_unknown_call_returns_enosys),
		T(test_stats_returns_counts),
		T(test_stats_bad_arguments_einval),
		T(test_mmu_stats_ept_mode_zero),
		T(test_mmu_stats_shadow_counters),
		T(test_mmu_stats_bad_arguments_einval),
		T(test_seal_refused_with_cpus_left_native),
		T(test_memrange_reports_keel_memory),
		T(test_log_prints_printable_ascii),
		T(test_log_too_long_einval),
		T(test_log_unreadable_efault),
		T(test_stats_print_lists_seen_exits),
		T(test_stats_print_shadow_counters),
	};
	return cmocka_run_group_tests_name("hypercall", tests, NULL, NULL);
}
