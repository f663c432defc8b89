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

/*
 * The sets below are for machines keel's users boot on but CI cannot run: nested KVM, and recent
 * Intel client and server parts. None of them is a full rdmsr dump taken by us; each value says
 * where it comes from. "KVM's nested.c" is arch/x86/kvm/vmx/nested.c of Linux 6.x (gregkh/linux,
 * commit 0e729a53), functions nested_vmx_setup_{pinbased,exit,entry,cpubased,secondary}_ctls,
 * nested_vmx_setup_misc_data, nested_vmx_setup_basic and nested_vmx_setup_cr_fixed: what KVM
 * offers an L1 hypervisor. The non-TRUE control MSRs KVM reports are the TRUE ones with the
 * default1 bits forced on (vmx_get_vmx_msr), which is how they are written here.
 */

/*
 * (c) KVM L1, Linux >= 5.11 on the L0 host, kvm_intel nested=1, QEMU -cpu host, on the Alder
 * Lake host of (e) below. DERIVED from KVM's nested.c, not recorded:
 *  - BASIC: VMCS12_REVISION 0x11e57ed0, VMCS12_SIZE 4096, WB, TRUE controls, INS/OUTS (host has it);
 *  - PINBASED: allowed-0 0x16; allowed-1 external-interrupt, NMI, virtual NMIs, posted interrupts
 *    (enable_apicv), preemption timer;
 *  - PROCBASED: allowed-0 0x0401E172 less CR3-load/store exiting in TRUE; allowed-1 KVM's list
 *    (no tertiary controls, bit 17);
 *  - PROCBASED2: allowed-1 = host & {2,3,4,6,8,9,11,12,13,16,20,25,26} | VMCS shadowing, EPT, PML
 *    (EPT A/D on), VPID, unrestricted guest, virtualize APIC accesses; no ENCLS (no SGX on the
 *    host). "Enable user wait and pause" (bit 26) IS offered;
 *  - EXIT: allowed-0 0x36DFF (TRUE less save-debug-controls); allowed-1 adds host-address-space,
 *    PAT, EFER, preemption-timer save, ack-interrupt, PERF_GLOBAL_CTRL (no MPX, so no
 *    clear-BNDCFGS); ENTRY likewise (IA-32e, PAT, EFER, PERF_GLOBAL_CTRL; TRUE less load-debug);
 *  - MISC: EFER.LMA store (host) | VMWRITE to exit fields (bit 29) | preemption-timer rate 5 |
 *    HLT | WAIT-FOR-SIPI (bit 8, added in Linux 5.11); no shutdown state, no CR3 targets, no
 *    zero-length injection (bit 30);
 *  - EPT_VPID_CAP: (walk-4 | walk-5 | WB | INVEPT | execute-only) & host, | INVEPT single and all
 *    context, 2 MiB and 1 GiB pages, A/D; no UC (KVM never offers it); all four INVVPID types;
 *  - CR0_FIXED0 PE|NE|PG, CR4_FIXED0 VMXE; the FIXED1 values are the host's CR0_FIXED1 and KVM's
 *    cr4_fixed1 rebuilt from the guest CPUID (nested_vmx_cr_fixed1_bits_update: PCE plus
 *    VME..OSXMMEXCPT, UMIP, VMXE, FSGSBASE, PCIDE, OSXSAVE, SMEP, SMAP, PKE; no LA57, no SMXE);
 *  - VMCS_ENUM 0x2E: highest vmcs12 field index 0x17, as KVM's VMCS12_MAX_FIELD_INDEX was (newer
 *    kernels compute it; keel does not read it).
 * CPUID.1:ECX (derived): what -cpu host passes on an Alder Lake (no MONITOR, DTES64, DS-CPL, SMX,
 * EST, TM2, xTPR, DCA under KVM), hypervisor bit set, OSXSAVE clear as OVMF leaves CR4; 46
 * physical address bits (host-phys-bits, the host's width). IA32_FEATURE_CONTROL 0x5: QEMU gives
 * OVMF that value through fw_cfg (etc/msr_feature_control) and OVMF locks it.
 */
