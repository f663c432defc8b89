/* Host unit tests for vmm/emulate.c: CPUID shaping and keel's leaves, MSR classification and
 * WRMSR faults, canonical addresses, XSETBV faults, and MOV to CR0/CR4 as the hardware would do
 * them. Host program (cmocka); links vmm/emulate.c. Fixed CR bits from caps_data.h. */
#include "unit.h"

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../vmm/emulate.h"
#include "caps_data.h"

/* Nothing hidden but VMX/SMX: every control on, CR4 free. */
static const struct cpuid_policy open_policy = { .leaf1_ecx = CPUID1_ECX_VMX | CPUID1_ECX_SMX };

/* ---- CPUID ---- */

static struct cpuid_regs regs(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	struct cpuid_regs r = { a, b, c, d };
	return r;
}

static void test_cpuid1_sets_hypervisor_and_clears_vmx(void **state)
{
	(void)state;
	struct cpuid_regs r = regs(0x50654, 0x00100800, caps_intel_i7_7800x.cpuid1_ecx, 0xBFEBFBFF);
	cpuid_shape(&open_policy, 1, 0, 0, &r);
	assert_true(r.ecx & CPUID1_ECX_HYPERVISOR);
	assert_false(r.ecx & CPUID1_ECX_VMX);
	assert_int_equal(r.eax, 0x50654);
	assert_int_equal(r.ebx, 0x00100800);
	assert_int_equal(r.edx, 0xBFEBFBFF);
	/* Every other ECX bit as the CPU reports it. */
	uint32_t keep = ~(uint32_t)(CPUID1_ECX_HYPERVISOR | CPUID1_ECX_VMX | CPUID1_ECX_OSXSAVE);
	assert_int_equal(r.ecx & keep, caps_intel_i7_7800x.cpuid1_ecx & keep);
}

static void test_cpuid1_osxsave_follows_guest_cr4(void **state)
{
	(void)state;
	/* keel's CR4 has OSXSAVE (native ECX.27 = 1); the guest's may not. */
	struct cpuid_regs r = regs(0, 0, caps_intel_i7_7800x.cpuid1_ecx, 0);
	assert_true(r.ecx & CPUID1_ECX_OSXSAVE);
	cpuid_shape(&open_policy, 1, 0, 0x668, &r);
	assert_false(r.ecx & CPUID1_ECX_OSXSAVE);
	/* And the other way round: native 0 (Bochs at probe time), guest has set it. */
	r = regs(0, 0, caps_bochs_skylake_x.cpuid1_ecx, 0);
	assert_false(r.ecx & CPUID1_ECX_OSXSAVE);
	cpuid_shape(&open_policy, 1, 0, 0x668 | CR4_OSXSAVE, &r);
	assert_true(r.ecx & CPUID1_ECX_OSXSAVE);
}

static void test_cpuid7_ospke_follows_guest_cr4(void **state)
{
	(void)state;
	struct cpuid_regs r = regs(0, 0xD19F4FBB, 0x18 /* PKU, OSPKE */, 0);
	cpuid_shape(&open_policy, 7, 0, 0, &r);
	assert_int_equal(r.ecx, 0x08);
	assert_int_equal(r.ebx, 0xD19F4FBB);
	cpuid_shape(&open_policy, 7, 0, CR4_PKE, &r);
	assert_int_equal(r.ecx, 0x18);
}

static void test_cpuid7_other_subleaf_untouched(void **state)
{
	(void)state;
	struct cpuid_regs r = regs(1, 2, 0x18, 4);
	cpuid_shape(&open_policy, 7, 1, 0, &r);
	assert_int_equal(r.ecx, 0x18);
}

static void test_cpuid_other_leaves_untouched(void **state)
{
	(void)state;
	const uint32_t leaves[] = { 0, 2, 4, 0xB, 0xD, 0x80000001, 0x80000008 };
	for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		struct cpuid_regs r = regs(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF);
		cpuid_shape(&open_policy, leaves[i], 0, 0, &r);
		assert_int_equal(r.eax & r.ebx & r.ecx & r.edx, 0xFFFFFFFF);
	}
}

static void test_policy_hides_waitpkg_without_user_wait_pause(void **state)
{
	(void)state;
	struct cpuid_policy p;
	struct cpuid_regs r = regs(0, 0, CPUID7_ECX_WAITPKG | CPUID7_ECX_RDPID, 0);
	cpuid_policy_init(&p, PROC2_ENABLE_RDTSCP, ~0ULL);
	cpuid_shape(&p, 7, 0, 0, &r);
	assert_int_equal(r.ecx, CPUID7_ECX_RDPID); /* TPAUSE would #UD: hidden */
	r = regs(0, 0, CPUID7_ECX_WAITPKG | CPUID7_ECX_RDPID, 0);
	cpuid_policy_init(&p, PROC2_ENABLE_RDTSCP | PROC2_ENABLE_USER_WAIT_PAUSE, ~0ULL);
	cpuid_shape(&p, 7, 0, 0, &r);
	assert_int_equal(r.ecx, CPUID7_ECX_WAITPKG | CPUID7_ECX_RDPID);
}

