/* Recorded VMX capability sets: struct vmx_caps as vmx_caps_probe() would fill it on a given CPU,
 * for host unit tests (caps now, VMCS control words later). Host test data only. */
#ifndef KEEL_TESTS_UNIT_CAPS_DATA_H
#define KEEL_TESTS_UNIT_CAPS_DATA_H

#include "../../vmm/caps.h"

/*
 * (a) Bochs, cpu: model=corei7_skylake_x (Bochs built with --enable-vmx=2).
 *
 * Recorded on the target and given to us: IA32_FEATURE_CONTROL = 0, IA32_VMX_BASIC =
 * 0x00D810000000002B, IA32_VMX_EPT_VPID_CAP = 0x00000F0106334141.
 *
 * The other MSRs are DERIVED from Bochs source, not read from a running Bochs:
 *  - bochs/cpu/vmx.h (VMX_MSR_*): allowed-0 words pin 0x16, proc 0x0401E172 (TRUE 0x04006172),
 *    exit 0x00036DFF (TRUE 0x00036DFB), entry 0x000011FF (TRUE 0x000011FB); allowed-1 = allowed-0 |
 *    supported bits; TRUE allowed-1 = plain allowed-1; PROCBASED_CTLS2 allowed-0 = 0; VMX_MISC =
 *    bit 5 | bits 6-8 | (4 CR3 targets << 16) | bit 29 (VMCS shadowing); CR0_FIXED0 0x80000021,
 *    CR0_FIXED1 0xFFFFFFFF, CR4_FIXED0 0x2000, CR4_FIXED1 = cr4_suppmask; VMCS_ENUM =
 *    VMX_HIGHEST_VMCS_ENCODING 0x34.
 *  - cpu/vmx.cc init_pin_based/primary/secondary_proc_based/vmexit/vmentry_ctrls() for the
 *    supported bits, with the extension list of corei7_skylake_x_t::get_vmx_extensions_bitmask()
 *    in bochs-emu/Bochs bochs/cpu/cpudb/intel/corei7_skylake-x.cc (commit 1bf18b8a) and its
 *    CPUID ISA list (MONITOR/MWAIT assumed compiled in).
 * The vmx.cc found was a later revision than 2.7 (it has CET/PKS checks); two allowed-1 bits may
 * not exist in 2.7 itself: secondary bit 25 (TSC scaling) and exit bit 30 (save
 * IA32_PERF_GLOBAL_CTRL). No test depends on them. As a cross-check, the derived EPT_VPID_CAP
 * (0x06114141 | 1 GiB pages bit 17 | A/D bit 21 | VPID 0xF01 << 32) equals the recorded value.
 */
#define BOCHS_SKX_FEATURE_CONTROL 0x0000000000000000ull
#define BOCHS_SKX_BASIC 0x00D810000000002Bull /* rev 0x2B, 4096-byte VMCS, WB, INS/OUTS, TRUE */
#define BOCHS_SKX_PINBASED 0x0000007F00000016ull
#define BOCHS_SKX_PROCBASED 0xF7F9FFFE0401E172ull /* no monitor trap flag (bit 27) */
#define BOCHS_SKX_EXIT 0x407FFFFF00036DFFull
#define BOCHS_SKX_ENTRY 0x0000FFFF000011FFull
#define BOCHS_SKX_TRUE_PINBASED 0x0000007F00000016ull
#define BOCHS_SKX_TRUE_PROCBASED 0xF7F9FFFE04006172ull /* CR3-load/store exiting may be 0 */
#define BOCHS_SKX_TRUE_EXIT 0x407FFFFF00036DFBull
#define BOCHS_SKX_TRUE_ENTRY 0x0000FFFF000011FBull
#define BOCHS_SKX_PROCBASED2 0x02177FFF00000000ull
#define BOCHS_SKX_MISC 0x00000000200401E0ull
#define BOCHS_SKX_EPT_VPID 0x00000F0106334141ull
#define BOCHS_SKX_CR0_FIXED0 0x0000000080000021ull
#define BOCHS_SKX_CR0_FIXED1 0x00000000FFFFFFFFull
#define BOCHS_SKX_CR4_FIXED0 0x0000000000002000ull
#define BOCHS_SKX_CR4_FIXED1 0x00000000003727FFull
#define BOCHS_SKX_VMCS_ENUM 0x0000000000000034ull