#define KVM_L1_BASIC 0x00D8100011E57ED0ull
#define KVM_L1_PINBASED 0x000000FF00000016ull
#define KVM_L1_PROCBASED 0xFFF9FFFE0401E172ull
#define KVM_L1_TRUE_PROCBASED 0xFFF9FFFE04006172ull
#define KVM_L1_EXIT 0x007FFFFF00036DFFull
#define KVM_L1_TRUE_EXIT 0x007FFFFF00036DFBull
#define KVM_L1_ENTRY 0x0000F3FF000011FFull
#define KVM_L1_TRUE_ENTRY 0x0000F3FF000011FBull
#define KVM_L1_PROCBASED2 0x06137BFF00000000ull
#define KVM_L1_MISC 0x0000000020000165ull /* rate 5, LMA, HLT, wait-for-SIPI, VMWRITE any */
#define KVM_L1_EPT_VPID 0x00000F0106334041ull /* no UC, no walk-5 (client host) */
#define KVM_L1_CR0_FIXED0 0x0000000080000021ull
#define KVM_L1_CR0_FIXED1 0x00000000FFFFFFFFull
#define KVM_L1_CR4_FIXED0 0x0000000000002000ull
#define KVM_L1_CR4_FIXED1 0x0000000000772FFFull
#define KVM_L1_VMCS_ENUM 0x000000000000002Eull

static const struct vmx_caps caps_kvm_l1_host = {
	.cpuid1_ecx = 0xF7FAB223,
	.cpuid81_edx = 0x2C100800,
	.max_phys_bits = 46,
	.msrs_read = 1,
	.feature_control = 0x5,
	.basic = KVM_L1_BASIC,
	.pinbased = KVM_L1_PINBASED,
	.procbased = KVM_L1_PROCBASED,
	.exit = KVM_L1_EXIT,
	.entry = KVM_L1_ENTRY,
	.true_pinbased = KVM_L1_PINBASED,
	.true_procbased = KVM_L1_TRUE_PROCBASED,
	.true_exit = KVM_L1_TRUE_EXIT,
	.true_entry = KVM_L1_TRUE_ENTRY,
	.procbased2 = KVM_L1_PROCBASED2,
	.misc = KVM_L1_MISC,
	.ept_vpid = KVM_L1_EPT_VPID,
	.cr0_fixed0 = KVM_L1_CR0_FIXED0,
	.cr0_fixed1 = KVM_L1_CR0_FIXED1,
	.cr4_fixed0 = KVM_L1_CR4_FIXED0,
	.cr4_fixed1 = KVM_L1_CR4_FIXED1,
	.vmcs_enum = KVM_L1_VMCS_ENUM,
	.cr4 = 0x668,
};

/*
 * (d) KVM L1 with one of QEMU's named CPU models: -cpu SapphireRapids,+vmx on a Sapphire Rapids
 * host (the same shape for Skylake-Server, Cascadelake-Server, Icelake-Server). DERIVED: the
 * model's VMX feature words in QEMU target/i386/cpu.c (the SapphireRapids definition, as posted
 * to qemu-devel when the model was added: FEAT_VMX_MISC = STORE_LMA | ACTIVITY_HLT |
 * VMWRITE_VMEXIT, that is NO wait-for-SIPI and no shutdown state; no "enable user wait and
 * pause", no TSC scaling in FEAT_VMX_SECONDARY_CTLS; EPT with walk-4 and walk-5), turned into MSR
 * values the way target/i386/kvm/kvm.c kvm_msr_entry_add_vmx() does: allowed-0 words from KVM,
 * allowed-1 = model bits | allowed-0 | host-address-space size (64-bit guest); BASIC revision,
 * size and memory type, MISC preemption rate and MSR-list size, and EPT UC/WB from KVM (so WB
 * only). The same MISC, without bit 8, is what any L0 older than Linux 5.11 gives with -cpu host.
 * CPUID.1:ECX is the model's leaf 1 plus VMX and the hypervisor bit; 40 physical address bits
 * (QEMU's default phys-bits for named models).
 */
