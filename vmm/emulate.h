/* What the hardware would do, as pure functions: CPUID shaping, MSR and XCR0 write validation,
 * and MOV-to-CR0/CR4 semantics. No VMCS access, so host unit tests call them directly. */
#ifndef KEEL_VMM_EMULATE_H
#define KEEL_VMM_EMULATE_H

#include <stdint.h>

#include "../arch/x86/cpu.h"
#include "../arch/x86/msr.h"
#include "hypercall_abi.h"

#ifndef KEEL_VERSION_CODE
#define KEEL_VERSION_CODE 0
/* PAE paging (CR0.PG, CR4.PAE, not IA-32e): VM entry with EPT takes the PDPTEs from the VMCS
 * (SDM Vol. 3C 26.3.2.4), so an emulated CR write that enables or changes it must load them. */
int pae_paging_active(uint64_t cr0, uint64_t cr4, uint64_t efer);
/* True when a present PDPTE sets a reserved bit: the MOV to CR raises #GP(0) instead. */
int pae_pdptes_invalid(const uint64_t pdpte[4], unsigned max_phys_bits);

#endif

/*
 * The feature bits keel hides, fixed per machine: VMX and SMX (GETSEC always exits), and every
 * feature that would not work in VMX non-root under keel's controls: an instruction a secondary
 * control must enable (else #UD, SDM Vol. 3C 25.3), or a CR4 bit that VMX operation forbids
 * (IA32_VMX_CR4_FIXED1, so the OS's MOV to CR4 would #GP). docs/hardware.md has the table.
 */
struct cpuid_policy {
	uint32_t leaf1_ecx, leaf7_ebx, leaf7_ecx, leaf7_edx, leafd1_eax, leaf81_edx; /* bits cleared */
};
void cpuid_policy_init(struct cpuid_policy *p, uint32_t proc2, uint64_t cr4_fixed1);
/* mmu=shadow: also hides INVPCID and LA57 (PCIDs are emulated there). */
void cpuid_policy_shadow(struct cpuid_policy *p);

/* Adjusts native CPUID output for the guest: hypervisor bit on, the policy's bits off,
 * OSXSAVE/OSPKE from the guest's CR4 (keel's own CR4 differs). */
void cpuid_shape(const struct cpuid_policy *p, uint32_t leaf, uint32_t subleaf, uint64_t guest_cr4,
		 struct cpuid_regs *r);
/* The hypervisor range 0x40000000-0x4FFFFFFF: keel's leaves at 0x40000000-0x400000FF, zeros
 * above (never a hypervisor below keel: its paravirtual interfaces are not keel's). */
void cpuid_keel_leaf(uint32_t leaf, struct cpuid_regs *r);
/*
 * The basic leaves below 32 whose answer depends on nothing but the CPU: not on ECX (no
 * subleaves), not on the guest's CR4, XCR0 or IA32_XSS, and not beyond the maximum leaf (those
 * repeat the highest leaf, which may have subleaves). Leaf 1 is out (OSXSAVE follows CR4). The
 * exit stub answers these from a per-vCPU cache; a bit per leaf.
 */
uint32_t cpuid_fast_leaves(uint32_t max_basic_leaf);
static inline int cpuid_leaf_is_keels(uint32_t leaf) { return (leaf >> 28) == 4; }

enum msr_class {
	MSR_PASSTHROUGH,
	MSR_VIRT_FEATURE_CONTROL,
	MSR_VIRT_VMX_CAP,
	MSR_VIRT_UCODE_TRIGGER, /* writes ignored: no microcode load from under a hypervisor */
	MSR_VIRT_MISC_ENABLE,   /* writes pass, but XD disable keeps keel's value */
};
/* Inline: every RDMSR/WRMSR exit asks, the fast path included. */
static inline enum msr_class msr_classify(uint32_t msr)
{
	if (msr == MSR_IA32_FEATURE_CONTROL)
		return MSR_VIRT_FEATURE_CONTROL;
	if (msr >= MSR_IA32_VMX_FIRST && msr <= MSR_IA32_VMX_LAST)
		return MSR_VIRT_VMX_CAP;
	if (msr == MSR_IA32_BIOS_UPDT_TRIG)
		return MSR_VIRT_UCODE_TRIGGER;
	if (msr == MSR_IA32_MISC_ENABLE)
		return MSR_VIRT_MISC_ENABLE;
	return MSR_PASSTHROUGH;
}
/* IA32_FEATURE_CONTROL as the guest sees it: locked, VMX off (keel hides VMX). */
uint64_t msr_feature_control_view(uint64_t real);
/* The IA32_MISC_ENABLE value keel writes for a guest WRMSR of val: XD disable (bit 34) stays as it
 * is, since keel's host EFER.NXE would become reserved and the next VM exit would fail (SDM Vol. 3C
 * 27.6, VMX abort). Everything else as the guest wrote it. */
static inline uint64_t msr_misc_enable_write(uint64_t current, uint64_t val)
{
	return (val & ~MISC_ENABLE_XD_DISABLE) | (current & MISC_ENABLE_XD_DISABLE);
}
/* True when WRMSR(msr, val) must raise #GP: virtualized MSRs, non-canonical bases, reserved bits. */
int msr_write_faults(uint32_t msr, uint64_t val);
/* 48-bit linear addresses: bits 63:47 all equal (SDM Vol. 1 3.3.7.1). Inline: every memory
 * operand keel computes asks it. */
static inline int is_canonical(uint64_t addr)
{
	uint64_t top = addr >> 47;
	return top == 0 || top == 0x1FFFF;
}

/* True when XSETBV(index, val) must raise #GP given the XCR0 bits CPUID.(0xD,0) reports. */
int xcr0_write_faults(uint32_t index, uint64_t val, uint64_t supported);

/* Guest control-register state a MOV to CR0/CR4 works on. */
struct cr_state {
	uint64_t cr0, cr0_shadow, cr4, cr4_shadow, cr3, efer;
	uint64_t cr0_mask, cr4_mask;    /* guest/host masks: bits whose guest view is the shadow */
	int cs_l;                       /* in 64-bit mode */
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	int flush_tlb;                  /* out: the write changes translations (SDM 4.10.4.1) */
	int reload_pdptes;              /* out: with PAE paging after it, the CPU reloads the PDPTEs (SDM 4.4.1) */
};

/*
 * Emulates MOV to CR0 / CR4 with value val. Returns 1 when the instruction must raise #GP(0)
 * (state untouched), else 0 with cr0/cr0_shadow (cr4/cr4_shadow) and efer.LMA updated: the shadow
 * keeps what the guest wrote, the real value adds the bits VMX requires.
 */
int cr0_emulate_write(struct cr_state *s, uint64_t val);
/* What the guest reads: owned bits from the shadow, the rest from the real register (SDM 25.3). */
uint64_t cr_guest_view(uint64_t real, uint64_t shadow, uint64_t mask);
int cr4_emulate_write(struct cr_state *s, uint64_t val);

/* PAE paging (CR0.PG, CR4.PAE, not IA-32e): VM entry with EPT takes the PDPTEs from the VMCS
 * (SDM Vol. 3C 26.3.2.4), so an emulated CR write that enables or changes it must load them. */
int pae_paging_active(uint64_t cr0, uint64_t cr4, uint64_t efer);
/* True when a present PDPTE sets a reserved bit: the MOV to CR raises #GP(0) instead. */
int pae_pdptes_invalid(const uint64_t pdpte[4], unsigned max_phys_bits);

#endif