static void test_policy_hides_instructions_their_controls_leave_off(void **state)
{
	(void)state;
	struct cpuid_policy p;
	cpuid_policy_init(&p, 0, ~0ULL);
	struct cpuid_regs r = regs(0, CPUID7_EBX_INVPCID | 1, CPUID7_ECX_RDPID, CPUID7_EDX_PCONFIG);
	cpuid_shape(&p, 7, 0, 0, &r);
	assert_int_equal(r.ebx, 1);
	assert_int_equal(r.ecx, 0);
	assert_int_equal(r.edx, 0);
	r = regs(CPUIDD1_EAX_XSAVES | 1, 0, 0, 0);
	cpuid_shape(&p, 0xD, 1, 0, &r);
	assert_int_equal(r.eax, 1);
	r = regs(0, 0, 0, CPUID81_EDX_RDTSCP | CPUID81_EDX_LM);
	cpuid_shape(&p, 0x80000001, 0, 0, &r);
	assert_int_equal(r.edx, CPUID81_EDX_LM);
	r = regs(0, 0, CPUID1_ECX_SMX | CPUID1_ECX_VMX | 1, 0);
	cpuid_shape(&p, 1, 0, 0, &r);
	assert_int_equal(r.ecx, 1 | CPUID1_ECX_HYPERVISOR);
	cpuid_policy_init(&p, PROC2_ENABLE_INVPCID | PROC2_ENABLE_XSAVES | PROC2_ENABLE_PCONFIG | PROC2_ENABLE_RDTSCP,
			  ~0ULL);
	r = regs(0, CPUID7_EBX_INVPCID, CPUID7_ECX_RDPID, CPUID7_EDX_PCONFIG);
	cpuid_shape(&p, 7, 0, 0, &r);
	assert_int_equal(r.ebx, CPUID7_EBX_INVPCID);
	assert_int_equal(r.ecx, CPUID7_ECX_RDPID);
	assert_int_equal(r.edx, CPUID7_EDX_PCONFIG);
}

static void test_policy_hides_features_vmx_cr4_forbids(void **state)
{
	(void)state;
	struct cpuid_policy p;
	/* Bochs 2.7's skylake_x: CR4_FIXED1 without UMIP, LA57, PKE. */
	cpuid_policy_init(&p, ~0u, caps_bochs_skylake_x.cr4_fixed1);
	struct cpuid_regs r = regs(0, CPUID7_EBX_SMEP, CPUID7_ECX_UMIP | CPUID7_ECX_PKU | CPUID7_ECX_LA57, 0);
	cpuid_shape(&p, 7, 0, 0, &r);
	assert_int_equal(r.ebx, CPUID7_EBX_SMEP);
	assert_int_equal(r.ecx, 0);
	cpuid_policy_init(&p, ~0u, ~0ULL);
	r = regs(0, 0, CPUID7_ECX_UMIP | CPUID7_ECX_PKU | CPUID7_ECX_CET_SS, CPUID7_EDX_UINTR);
	cpuid_shape(&p, 7, 0, 0, &r);
	assert_int_equal(r.ecx, CPUID7_ECX_UMIP | CPUID7_ECX_PKU | CPUID7_ECX_CET_SS);
	assert_int_equal(r.edx, CPUID7_EDX_UINTR);
}

/* The stub's cache holds only leaves with nothing dynamic: not leaf 1 (OSXSAVE), 7 (OSPKE,
 * subleaves), 0xB/0x1F (subleaves), 0xD (XCR0/XSS sizes), nor leaves above the maximum. */
static void test_cpuid_fast_leaves_exclude_dynamic_ones(void **state)
{
	(void)state;
	uint32_t set = cpuid_fast_leaves(0x1F);
	const unsigned dynamic[] = { 1, 4, 7, 0xB, 0xD, 0xF, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1F };
	for (unsigned i = 0; i < sizeof(dynamic) / sizeof(dynamic[0]); i++)
		assert_false(set & (1u << dynamic[i]));
	assert_true(set & 1);
	assert_true(set & (1u << 0x16));
	assert_int_equal(cpuid_fast_leaves(0xD) & ~0x3FFFu, 0); /* nothing above the maximum */
	assert_false(cpuid_fast_leaves(5) & (1u << 6));
}

static void test_misc_enable_keeps_xd_disable(void **state)
{
	(void)state;
	assert_int_equal(msr_misc_enable_write(0x850089, 0x850089 | MISC_ENABLE_XD_DISABLE), 0x850089);
	assert_int_equal(msr_misc_enable_write(0x850089 | MISC_ENABLE_XD_DISABLE, 0x1), 0x1 | MISC_ENABLE_XD_DISABLE);
	assert_int_equal(msr_misc_enable_write(0, 0x40001), 0x40001); /* other bits pass */
	assert_int_equal(msr_classify(MSR_IA32_MISC_ENABLE), MSR_VIRT_MISC_ENABLE);
	assert_int_equal(msr_classify(MSR_IA32_BIOS_UPDT_TRIG), MSR_VIRT_UCODE_TRIGGER);
}

static void test_hypervisor_range_is_keels(void **state)
{
	(void)state;
	assert_true(cpuid_leaf_is_keels(0x40000000));
	assert_true(cpuid_leaf_is_keels(0x40000100)); /* where an L0's leaves would show through */
	assert_true(cpuid_leaf_is_keels(0x4FFFFFFF));
	assert_false(cpuid_leaf_is_keels(0x3FFFFFFF));
	assert_false(cpuid_leaf_is_keels(0x50000000));
	assert_false(cpuid_leaf_is_keels(0x80000001));
}