#define QEMU_SPR_PINBASED 0x000000FF00000016ull
#define QEMU_SPR_PROCBASED 0xFFF9FFFE0401E172ull
#define QEMU_SPR_TRUE_PROCBASED 0xFFF9FFFE04006172ull
#define QEMU_SPR_EXIT 0x007FFFFF00036DFFull
#define QEMU_SPR_TRUE_EXIT 0x007FFFFF00036DFBull
#define QEMU_SPR_ENTRY 0x0000F3FF000011FFull
#define QEMU_SPR_TRUE_ENTRY 0x0000F3FF000011FBull
#define QEMU_SPR_PROCBASED2 0x00137BFF00000000ull /* no bit 25 (TSC scaling), no bit 26 */
#define QEMU_SPR_MISC 0x0000000020000065ull       /* rate 5, LMA, HLT, VMWRITE any: no SIPI */
#define QEMU_SPR_EPT_VPID 0x00000F01063340C1ull   /* walk-4 and walk-5, WB only */
#define QEMU_SPR_CR4_FIXED1 0x0000000000773FFFull /* (c)'s plus LA57 */

static const struct vmx_caps caps_kvm_l1_named_model = {
	.cpuid1_ecx = 0xF7FA3223,
	.cpuid81_edx = 0x2C100800,
	.max_phys_bits = 40,
	.msrs_read = 1,
	.feature_control = 0x5,
	.basic = KVM_L1_BASIC,
	.pinbased = QEMU_SPR_PINBASED,
	.procbased = QEMU_SPR_PROCBASED,
	.exit = QEMU_SPR_EXIT,
	.entry = QEMU_SPR_ENTRY,
	.true_pinbased = QEMU_SPR_PINBASED,
	.true_procbased = QEMU_SPR_TRUE_PROCBASED,
	.true_exit = QEMU_SPR_TRUE_EXIT,
	.true_entry = QEMU_SPR_TRUE_ENTRY,
	.procbased2 = QEMU_SPR_PROCBASED2,
	.misc = QEMU_SPR_MISC,
	.ept_vpid = QEMU_SPR_EPT_VPID,
	.cr0_fixed0 = KVM_L1_CR0_FIXED0,
	.cr0_fixed1 = KVM_L1_CR0_FIXED1,
	.cr4_fixed0 = KVM_L1_CR4_FIXED0,
	.cr4_fixed1 = QEMU_SPR_CR4_FIXED1,
	.vmcs_enum = KVM_L1_VMCS_ENUM,
	.cr4 = 0x668,
};

/*
 * (e) Intel Core i7-12700K (Alder Lake-S), bare metal. DERIVED, not recorded: no public dump of
 * its 0x480-0x491 MSRs was found. The starting point is the i7-7800X dump of (b); the changes
 * follow the "vmx flags" line of /proc/cpuinfo (Linux decodes it from these MSRs) posted for a
 * 12th-gen part in rust-lang/rustc-perf#1480: "vnmi preemption_timer posted_intr invvpid
 * ept_x_only ept_ad ept_1gb flexpriority apicv tsc_offset vtpr mtf vapic ept vpid
 * unrestricted_guest vapic_reg vid ple shadow_vmcs ept_mode_based_exec tsc_scaling
 * usr_wait_pause", with its CPUID flags (smx, pconfig, ibt, arch_lbr; no mpx, no sgx, no la57)
 * and 46 physical address bits (nviennot/core-to-core-latency#40, i7-12700K). Hence:
 *  - PROCBASED2 adds VMCS shadowing (14), TSC scaling (25), user wait and pause (26), PCONFIG
 *    exiting (27), keeps mode-based EPT execute (22); no PML (17, absent from that line), no
 *    EPT-violation #VE (18), no ENCLS (15);
 *  - EXIT drops clear-BNDCFGS (23, no MPX), adds clear RTIT_CTL (25), clear LBR_CTL (26), load CET
 *    (28); ENTRY drops load-BNDCFGS (16), adds load RTIT_CTL (18), load CET (20), load LBR_CTL (21);
 *  - no tertiary controls (PROCBASED bit 17): the line shows no tertiary feature (ipi_virt);
 *  - CR4_FIXED1 adds Key Locker (19), CET (23) to Skylake-X's; no LA57, no PKS;
 *  - BASIC, MISC, EPT_VPID_CAP, VMCS_ENUM are assumed equal to Skylake-X's (revision 4; same
 *    INVEPT/INVVPID types, WB and UC, 4-level walk only).
 */
