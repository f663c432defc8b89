/* What the hardware would do, as pure functions: CPUID shaping, MSR and XCR0 write validation,
 * and MOV-to-CR0/CR4 semantics. No VMCS access, so host unit tests call them directly. */
#include "emulate.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../arch/x86/vmx.h"

void cpuid_policy_init(struct cpuid_policy *p, uint32_t proc2, uint64_t cr4_fixed1)
{
	/* CR4 bits VMX forbids, and the features whose use needs them (SDM Vol. 3A 2.5). */
	static const struct {
		uint64_t cr4;
		uint8_t which; /* 1: leaf 1 ECX, 2: leaf 7 EBX, 3: leaf 7 ECX, 4: leaf 7 EDX */
		uint32_t bit;
	} needs_cr4[] = {
		{ CR4_PCIDE, 1, CPUID1_ECX_PCID },     { CR4_OSXSAVE, 1, CPUID1_ECX_XSAVE },
		{ CR4_FSGSBASE, 2, CPUID7_EBX_FSGSBASE }, { CR4_SMEP, 2, CPUID7_EBX_SMEP },
		{ CR4_SMAP, 2, CPUID7_EBX_SMAP },       { CR4_UMIP, 3, CPUID7_ECX_UMIP },
		{ CR4_PKE, 3, CPUID7_ECX_PKU },         { CR4_LA57, 3, CPUID7_ECX_LA57 },
		{ CR4_CET, 3, CPUID7_ECX_CET_SS },      { CR4_CET, 4, CPUID7_EDX_CET_IBT },
		{ CR4_PKS, 3, CPUID7_ECX_PKS },         { CR4_UINTR, 4, CPUID7_EDX_UINTR },
	};
	*p = (struct cpuid_policy){ .leaf1_ecx = CPUID1_ECX_VMX | CPUID1_ECX_SMX };
	for (unsigned i = 0; i < sizeof(needs_cr4) / sizeof(needs_cr4[0]); i++) {
		if (cr4_fixed1 & needs_cr4[i].cr4)
			continue;
		uint32_t *w = needs_cr4[i].which == 1 ? &p->leaf1_ecx
			      : needs_cr4[i].which == 2 ? &p->leaf7_ebx
			      : needs_cr4[i].which == 3 ? &p->leaf7_ecx
							: &p->leaf7_edx;
		*w |= needs_cr4[i].bit;
	}
	/* Instructions that raise #UD in VMX non-root unless a secondary control enables them. */
	if (!(proc2 & PROC2_ENABLE_RDTSCP)) {
		p->leaf81_edx |= CPUID81_EDX_RDTSCP;
		p->leaf7_ecx |= CPUID7_ECX_RDPID; /* RDPID follows "enable RDTSCP" */
	}
	if (!(proc2 & PROC2_ENABLE_INVPCID))
		p->leaf7_ebx |= CPUID7_EBX_INVPCID;
	if (!(proc2 & PROC2_ENABLE_XSAVES))
		p->leafd1_eax |= CPUIDD1_EAX_XSAVES;
	if (!(proc2 & PROC2_ENABLE_USER_WAIT_PAUSE))
		p->leaf7_ecx |= CPUID7_ECX_WAITPKG;
	if (!(proc2 & PROC2_ENABLE_PCONFIG))
		p->leaf7_edx |= CPUID7_EDX_PCONFIG;
}

void cpuid_policy_shadow(struct cpuid_policy *p)
{
	/* The shadow MMU emulates PCIDs (a shadow root per CR3 and PCID, mm/shadow.h; PCID stays
	 * visible where CR4_FIXED1 allows PCIDE) but neither INVPCID nor 5-level paging: a guest
	 * without CPUID.INVPCID and LA57 must not set CR4.LA57 (#GP) and meets #UD for INVPCID
	 * (secondary control left off), as on a CPU without them. */
	p->leaf7_ebx |= CPUID7_EBX_INVPCID;
	p->leaf7_ecx |= CPUID7_ECX_LA57;
}