static void test_keel_leaf_signature_and_max_leaf(void **state)
{
	(void)state;
	struct cpuid_regs r = regs(1, 2, 3, 4);
	char sig[13] = { 0 };
	cpuid_keel_leaf(0x40000000, &r);
	memcpy(sig, &r.ebx, 4);
	memcpy(sig + 4, &r.ecx, 4);
	memcpy(sig + 8, &r.edx, 4);
	assert_string_equal(sig, "KeelKeelKeel");
	assert_int_equal(r.eax, 0x40000001);
}

static void test_keel_leaf_1_reports_version_code(void **state)
{
	(void)state;
	struct cpuid_regs r = regs(1, 2, 3, 4);
	cpuid_keel_leaf(0x40000001, &r);
	assert_int_equal(r.eax, KEEL_VERSION_CODE);
	assert_int_equal(r.ebx | r.ecx | r.edx, 0);
}

/* KEEL_VERSION "a.b.c" as major << 16 | minor << 8 | patch (vmm/hypercall_abi.h). */
static uint32_t version_code_of(const char *v)
{
	uint32_t part[3] = { 0 };
	for (unsigned i = 0; *v && i < 3; v++) {
		if (*v == '.')
			i++;
		else
			part[i] = part[i] * 10 + (uint32_t)(*v - '0');
	}
	return part[0] << 16 | part[1] << 8 | part[2];
}

static void test_keel_leaf_1_version_matches_keel_version(void **state)
{
	(void)state;
	/* The Makefile's HOST_CFLAGS pass KEEL_VERSION but not KEEL_VERSION_CODE, so host builds see
	 * emulate.h's fallback 0; only a build that defines the code can check it. */
	if (KEEL_VERSION_CODE == 0)
		skip();
	struct cpuid_regs r;
	cpuid_keel_leaf(0x40000001, &r);
	assert_int_equal(r.eax, version_code_of(KEEL_VERSION));
}

static void test_keel_leaves_beyond_max_are_zero(void **state)
{
	(void)state;
	struct cpuid_regs r = regs(1, 2, 3, 4);
	cpuid_keel_leaf(0x40000002, &r);
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
	r = regs(1, 2, 3, 4);
	cpuid_keel_leaf(0x400000FF, &r);
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
}

/* ---- MSRs ---- */

static void test_msr_classify(void **state)
{
	(void)state;
	assert_int_equal(msr_classify(MSR_IA32_FEATURE_CONTROL), MSR_VIRT_FEATURE_CONTROL);
	assert_int_equal(msr_classify(0x480), MSR_VIRT_VMX_CAP);
	assert_int_equal(msr_classify(0x48B), MSR_VIRT_VMX_CAP);
	assert_int_equal(msr_classify(0x491), MSR_VIRT_VMX_CAP);
	assert_int_equal(msr_classify(0x47F), MSR_PASSTHROUGH);
	assert_int_equal(msr_classify(0x492), MSR_PASSTHROUGH);
	assert_int_equal(msr_classify(MSR_EFER), MSR_PASSTHROUGH);
	assert_int_equal(msr_classify(MSR_IA32_PAT), MSR_PASSTHROUGH);
}

static void test_feature_control_view_locked_with_vmx_off(void **state)
{
	(void)state;
	assert_int_equal(msr_feature_control_view(0), FEATURE_CONTROL_LOCK);
	assert_int_equal(msr_feature_control_view(I7_7800X_FEATURE_CONTROL), FEATURE_CONTROL_LOCK);
	assert_int_equal(msr_feature_control_view(0x7), FEATURE_CONTROL_LOCK);
}

static void test_feature_control_view_keeps_other_bits(void **state)
{
	(void)state;
	/* SENTER enables (bits 14:8), SGX (18), LMCE (20) pass through. */
	assert_int_equal(msr_feature_control_view(0x147F07), 0x147F01);
}

static void test_feature_control_write_faults(void **state)
{
	(void)state;
	assert_true(msr_write_faults(MSR_IA32_FEATURE_CONTROL, 0));
	assert_true(msr_write_faults(MSR_IA32_FEATURE_CONTROL, 5));
}

static void test_vmx_capability_writes_fault(void **state)
{
	(void)state;
	for (uint32_t msr = 0x480; msr <= 0x491; msr++)
		if (!msr_write_faults(msr, 0))
			fail_msg("WRMSR 0x%x did not fault", msr);
	assert_false(msr_write_faults(0x47F, 0));
	assert_false(msr_write_faults(0x492, 0));
}

static void test_is_canonical_edges(void **state)
{
	(void)state;
	assert_true(is_canonical(0));
	assert_true(is_canonical(0x00007FFFFFFFFFFFull));
	assert_false(is_canonical(0x0000800000000000ull));
	assert_false(is_canonical(0x0001000000000000ull));
	assert_false(is_canonical(0x8000000000000000ull));
	assert_false(is_canonical(0xFFFF7FFFFFFFFFFFull));
	assert_true(is_canonical(0xFFFF800000000000ull));
	assert_true(is_canonical(0xFFFFFFFFFFFFFFFFull));
}