#define ADL_BASIC 0x00DA040000000004ull
#define ADL_PROCBASED2 0x0E597FFF00000000ull
#define ADL_EXIT 0x177FFFFF00036DFFull
#define ADL_TRUE_EXIT 0x177FFFFF00036DFBull
#define ADL_ENTRY 0x0036FFFF000011FFull
#define ADL_TRUE_ENTRY 0x0036FFFF000011FBull
#define ADL_CR4_FIXED1 0x0000000000FF6FFFull

static const struct vmx_caps caps_intel_i7_12700k = {
	.cpuid1_ecx = 0x7FFAFBFF,
	.cpuid81_edx = 0x2C100800,
	.max_phys_bits = 46,
	.msrs_read = 1,
	.feature_control = 0x5,
	.basic = ADL_BASIC,
	.pinbased = I7_7800X_PINBASED,
	.procbased = I7_7800X_PROCBASED,
	.exit = ADL_EXIT,
	.entry = ADL_ENTRY,
	.true_pinbased = I7_7800X_TRUE_PINBASED,
	.true_procbased = I7_7800X_TRUE_PROCBASED,
	.true_exit = ADL_TRUE_EXIT,
	.true_entry = ADL_TRUE_ENTRY,
	.procbased2 = ADL_PROCBASED2,
	.misc = I7_7800X_MISC,
	.ept_vpid = I7_7800X_EPT_VPID,
	.cr0_fixed0 = I7_7800X_CR0_FIXED0,
	.cr0_fixed1 = I7_7800X_CR0_FIXED1,
	.cr4_fixed0 = I7_7800X_CR4_FIXED0,
	.cr4_fixed1 = ADL_CR4_FIXED1,
	.vmcs_enum = I7_7800X_VMCS_ENUM,
	.cr4 = 0x40668,
};

/*
 * (f) Intel Xeon Platinum 8480+ (Sapphire Rapids), bare metal. DERIVED, not recorded, from (e)
 * and: QEMU's SapphireRapids model (see (d)), which lists 5-level EPT and PML; Linux's IPI
 * virtualization series (KVM: VMX: "IPI virtualization", first in Sapphire Rapids), which needs the
 * tertiary controls; CPUID of that part (LA57, PKS, SGX, TME-MK/PCONFIG, bus-lock detection,
 * DCA); 46 physical address bits (lscpu of a Xeon Platinum 8488C in szilard/GBM-perf#59).
 *  - PROCBASED allowed-1 adds bit 17 (activate tertiary controls); IA32_VMX_PROCBASED_CTLS3
 *    (0x492, allowed-1 only) = IPI virtualization (bit 4). struct vmx_caps has no field for it
 *    (keel does not read 0x492 yet), so it is a macro only;
 *  - PROCBASED2: bits 0-20 (ENCLS, PML, EPT-violation #VE included), mode-based execute (22), PT
 *    uses guest-physical addresses (24), TSC scaling (25), user wait and pause (26), PCONFIG
 *    (27), bus-lock detection (30), notify VM exits (31);
 *  - EXIT adds load PKRS (29); ENTRY adds load PKRS (22);
 *  - EPT_VPID_CAP adds the 5-level walk (bit 7);
 *  - CR4_FIXED1 adds LA57 (12) and PKS (24), drops Key Locker.
 */
#define SPR_PROCBASED 0xFFFBFFFE0401E172ull
#define SPR_TRUE_PROCBASED 0xFFFBFFFE04006172ull
#define SPR_PROCBASED3 0x0000000000000010ull
#define SPR_PROCBASED2 0xCF5FFFFF00000000ull
#define SPR_EXIT 0x377FFFFF00036DFFull
#define SPR_TRUE_EXIT 0x377FFFFF00036DFBull
#define SPR_ENTRY 0x0076FFFF000011FFull
#define SPR_TRUE_ENTRY 0x0076FFFF000011FBull
#define SPR_EPT_VPID 0x00000F01067341C1ull
#define SPR_CR4_FIXED1 0x0000000001F77FFFull