void cpuid_shape(const struct cpuid_policy *p, uint32_t leaf, uint32_t subleaf, uint64_t guest_cr4,
		 struct cpuid_regs *r)
{
	if (leaf == 1) {
		r->ecx |= CPUID1_ECX_HYPERVISOR;
		r->ecx &= ~(p->leaf1_ecx | CPUID1_ECX_OSXSAVE);
		if (guest_cr4 & CR4_OSXSAVE)
			r->ecx |= CPUID1_ECX_OSXSAVE;
	} else if (leaf == 7 && subleaf == 0) {
		r->ebx &= ~p->leaf7_ebx;
		r->ecx &= ~(p->leaf7_ecx | CPUID7_ECX_OSPKE); /* OSPKE mirrors CR4.PKE */
		r->edx &= ~p->leaf7_edx;
		if (guest_cr4 & CR4_PKE)
			r->ecx |= CPUID7_ECX_OSPKE;
	} else if (leaf == 0xD && subleaf == 1) {
		r->eax &= ~p->leafd1_eax;
	} else if (leaf == 0x80000001) {
		r->edx &= ~p->leaf81_edx;
	}
}

uint32_t cpuid_fast_leaves(uint32_t max_basic_leaf)
{
	/* 0 vendor/max, 2 TLB/cache descriptors, 3 serial number, 5 MONITOR/MWAIT, 6 thermal and
	 * power, 9 DCA, 0xA performance monitoring, 0x15 TSC/crystal ratio, 0x16 frequencies. */
	static const uint8_t leaves[] = { 0, 2, 3, 5, 6, 9, 0xA, 0x15, 0x16 };
	uint32_t set = 0;
	for (unsigned i = 0; i < sizeof(leaves); i++)
		if (leaves[i] <= max_basic_leaf)
			set |= 1u << leaves[i];
	return set;
}

void cpuid_keel_leaf(uint32_t leaf, struct cpuid_regs *r)
{
	r->eax = r->ebx = r->ecx = r->edx = 0;
	if (leaf == KEEL_CPUID_LEAF) {
		r->eax = KEEL_CPUID_MAX_LEAF;
		r->ebx = KEEL_CPUID_SIG_EBX;
		r->ecx = KEEL_CPUID_SIG_ECX;
		r->edx = KEEL_CPUID_SIG_EDX;
	} else if (leaf == KEEL_CPUID_LEAF + 1) {
		r->eax = KEEL_VERSION_CODE;
	}
}