static void test_base_msrs_fault_on_non_canonical(void **state)
{
	(void)state;
	const uint32_t msrs[] = { MSR_FS_BASE,	    MSR_GS_BASE,	   MSR_KERNEL_GS_BASE,
				  MSR_LSTAR,	    MSR_CSTAR,		   MSR_IA32_SYSENTER_ESP,
				  MSR_IA32_SYSENTER_EIP };
	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		if (!msr_write_faults(msrs[i], 0x0000800000000000ull))
			fail_msg("MSR 0x%x took a non-canonical address", msrs[i]);
		if (msr_write_faults(msrs[i], 0xFFFF800000001000ull) || msr_write_faults(msrs[i], 0x7FFFFFFFF000ull))
			fail_msg("MSR 0x%x refused a canonical address", msrs[i]);
	}
}

static void test_star_and_fmask_take_anything(void **state)
{
	(void)state;
	assert_false(msr_write_faults(MSR_STAR, 0x8000800000000000ull));
	assert_false(msr_write_faults(MSR_FMASK, ~0ull));
}

static void test_efer_valid_bits(void **state)
{
	(void)state;
	assert_false(msr_write_faults(MSR_EFER, 0));
	assert_false(msr_write_faults(MSR_EFER, EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE));
}

static void test_efer_reserved_bits_fault(void **state)
{
	(void)state;
	assert_true(msr_write_faults(MSR_EFER, BIT(1)));
	assert_true(msr_write_faults(MSR_EFER, EFER_SVME)); /* AMD only: reserved on Intel */
	assert_true(msr_write_faults(MSR_EFER, EFER_LME | EFER_FFXSR));
	assert_true(msr_write_faults(MSR_EFER, BIT(63)));
}

static void test_pat_valid_types(void **state)
{
	(void)state;
	assert_false(msr_write_faults(MSR_IA32_PAT, 0x0007040600070406ull)); /* power-on value */
	assert_false(msr_write_faults(MSR_IA32_PAT, 0x0000000005010406ull)); /* WP, WC */
}

static void test_pat_invalid_types_fault(void **state)
{
	(void)state;
	assert_true(msr_write_faults(MSR_IA32_PAT, 0x0007040600070402ull)); /* entry 0 = 2 */
	assert_true(msr_write_faults(MSR_IA32_PAT, 0x0007040603070406ull)); /* entry 3 = 3 */
	assert_true(msr_write_faults(MSR_IA32_PAT, 0x0807040600070406ull)); /* entry 7 = 8 */
	assert_true(msr_write_faults(MSR_IA32_PAT, 0x00070406000704FFull)); /* entry 0 = 0xFF */
}

static void test_other_msrs_do_not_fault(void **state)
{
	(void)state;
	assert_false(msr_write_faults(MSR_IA32_SYSENTER_CS, ~0ull));
	assert_false(msr_write_faults(MSR_IA32_TSC_ADJUST, 12345));
	assert_false(msr_write_faults(MSR_TSC_AUX, 3));
}

/* ---- XSETBV ---- */

#define X87 0x1ull
#define SSE 0x2ull
#define AVX 0x4ull
#define BNDREGS 0x8ull
#define BNDCSR 0x10ull
#define AVX512 0xE0ull
#define PKRU 0x200ull
#define SKX_XCR0 (X87 | SSE | AVX | BNDREGS | BNDCSR | AVX512 | PKRU) /* CPUID.(0xD,0) on Skylake-X */

static void test_xsetbv_valid_values(void **state)
{
	(void)state;
	assert_false(xcr0_write_faults(0, X87, SKX_XCR0));
	assert_false(xcr0_write_faults(0, X87 | SSE, SKX_XCR0));
	assert_false(xcr0_write_faults(0, X87 | SSE | AVX, SKX_XCR0));
	assert_false(xcr0_write_faults(0, X87 | SSE | AVX | AVX512, SKX_XCR0));
	assert_false(xcr0_write_faults(0, X87 | BNDREGS | BNDCSR, SKX_XCR0));
	assert_false(xcr0_write_faults(0, SKX_XCR0, SKX_XCR0));
}

static void test_xsetbv_index_other_than_0_faults(void **state)
{
	(void)state;
	assert_true(xcr0_write_faults(1, X87 | SSE, SKX_XCR0));
	assert_true(xcr0_write_faults(0xFFFFFFFF, X87, SKX_XCR0));
}

static void test_xsetbv_x87_clear_faults(void **state)
{
	(void)state;
	assert_true(xcr0_write_faults(0, 0, SKX_XCR0));
	assert_true(xcr0_write_faults(0, SSE, SKX_XCR0));
}

static void test_xsetbv_unsupported_bits_fault(void **state)
{
	(void)state;
	assert_true(xcr0_write_faults(0, X87 | SSE | AVX, X87 | SSE));
	assert_true(xcr0_write_faults(0, X87 | PKRU, X87 | SSE | AVX));
	assert_true(xcr0_write_faults(0, X87 | BIT(62), ~0ull & ~BIT(62)));
}

static void test_xsetbv_avx_without_sse_faults(void **state)
{
	(void)state;
	assert_true(xcr0_write_faults(0, X87 | AVX, SKX_XCR0));
}