static const struct vmx_caps caps_intel_xeon_8480 = {
	.cpuid1_ecx = 0x7FFEFBFF,
	.cpuid81_edx = 0x2C100800,
	.max_phys_bits = 46,
	.msrs_read = 1,
	.feature_control = 0x5,
	.basic = ADL_BASIC,
	.pinbased = I7_7800X_PINBASED,
	.procbased = SPR_PROCBASED,
	.exit = SPR_EXIT,
	.entry = SPR_ENTRY,
	.true_pinbased = I7_7800X_TRUE_PINBASED,
	.true_procbased = SPR_TRUE_PROCBASED,
	.true_exit = SPR_TRUE_EXIT,
	.true_entry = SPR_TRUE_ENTRY,
	.procbased2 = SPR_PROCBASED2,
	.misc = I7_7800X_MISC,
	.ept_vpid = SPR_EPT_VPID,
	.cr0_fixed0 = I7_7800X_CR0_FIXED0,
	.cr0_fixed1 = I7_7800X_CR0_FIXED1,
	.cr4_fixed0 = I7_7800X_CR4_FIXED0,
	.cr4_fixed1 = SPR_CR4_FIXED1,
	.vmcs_enum = I7_7800X_VMCS_ENUM,
	.cr4 = 0x40668,
};

/* Every recorded set, for tests that hold on any CPU keel may meet. */
/*
 * (g) Intel Core 2 Duo T9600 (Penryn), a real CPU: the IA32_VMX_* dump in a comment of Bochs 3.0's
 * cpu/cpudb/intel/core2_penryn_t9600.cc, which that model emulates. VMX without EPT, unrestricted
 * guest, VPID or the preemption timer; no TRUE controls (IA32_VMX_BASIC bit 55 is 0); VM exit and
 * entry can neither load nor save EFER or PAT (exit allowed-1 0x0003FFFF, entry 0x00003FFF), so
 * keel switches them through MSR lists. CPUID and CR4 as in (a).
 */
static const struct vmx_caps caps_core2_penryn = {
	.cpuid1_ecx = 0x0408E3BD,
	.cpuid81_edx = 0x20100800,
	.max_phys_bits = 36,
	.msrs_read = 1,
	.feature_control = 0x5,
	.basic = 0x005A08000000000Dull,
	.pinbased = 0x0000003F00000016ull,
	.procbased = 0xF7F9FFFE0401E172ull,
	.exit = 0x0003FFFF00036DFFull,
	.entry = 0x00003FFF000011FFull,
	.true_pinbased = 0x0000003F00000016ull,
	.true_procbased = 0xF7F9FFFE0401E172ull,
	.true_exit = 0x0003FFFF00036DFFull,
	.true_entry = 0x00003FFF000011FFull,
	.procbased2 = 0x0000004100000000ull,
	.misc = 0x00000000000403C0ull,
	.cr0_fixed0 = 0x0000000080000021ull,
	.cr0_fixed1 = 0x00000000FFFFFFFFull,
	.cr4_fixed0 = 0x0000000000002000ull,
	.cr4_fixed1 = 0x00000000000467FFull,
	.vmcs_enum = 0x000000000000002Cull,
	.cr4 = 0x668,
};

static const struct {
	const char *name;
	const struct vmx_caps *caps;
} caps_all[] = {
	{ "bochs_skylake_x", &caps_bochs_skylake_x },
	{ "intel_i7_7800x", &caps_intel_i7_7800x },
	{ "kvm_l1_host", &caps_kvm_l1_host },
	{ "kvm_l1_named_model", &caps_kvm_l1_named_model },
	{ "intel_i7_12700k", &caps_intel_i7_12700k },
	{ "intel_xeon_8480", &caps_intel_xeon_8480 },
};
#define CAPS_ALL_COUNT (sizeof(caps_all) / sizeof(caps_all[0]))

#endif