uint64_t msr_feature_control_view(uint64_t real)
{
	return (real | FEATURE_CONTROL_LOCK) & ~(FEATURE_CONTROL_VMX_IN_SMX | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
}

int msr_write_faults(uint32_t msr, uint64_t val)
{
	switch (msr) {
	case MSR_IA32_FEATURE_CONTROL: /* locked, as the guest sees it */
		return 1;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		return !is_canonical(val);
	case MSR_EFER:
		/* Reserved bits and LMA (read-only) must not be set by software. */
		return (val & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) != 0;
	case MSR_IA32_PAT:
		for (int i = 0; i < 8; i++) {
			unsigned t = (unsigned)(val >> (8 * i)) & 0xFF;
			if (t == 2 || t == 3 || t > 7)
				return 1;
		}
		return 0;
	default:
		return msr_classify(msr) == MSR_VIRT_VMX_CAP;
	}
}

#define XCR0_X87 BIT(0)
#define XCR0_SSE BIT(1)
#define XCR0_AVX BIT(2)
#define XCR0_BNDREGS BIT(3)
#define XCR0_BNDCSR BIT(4)
#define XCR0_AVX512 (BIT(5) | BIT(6) | BIT(7))

int xcr0_write_faults(uint32_t index, uint64_t val, uint64_t supported)
{
	if (index != 0)
		return 1;
	if (!(val & XCR0_X87) || (val & ~supported))
		return 1;
	if ((val & XCR0_AVX) && !(val & XCR0_SSE))
		return 1;
	if (!!(val & XCR0_BNDREGS) != !!(val & XCR0_BNDCSR))
		return 1;
	if ((val & XCR0_AVX512) && ((val & XCR0_AVX512) != XCR0_AVX512 || !(val & XCR0_AVX)))
		return 1;
	return 0;
}

uint64_t cr_guest_view(uint64_t real, uint64_t shadow, uint64_t mask)
{
	return (real & ~mask) | (shadow & mask);
}

/* SDM Vol. 3A 2.5 and MOV CR (Vol. 2B) "Protected Mode Exceptions". */
int cr0_emulate_write(struct cr_state *s, uint64_t val)
{
	uint64_t old = cr_guest_view(s->cr0, s->cr0_shadow, s->cr0_mask);
	uint64_t cr4 = cr_guest_view(s->cr4, s->cr4_shadow, s->cr4_mask);
	int lma = !!(s->efer & EFER_LMA);

	if (val >> 32)
		return 1;
	if ((val & CR0_NW) && !(val & CR0_CD))
		return 1;
	if ((val & CR0_PG) && !(val & CR0_PE))
		return 1;
	if (!(val & CR0_PG) && (old & CR0_PG)) {
		if (lma && s->cs_l)
			return 1;
		if (cr4 & CR4_PCIDE)
			return 1;
	}
	if ((val & CR0_PG) && !(old & CR0_PG) && (s->efer & EFER_LME) && !(cr4 & CR4_PAE))
		return 1;
	if (!(val & CR0_WP) && (cr4 & CR4_CET)) /* CET needs WP (SDM Vol. 3A 2.5, MOV CR0 #GP) */
		return 1;

	if ((val ^ old) & CR0_PG) {
		if ((val & CR0_PG) && (s->efer & EFER_LME))
			s->efer |= EFER_LMA;
		else if (!(val & CR0_PG))
			s->efer &= ~EFER_LMA;
	}
	s->flush_tlb = !!((val ^ old) & (CR0_PG | CR0_WP | CR0_CD | CR0_NW));
	s->reload_pdptes = !!((val ^ old) & (CR0_PG | CR0_CD | CR0_NW));
	s->cr0_shadow = val;
	s->cr0 = (val | (s->cr0_fixed0 & ~(CR0_PE | CR0_PG))) & s->cr0_fixed1;
	return 0;
}

int cr4_emulate_write(struct cr_state *s, uint64_t val)
{
	uint64_t old = cr_guest_view(s->cr4, s->cr4_shadow, s->cr4_mask);
	int lma = !!(s->efer & EFER_LMA);

	if (val & CR4_VMXE) /* VMX is hidden: the bit is reserved for the guest */
		return 1;
	if (val & ~s->cr4_fixed1)
		return 1;
	if (lma && !(val & CR4_PAE))
		return 1;
	if (lma && ((val ^ old) & CR4_LA57))
		return 1;
	if ((val & CR4_PCIDE) && !(old & CR4_PCIDE) && (!lma || (s->cr3 & 0xFFF)))
		return 1;
	if ((val & CR4_CET) && !(cr_guest_view(s->cr0, s->cr0_shadow, s->cr0_mask) & CR0_WP))
		return 1;

	s->flush_tlb = !!((val ^ old) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_PCIDE | CR4_SMEP | CR4_SMAP | CR4_LA57));
	s->reload_pdptes = !!((val ^ old) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP));
	s->cr4_shadow = val;
	s->cr4 = val | s->cr4_fixed0 | CR4_VMXE;
	return 0;
}

int pae_paging_active(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/* PDPTE reserved bits (SDM Vol. 3A 4.4.1, table 4-8): 2:1, 8:5 and MAXPHYADDR upward, bit 63 too. */
int pae_pdptes_invalid(const uint64_t pdpte[4], unsigned max_phys_bits)
{
	uint64_t reserved = 0x1E6ULL | ~((1ULL << max_phys_bits) - 1);
	for (int i = 0; i < 4; i++)
		if ((pdpte[i] & 1) && (pdpte[i] & reserved))
			return 1;
	return 0;
}