static void test_xsetbv_bndregs_without_bndcsr_faults(void **state)
{
	(void)state;
	assert_true(xcr0_write_faults(0, X87 | BNDREGS, SKX_XCR0));
	assert_true(xcr0_write_faults(0, X87 | BNDCSR, SKX_XCR0));
}

static void test_xsetbv_partial_avx512_faults(void **state)
{
	(void)state;
	assert_true(xcr0_write_faults(0, X87 | SSE | AVX | 0x20, SKX_XCR0));
	assert_true(xcr0_write_faults(0, X87 | SSE | AVX | 0x60, SKX_XCR0));
	assert_true(xcr0_write_faults(0, X87 | SSE | AVX | 0xC0, SKX_XCR0));
}

static void test_xsetbv_avx512_without_avx_faults(void **state)
{
	(void)state;
	assert_true(xcr0_write_faults(0, X87 | SSE | AVX512, SKX_XCR0));
}

/* ---- MOV to CR0 ---- */

/* A 64-bit guest (the firmware after hand-off) with Bochs's fixed bits. */
static struct cr_state long_mode(void)
{
	struct cr_state s;
	memset(&s, 0, sizeof(s));
	s.cr0_shadow = CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE;
	s.cr0 = s.cr0_shadow;
	s.cr4_shadow = caps_bochs_skylake_x.cr4; /* 0x668: PAE among them */
	s.cr4 = s.cr4_shadow | CR4_VMXE;
	s.cr3 = 0x7E00000;
	s.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
	s.cs_l = 1;
	s.cr0_fixed0 = caps_bochs_skylake_x.cr0_fixed0; /* 0x80000021 */
	s.cr0_fixed1 = caps_bochs_skylake_x.cr0_fixed1; /* 0xFFFFFFFF */
	s.cr4_fixed0 = caps_bochs_skylake_x.cr4_fixed0;
	s.cr4_fixed1 = caps_bochs_skylake_x.cr4_fixed1;
	/* keel's masks (vmm/vmx.c setup_controls): NE in CR0; VMXE and the VMX-fixed bits in CR4. */
	s.cr0_mask = s.cr0_fixed0 & ~(CR0_PE | CR0_PG);
	s.cr4_mask = s.cr4_fixed0 | ~s.cr4_fixed1 | CR4_VMXE;
	return s;
}

/* Protected mode without paging, as after a reset into 32-bit code. */
static struct cr_state protected_mode(void)
{
	struct cr_state s = long_mode();
	s.cr0_shadow = CR0_NE | CR0_ET | CR0_PE;
	s.cr0 = s.cr0_shadow;
	s.cr4_shadow = 0;
	s.cr4 = CR4_VMXE;
	s.efer = 0;
	s.cs_l = 0;
	return s;
}

/* MOV to CR0 must fault and leave the state exactly as it was. */
static void assert_cr0_faults(struct cr_state s, uint64_t val)
{
	struct cr_state before = s;
	if (!cr0_emulate_write(&s, val))
		fail_msg("MOV CR0, 0x%llx did not fault", (unsigned long long)val);
	assert_memory_equal(&s, &before, sizeof(s));
}

static void test_cr0_clearing_wp_with_cet_faults(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cr4_shadow |= CR4_CET;
	s.cr4 |= CR4_CET;
	assert_cr0_faults(s, s.cr0_shadow & ~CR0_WP);
}

static void test_cr4_setting_cet_without_wp_faults(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cr0_shadow &= ~CR0_WP;
	s.cr0 &= ~CR0_WP;
	s.cr4_fixed1 |= CR4_CET;
	struct cr_state before = s;
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow | CR4_CET), 1);
	assert_memory_equal(&s, &before, sizeof(s));
	s.cr0_shadow |= CR0_WP;
	s.cr0 |= CR0_WP;
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow | CR4_CET), 0);
}

static void test_pae_pdpte_reserved_bits(void **state)
{
	(void)state;
	uint64_t ok[4] = { 0x1001, 0, 0x3001 | (1ULL << 38), 0x4000 | 0x6 /* not present: ignored */ };
	assert_int_equal(pae_pdptes_invalid(ok, 39), 0);
	uint64_t rw[4] = { 0x1003, 0, 0, 0 }; /* bit 1 (R/W) is reserved in a PDPTE */
	assert_int_equal(pae_pdptes_invalid(rw, 39), 1);
	uint64_t high[4] = { 0, 0x1001 | (1ULL << 39), 0, 0 };
	assert_int_equal(pae_pdptes_invalid(high, 39), 1);
	uint64_t xd[4] = { 0, 0, 0, 0x1001 | (1ULL << 63) };
	assert_int_equal(pae_pdptes_invalid(xd, 52), 1);
	assert_true(pae_paging_active(CR0_PG | CR0_PE, CR4_PAE, 0));
	assert_false(pae_paging_active(CR0_PG | CR0_PE, CR4_PAE, EFER_LME | EFER_LMA));
	assert_false(pae_paging_active(CR0_PE, CR4_PAE, 0));
}

static void test_cr0_bits_63_32_fault(void **state)
{
	(void)state;
	assert_cr0_faults(long_mode(), long_mode().cr0_shadow | BIT(32));
	assert_cr0_faults(long_mode(), long_mode().cr0_shadow | BIT(63));
}

static void test_cr0_nw_without_cd_faults(void **state)
{
	(void)state;
	assert_cr0_faults(long_mode(), long_mode().cr0_shadow | CR0_NW);
}