static const struct vmx_caps caps_bochs_skylake_x = {
	/* CPUID.1:ECX of corei7_skylake_x_t::get_std_cpuid_leaf_1 (VMX set, SMX clear, OSXSAVE
	 * clear as CR4.OSXSAVE is 0 at probe time); CPUID.80000001:EDX SYSCALL, NX, 1 GiB pages,
	 * RDTSCP, LM; 40 physical address bits (Bochs BX_PHY_ADDRESS_WIDTH default). */
	.cpuid1_ecx = 0x77FAF3BF,
	.cpuid81_edx = 0x2C100800,
	.max_phys_bits = 40,
	.msrs_read = 1,
	.feature_control = BOCHS_SKX_FEATURE_CONTROL,
	.basic = BOCHS_SKX_BASIC,
	.pinbased = BOCHS_SKX_PINBASED,
	.procbased = BOCHS_SKX_PROCBASED,
	.exit = BOCHS_SKX_EXIT,
	.entry = BOCHS_SKX_ENTRY,
	.true_pinbased = BOCHS_SKX_TRUE_PINBASED,
	.true_procbased = BOCHS_SKX_TRUE_PROCBASED,
	.true_exit = BOCHS_SKX_TRUE_EXIT,
	.true_entry = BOCHS_SKX_TRUE_ENTRY,
	.procbased2 = BOCHS_SKX_PROCBASED2,
	.misc = BOCHS_SKX_MISC,
	.ept_vpid = BOCHS_SKX_EPT_VPID,
	.cr0_fixed0 = BOCHS_SKX_CR0_FIXED0,
	.cr0_fixed1 = BOCHS_SKX_CR0_FIXED1,
	.cr4_fixed0 = BOCHS_SKX_CR4_FIXED0,
	.cr4_fixed1 = BOCHS_SKX_CR4_FIXED1,
	.vmcs_enum = BOCHS_SKX_VMCS_ENUM,
	.cr4 = 0x668, /* PAE|MCE|PGE|OSFXSR|OSXMMEXCPT, what OVMF leaves in CR4; VMXE clear */
};

/*
 * (b) Intel Core i7-7800X (Skylake-X), a real CPU.
 *
 * The IA32_VMX_* values are the MSR dump kept in a comment of bochs-emu/Bochs
 * bochs/cpu/cpudb/intel/corei7_skylake-x.cc (commit 1bf18b8a), the model whose brand string is
 * "Intel(R) Core(TM) i7-7800X CPU @ 3.50GHz". The comment does not say where it was read; it is
 * hardware, not Bochs's emulation: revision 4, a 1 KiB VMCS, monitor trap flag and EPT_VPID_CAP
 * bit 22 (advanced EPT-violation information) are all things Bochs does not emulate. PML and VMCS
 * shadowing are absent from its secondary allowed-1 settings, which a bare Skylake-X has, so the
 * dump may have been taken under a hypervisor that hides them.
 *
 * Not in that dump, chosen here:
 *  - IA32_FEATURE_CONTROL = 0x5 (lock | VMX outside SMX): what firmware writes with VT-x enabled
 *    (SDM Vol. 3C, "Enabling and Entering VMX Operation");
 *  - CPUID.1:ECX = the Bochs model's leaf 1 (which copies this CPU) with OSXSAVE set;
 *    CPUID.80000001:EDX as in (a); 46 physical address bits (Skylake-SP/X);
 *  - CR4 = 0x40668: OVMF's value plus OSXSAVE.
 */
#define I7_7800X_FEATURE_CONTROL 0x0000000000000005ull
#define I7_7800X_BASIC 0x00DA040000000004ull
#define I7_7800X_PINBASED 0x000000FF00000016ull
#define I7_7800X_PROCBASED 0xFFF9FFFE0401E172ull
#define I7_7800X_EXIT 0x01FFFFFF00036DFFull
#define I7_7800X_ENTRY 0x0003FFFF000011FFull
#define I7_7800X_MISC 0x000000007004C1E7ull
#define I7_7800X_CR0_FIXED0 0x0000000080000021ull
#define I7_7800X_CR0_FIXED1 0x00000000FFFFFFFFull
#define I7_7800X_CR4_FIXED0 0x0000000000002000ull
#define I7_7800X_CR4_FIXED1 0x00000000003727FFull
#define I7_7800X_VMCS_ENUM 0x000000000000002Eull
#define I7_7800X_PROCBASED2 0x025D3FFF00000000ull
#define I7_7800X_EPT_VPID 0x00000F0106734141ull
#define I7_7800X_TRUE_PINBASED 0x000000FF00000016ull
#define I7_7800X_TRUE_PROCBASED 0xFFF9FFFE04006172ull
#define I7_7800X_TRUE_EXIT 0x01FFFFFF00036DFBull
#define I7_7800X_TRUE_ENTRY 0x0003FFFF000011FBull

static const struct vmx_caps caps_intel_i7_7800x = {
	.cpuid1_ecx = 0x7FFAF3BF,
	.cpuid81_edx = 0x2C100800,
	.max_phys_bits = 46,
	.msrs_read = 1,
	.feature_control = I7_7800X_FEATURE_CONTROL,
	.basic = I7_7800X_BASIC,
	.pinbased = I7_7800X_PINBASED,
	.procbased = I7_7800X_PROCBASED,
	.exit = I7_7800X_EXIT,
	.entry = I7_7800X_ENTRY,
	.true_pinbased = I7_7800X_TRUE_PINBASED,
	.true_procbased = I7_7800X_TRUE_PROCBASED,
	.true_exit = I7_7800X_TRUE_EXIT,
	.true_entry = I7_7800X_TRUE_ENTRY,
	.procbased2 = I7_7800X_PROCBASED2,
	.misc = I7_7800X_MISC,
	.ept_vpid = I7_7800X_EPT_VPID,
	.cr0_fixed0 = I7_7800X_CR0_FIXED0,
	.cr0_fixed1 = I7_7800X_CR0_FIXED1,
	.cr4_fixed0 = I7_7800X_CR4_FIXED0,
	.cr4_fixed1 = I7_7800X_CR4_FIXED1,
	.vmcs_enum = I7_7800X_VMCS_ENUM,
	.cr4 = 0x40668,
};

#endif