static void test_cr0_nw_with_cd_is_allowed(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_CD | CR0_NW), 0);
	assert_true(s.cr0_shadow & CR0_NW);
}

static void test_cr0_pg_without_pe_faults(void **state)
{
	(void)state;
	assert_cr0_faults(protected_mode(), CR0_PG | CR0_NE | CR0_ET);
	assert_cr0_faults(long_mode(), (long_mode().cr0_shadow & ~CR0_PE));
}

static void test_cr0_clearing_pg_in_64bit_mode_faults(void **state)
{
	(void)state;
	assert_cr0_faults(long_mode(), long_mode().cr0_shadow & ~CR0_PG);
}

static void test_cr0_clearing_pg_with_pcide_faults(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cs_l = 0; /* compatibility mode, where clearing PG is otherwise allowed */
	s.cr4_shadow |= CR4_PCIDE;
	s.cr4 |= CR4_PCIDE;
	assert_cr0_faults(s, s.cr0_shadow & ~CR0_PG);
}

static void test_cr0_clearing_pg_in_compatibility_mode_leaves_ia32e(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cs_l = 0;
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow & ~CR0_PG), 0);
	assert_false(s.efer & EFER_LMA);
	assert_true(s.efer & EFER_LME);
	assert_false(s.cr0_shadow & CR0_PG);
}

static void test_cr0_pg_with_lme_but_no_pae_faults(void **state)
{
	(void)state;
	struct cr_state s = protected_mode();
	s.efer = EFER_LME;
	assert_cr0_faults(s, s.cr0_shadow | CR0_PG);
}

/* Regression: bits the guest changed without an exit live only in the real register; the shadow
 * is stale for them (found when an AP's firmware reloaded CR0 in 64-bit mode and got #GP). */
static void test_cr0_write_uses_real_value_of_unowned_bits(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cr0_shadow = CR0_ET | CR0_CD | CR0_NW; /* as written at SIPI, before the guest enabled paging */
	s.cr4_shadow = 0;
	assert_int_equal(cr0_emulate_write(&s, CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE), 0);
	assert_true(s.efer & EFER_LMA);
}

static void test_cr_guest_view_mixes_by_mask(void **state)
{
	(void)state;
	assert_int_equal(cr_guest_view(0xF0, 0x0F, 0x3C), 0xCC);
}

static void test_cr0_setting_pg_with_lme_sets_lma(void **state)
{
	(void)state;
	struct cr_state s = protected_mode();
	s.efer = EFER_LME;
	s.cr4_shadow = CR4_PAE;
	s.cr4 = CR4_PAE | CR4_VMXE;
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_PG), 0);
	assert_int_equal(s.efer, EFER_LME | EFER_LMA);
}

static void test_cr0_setting_pg_without_lme_leaves_lma_clear(void **state)
{
	(void)state;
	struct cr_state s = protected_mode();
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_PG), 0);
	assert_int_equal(s.efer, 0);
	assert_true(s.cr0_shadow & CR0_PG);
}

static void test_cr0_rewriting_pg_keeps_lma(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_TS), 0);
	assert_true(s.efer & EFER_LMA);
}

static void test_cr0_shadow_keeps_value_real_gets_fixed_bits(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	uint64_t val = CR0_PG | CR0_ET | CR0_PE; /* NE clear */
	assert_int_equal(cr0_emulate_write(&s, val), 0);
	assert_int_equal(s.cr0_shadow, val);
	assert_int_equal(s.cr0, val | CR0_NE);
}

static void test_cr0_real_value_may_drop_pe_and_pg(void **state)
{
	(void)state;
	/* Unrestricted guest: PE and PG are free although CR0_FIXED0 has them. */
	struct cr_state s = protected_mode();
	assert_int_equal(cr0_emulate_write(&s, CR0_ET), 0);
	assert_int_equal(s.cr0_shadow, CR0_ET);
	assert_int_equal(s.cr0, CR0_ET | CR0_NE);
}

static void test_cr0_real_value_limited_by_fixed1(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cr0_fixed1 = 0xDFFFFFFF; /* a CPU on which NW must be 0 */
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_CD | CR0_NW), 0);
	assert_true(s.cr0_shadow & CR0_NW);
	assert_false(s.cr0 & CR0_NW);
}

static void test_cr0_flush_tlb_flag(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow & ~CR0_WP), 0);
	assert_int_equal(s.flush_tlb, 1);
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_TS), 0);
	assert_int_equal(s.flush_tlb, 0);
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_CD), 0);
	assert_int_equal(s.flush_tlb, 1);
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow), 0);
	assert_int_equal(s.flush_tlb, 0);
	s = protected_mode();
	assert_int_equal(cr0_emulate_write(&s, s.cr0_shadow | CR0_PG), 0);
	assert_int_equal(s.flush_tlb, 1);
}

/* ---- MOV to CR4 ---- */

static void assert_cr4_faults(struct cr_state s, uint64_t val)
{
	struct cr_state before = s;
	if (!cr4_emulate_write(&s, val))
		fail_msg("MOV CR4, 0x%llx did not fault", (unsigned long long)val);
	assert_memory_equal(&s, &before, sizeof(s));
}

static void test_cr4_vmxe_set_by_guest_faults(void **state)
{
	(void)state;
	assert_cr4_faults(long_mode(), long_mode().cr4_shadow | CR4_VMXE);
}

static void test_cr4_bits_outside_fixed1_fault(void **state)
{
	(void)state;
	assert_cr4_faults(long_mode(), long_mode().cr4_shadow | CR4_PKE); /* not in Bochs's 0x3727FF */
	assert_cr4_faults(long_mode(), long_mode().cr4_shadow | BIT(23));
	assert_cr4_faults(long_mode(), long_mode().cr4_shadow | BIT(32));
}

static void test_cr4_bits_inside_fixed1_allowed(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	uint64_t val = s.cr4_shadow | CR4_OSXSAVE | CR4_FSGSBASE | CR4_SMEP | CR4_SMAP;
	assert_int_equal(cr4_emulate_write(&s, val), 0);
	assert_int_equal(s.cr4_shadow, val);
}

static void test_cr4_clearing_pae_in_ia32e_faults(void **state)
{
	(void)state;
	assert_cr4_faults(long_mode(), long_mode().cr4_shadow & ~CR4_PAE);
	struct cr_state s = long_mode();
	s.cs_l = 0; /* compatibility mode too: IA-32e is LMA */
	assert_cr4_faults(s, s.cr4_shadow & ~CR4_PAE);
}

static void test_cr4_clearing_pae_outside_ia32e_allowed(void **state)
{
	(void)state;
	struct cr_state s = protected_mode();
	s.cr4_shadow = CR4_PAE;
	assert_int_equal(cr4_emulate_write(&s, 0), 0);
	assert_int_equal(s.cr4_shadow, 0);
}

static void test_cr4_changing_la57_in_ia32e_faults(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cr4_fixed1 |= CR4_LA57; /* a CPU with 5-level paging */
	assert_cr4_faults(s, s.cr4_shadow | CR4_LA57);
	s.cr4_shadow |= CR4_LA57;
	s.cr4 |= CR4_LA57;
	assert_cr4_faults(s, s.cr4_shadow & ~CR4_LA57);
}

static void test_cr4_la57_outside_ia32e_allowed(void **state)
{
	(void)state;
	struct cr_state s = protected_mode();
	s.cr4_fixed1 |= CR4_LA57;
	assert_int_equal(cr4_emulate_write(&s, CR4_PAE | CR4_LA57), 0);
}

static void test_cr4_pcide_with_cr3_low_bits_faults(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cr3 |= 0x008; /* PWT */
	assert_cr4_faults(s, s.cr4_shadow | CR4_PCIDE);
	s.cr3 = (s.cr3 & ~0xFFFull) | 0x001;
	assert_cr4_faults(s, s.cr4_shadow | CR4_PCIDE);
}

static void test_cr4_pcide_outside_ia32e_faults(void **state)
{
	(void)state;
	struct cr_state s = protected_mode();
	s.cr3 = 0x1000;
	assert_cr4_faults(s, CR4_PAE | CR4_PCIDE);
}

static void test_cr4_pcide_in_ia32e_with_clean_cr3_allowed(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow | CR4_PCIDE), 0);
	assert_true(s.cr4_shadow & CR4_PCIDE);
	/* Once on, CR3[11:0] is a PCID: rewriting CR4 with PCIDE still set is fine. */
	s.cr3 |= 5;
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow | CR4_PGE), 0);
}

static void test_cr4_real_keeps_vmxe_and_fixed0_shadow_does_not(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	uint64_t val = CR4_PAE | CR4_PGE | CR4_OSFXSR;
	assert_int_equal(cr4_emulate_write(&s, val), 0);
	assert_int_equal(s.cr4_shadow, val);
	assert_false(s.cr4_shadow & CR4_VMXE);
	assert_int_equal(s.cr4, val | CR4_VMXE | caps_bochs_skylake_x.cr4_fixed0);
}

static void test_cr4_real_gets_other_fixed0_bits(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	s.cr4_fixed0 = CR4_VMXE | CR4_PAE | CR4_MCE; /* a stricter CPU */
	s.cr4_fixed1 = caps_intel_i7_7800x.cr4_fixed1;
	assert_int_equal(cr4_emulate_write(&s, CR4_PAE | CR4_PGE), 0);
	assert_int_equal(s.cr4, CR4_PAE | CR4_PGE | CR4_MCE | CR4_VMXE);
	assert_int_equal(s.cr4_shadow, CR4_PAE | CR4_PGE);
}

static void test_cr4_flush_tlb_flag(void **state)
{
	(void)state;
	struct cr_state s = long_mode();
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow ^ CR4_PGE), 0);
	assert_int_equal(s.flush_tlb, 1);
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow ^ CR4_OSXMMEXCPT), 0);
	assert_int_equal(s.flush_tlb, 0);
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow | CR4_SMEP), 0);
	assert_int_equal(s.flush_tlb, 1);
	assert_int_equal(cr4_emulate_write(&s, s.cr4_shadow), 0);
	assert_int_equal(s.flush_tlb, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpuid1_sets_hypervisor_and_clears_vmx),
		cmocka_unit_test(test_cpuid1_osxsave_follows_guest_cr4),
		cmocka_unit_test(test_cpuid7_ospke_follows_guest_cr4),
		cmocka_unit_test(test_cpuid7_other_subleaf_untouched),
		cmocka_unit_test(test_cpuid_other_leaves_untouched),
		cmocka_unit_test(test_keel_leaf_signature_and_max_leaf),
		cmocka_unit_test(test_keel_leaf_1_reports_version_code),
		cmocka_unit_test(test_keel_leaf_1_version_matches_keel_version),
		cmocka_unit_test(test_keel_leaves_beyond_max_are_zero),
		cmocka_unit_test(test_msr_classify),
		cmocka_unit_test(test_feature_control_view_locked_with_vmx_off),
		cmocka_unit_test(test_feature_control_view_keeps_other_bits),
		cmocka_unit_test(test_feature_control_write_faults),
		cmocka_unit_test(test_vmx_capability_writes_fault),
		cmocka_unit_test(test_is_canonical_edges),
		cmocka_unit_test(test_base_msrs_fault_on_non_canonical),
		cmocka_unit_test(test_star_and_fmask_take_anything),
		cmocka_unit_test(test_efer_valid_bits),
		cmocka_unit_test(test_efer_reserved_bits_fault),
		cmocka_unit_test(test_pat_valid_types),
		cmocka_unit_test(test_pat_invalid_types_fault),
		cmocka_unit_test(test_other_msrs_do_not_fault),
		cmocka_unit_test(test_xsetbv_valid_values),
		cmocka_unit_test(test_xsetbv_index_other_than_0_faults),
		cmocka_unit_test(test_xsetbv_x87_clear_faults),
		cmocka_unit_test(test_xsetbv_unsupported_bits_fault),
		cmocka_unit_test(test_xsetbv_avx_without_sse_faults),
		cmocka_unit_test(test_xsetbv_bndregs_without_bndcsr_faults),
		cmocka_unit_test(test_xsetbv_partial_avx512_faults),
		cmocka_unit_test(test_xsetbv_avx512_without_avx_faults),
		cmocka_unit_test(test_cpuid_fast_leaves_exclude_dynamic_ones),
		cmocka_unit_test(test_misc_enable_keeps_xd_disable),
		cmocka_unit_test(test_hypervisor_range_is_keels),
		cmocka_unit_test(test_policy_hides_waitpkg_without_user_wait_pause),
		cmocka_unit_test(test_policy_hides_instructions_their_controls_leave_off),
		cmocka_unit_test(test_policy_hides_features_vmx_cr4_forbids),
		cmocka_unit_test(test_cr0_clearing_wp_with_cet_faults),
		cmocka_unit_test(test_cr4_setting_cet_without_wp_faults),
		cmocka_unit_test(test_pae_pdpte_reserved_bits),
		cmocka_unit_test(test_cr0_bits_63_32_fault),
		cmocka_unit_test(test_cr0_nw_without_cd_faults),
		cmocka_unit_test(test_cr0_nw_with_cd_is_allowed),
		cmocka_unit_test(test_cr0_pg_without_pe_faults),
		cmocka_unit_test(test_cr0_clearing_pg_in_64bit_mode_faults),
		cmocka_unit_test(test_cr0_clearing_pg_with_pcide_faults),
		cmocka_unit_test(test_cr0_clearing_pg_in_compatibility_mode_leaves_ia32e),
		cmocka_unit_test(test_cr0_pg_with_lme_but_no_pae_faults),
		cmocka_unit_test(test_cr0_write_uses_real_value_of_unowned_bits),
		cmocka_unit_test(test_cr_guest_view_mixes_by_mask),
		cmocka_unit_test(test_cr0_setting_pg_with_lme_sets_lma),
		cmocka_unit_test(test_cr0_setting_pg_without_lme_leaves_lma_clear),
		cmocka_unit_test(test_cr0_rewriting_pg_keeps_lma),
		cmocka_unit_test(test_cr0_shadow_keeps_value_real_gets_fixed_bits),
		cmocka_unit_test(test_cr0_real_value_may_drop_pe_and_pg),
		cmocka_unit_test(test_cr0_real_value_limited_by_fixed1),
		cmocka_unit_test(test_cr0_flush_tlb_flag),
		cmocka_unit_test(test_cr4_vmxe_set_by_guest_faults),
		cmocka_unit_test(test_cr4_bits_outside_fixed1_fault),
		cmocka_unit_test(test_cr4_bits_inside_fixed1_allowed),
		cmocka_unit_test(test_cr4_clearing_pae_in_ia32e_faults),
		cmocka_unit_test(test_cr4_clearing_pae_outside_ia32e_allowed),
		cmocka_unit_test(test_cr4_changing_la57_in_ia32e_faults),
		cmocka_unit_test(test_cr4_la57_outside_ia32e_allowed),
		cmocka_unit_test(test_cr4_pcide_with_cr3_low_bits_faults),
		cmocka_unit_test(test_cr4_pcide_outside_ia32e_faults),
		cmocka_unit_test(test_cr4_pcide_in_ia32e_with_clean_cr3_allowed),
		cmocka_unit_test(test_cr4_real_keeps_vmxe_and_fixed0_shadow_does_not),
		cmocka_unit_test(test_cr4_real_gets_other_fixed0_bits),
		cmocka_unit_test(test_cr4_flush_tlb_flag),
	};
	return cmocka_run_group_tests_name("emulate", tests, NULL, NULL);
}
