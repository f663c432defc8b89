/* VMX bring-up: control words, host and guest state, and the launch into the firmware's own
 * context on each CPU. Runs under UEFI boot services, on the BSP and on each AP in turn. */
#include "vmx.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../arch/x86/vmx.h"
#include "../lib/fmt.h"
#include "../lib/log.h"
#include "../lib/string.h"
#include "../mm/pool.h"
#include "events.h"
#include "host.h"
#include "hypercall_abi.h"
#include "vmcs.h"
#include "vmm.h"

/*
 * Control words, computed once from the capability MSRs (SDM Vol. 3D A.3-A.5). keel asks for as
 * little as it can: MSR and I/O bitmaps (so only what it emulates exits), EPT with unrestricted
 * guest, VPID, and the instructions modern OSes use without exits (RDTSCP, INVPCID, XSAVES).
 */
const char *vmx_compute_controls(struct vm *vm)
{
	const struct vmx_caps *c = &vm->caps;
	uint32_t miss, want2;

	vm->pin = vmx_adjust_controls(vmx_caps_pinbased(c), 0, &miss);
	/* Shadow paging (mmu=shadow) takes part in every change of the guest's address space: MOV to
	 * and from CR3 (the real one holds the shadow root) and INVLPG exit (SDM Vol. 3C 25.1.3). */
	uint32_t shadow_proc = vm->shadow ? PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_INVLPG_EXITING : 0;
	vm->proc = vmx_adjust_controls(vmx_caps_procbased(c),
				       PROC_USE_MSR_BITMAPS | PROC_USE_IO_BITMAPS | PROC_SECONDARY_CONTROLS | shadow_proc,
				       &miss);
	if (miss)
		return vm->shadow ? "the CPU cannot use MSR/I-O bitmaps, secondary controls or CR3/INVLPG exiting"
				  : "the CPU cannot use MSR/I-O bitmaps or secondary controls";
	/* Shadow mode leaves EPT and unrestricted guest off even where the CPU has them: one
	 * translation, the same on every CPU (docs/memory-virtualization.md, "Where the two meet"). */
	want2 = vm->shadow ? 0 : PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST;
	if (vmx_caps_has_vpid(c))
		want2 |= PROC2_ENABLE_VPID;
	if (vmx_caps_allows2(c, PROC2_ENABLE_RDTSCP))
		want2 |= PROC2_ENABLE_RDTSCP;
	if (vmx_caps_allows2(c, PROC2_ENABLE_INVPCID) && !vm->shadow)
		want2 |= PROC2_ENABLE_INVPCID; /* shadow mode: INVPCID stays #UD, and CPUID hides it */
	if (vmx_caps_allows2(c, PROC2_ENABLE_XSAVES))
		want2 |= PROC2_ENABLE_XSAVES;
	/* TPAUSE, UMONITOR, UMWAIT (WAITPKG) and PCONFIG raise #UD in VMX non-root without these
	 * (SDM Vol. 3C 25.3); where the CPU refuses them, CPUID hides the feature instead. */
	if (vmx_caps_allows2(c, PROC2_ENABLE_USER_WAIT_PAUSE))
		want2 |= PROC2_ENABLE_USER_WAIT_PAUSE;
	if (vmx_caps_allows2(c, PROC2_ENABLE_PCONFIG))
		want2 |= PROC2_ENABLE_PCONFIG;
	vm->proc2 = vmx_adjust_controls(c->procbased2, want2, &miss);
	if (miss)
		return "the CPU refuses EPT or unrestricted guest in the secondary controls";
	/* EFER and PAT switch with the VM-exit/VM-entry controls where the CPU has all six (Nehalem
	 * and later), else through MSR lists (Core 2; guest_msrs.h): never half and half. */
	const uint32_t exit_msr_ctls = EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PAT | EXIT_LOAD_PAT;
	const uint32_t entry_msr_ctls = ENTRY_LOAD_EFER | ENTRY_LOAD_PAT;
	guest_msrs_listed = (exit_msr_ctls & ~(uint32_t)(vmx_caps_exit(c) >> 32)) ||
			    (entry_msr_ctls & ~(uint32_t)(vmx_caps_entry(c) >> 32));
	vm->exit_ctls = vmx_adjust_controls(vmx_caps_exit(c),
					    EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_DEBUG_CONTROLS |
						    (guest_msrs_listed ? 0 : exit_msr_ctls),
					    &miss);
	if (miss)
		return "the CPU cannot return to a 64-bit host on VM exit (host address-space size)";
	vm->entry_ctls = vmx_adjust_controls(vmx_caps_entry(c),
					     ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_DEBUG_CONTROLS |
						     (guest_msrs_listed ? 0 : entry_msr_ctls),
					     &miss);
	if (miss)
		return "the CPU cannot enter a 64-bit guest (IA-32e mode guest)";
	cpuid_policy_init(&vm->cpuid_policy, vm->proc2, c->cr4_fixed1);
	if (vm->shadow)
		cpuid_policy_shadow(&vm->cpuid_policy);
	vmx_trap_controls(vm);
	/* mmu=shadow with EPT and unrestricted guest: the controls of the unpaged phase (guest CR0.PG
	 * = 0) are EPT mode's: EPT and unrestricted guest on, and no CR3 or INVLPG exits beyond those
	 * trap= asked for or the CPU forces. The #PF bit stays in the exception bitmap: with paging
	 * off no #PF can occur. */
	vm->proc_paging = 0;
	vm->proc2_unpaged = 0;
	if (vm->shadow && vm->unpaged_ept) {
		uint32_t kept = (uint32_t)vmx_caps_procbased(c); /* must be 1 */
		if (vm->trap & TRAP_CR3)
			kept |= PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING;
		if (vm->trap & TRAP_INVLPG)
			kept |= PROC_INVLPG_EXITING;
		vm->proc_paging = shadow_proc & ~kept;
		vm->proc2_unpaged = PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST;
		if (vmx_adjust_controls(c->procbased2, vm->proc2 | vm->proc2_unpaged, &miss), miss)
			return "the CPU refuses EPT or unrestricted guest in the secondary controls";
	}
	return 0;
}

/*
 * What each trap= class needs from the CPU (SDM Vol. 3C 25.1-25.3, 25.6; Vol. 3D A.3, A.6) and
 * why a CPU without it cannot trap the class. A class missing one of its controls is left out
 * whole: half a class would trap some of its instructions and not others.
 */
struct trap_need {
	uint32_t proc, proc2; /* controls that must be allowed to be 1 */
	const char *without;  /* the report when they are not */
};
static const struct trap_need trap_needs[TRAP_CLASS_COUNT] = {
	[TRAP_BIT_HLT] = { PROC_HLT_EXITING, 0, "no HLT exiting or no HLT activity state (IA32_VMX_MISC bit 6)" },
	[TRAP_BIT_PAUSE] = { PROC_PAUSE_EXITING, 0, "no PAUSE exiting" },
	[TRAP_BIT_MWAIT] = { PROC_MWAIT_EXITING, 0, "no MWAIT exiting" },
	[TRAP_BIT_MONITOR] = { PROC_MONITOR_EXITING, 0, "no MONITOR exiting" },
	[TRAP_BIT_RDTSC] = { PROC_RDTSC_EXITING, 0, "no RDTSC exiting" },
	[TRAP_BIT_RDPMC] = { PROC_RDPMC_EXITING, 0, "no RDPMC exiting" },
	[TRAP_BIT_CR3] = { PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING, 0, "no CR3-load/store exiting" },
	[TRAP_BIT_CR8] = { PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING, 0, "no CR8-load/store exiting" },
	[TRAP_BIT_DR] = { PROC_MOV_DR_EXITING, 0, "no MOV-DR exiting" },
	[TRAP_BIT_DESC] = { 0, PROC2_DESC_TABLE_EXITING, "no descriptor-table exiting" },
	[TRAP_BIT_INVLPG] = { PROC_INVLPG_EXITING, 0, "no INVLPG exiting" },
	[TRAP_BIT_INVPCID] = { PROC_INVLPG_EXITING, PROC2_ENABLE_INVPCID,
			       "no INVLPG exiting or no enable-INVPCID (the guest has no INVPCID)" },
	[TRAP_BIT_WBINVD] = { 0, PROC2_WBINVD_EXITING, "no WBINVD exiting" },
	[TRAP_BIT_IO] = { 0, 0, 0 },  /* all-ones I/O bitmaps */
	[TRAP_BIT_MSR] = { 0, 0, 0 }, /* all-ones MSR bitmap */
	[TRAP_BIT_EXCEPTIONS] = { 0, 0, "no VMX-preemption timer (keel needs it to let the CPU deliver a fault "
				      "raised during event delivery)" },
};

void vmx_trap_controls(struct vm *vm)
{
	const struct vmx_caps *c = &vm->caps;
	uint32_t proc1 = (uint32_t)(vmx_caps_procbased(c) >> 32);

	vm->trap_missing = 0;
	vm->exception_bitmap = 0;
	for (unsigned k = 0; k < TRAP_CLASS_COUNT; k++) {
		const struct trap_need *n = &trap_needs[k];
		if (!(vm->trap & (1u << k)))
			continue;
		int ok = (proc1 & n->proc) == n->proc && (!n->proc2 || vmx_caps_allows2(c, n->proc2));
		if (k == TRAP_BIT_HLT)
			ok = ok && (c->misc & VMX_MISC_ACTIVITY_HLT);
		if (k == TRAP_BIT_EXCEPTIONS)
			ok = !!((vmx_caps_pinbased(c) >> 32) & PIN_PREEMPTION_TIMER);
		if (!ok) {
			vm->trap_missing |= 1u << k;
			continue;
		}
		vm->proc |= n->proc;
		vm->proc2 |= n->proc2;
	}
	vm->trap &= ~vm->trap_missing;
	if (vm->trap & TRAP_INVPCID)
		vm->trap |= TRAP_INVLPG; /* INVPCID exits only through INVLPG exiting (SDM 25.1.3) */
	if (vm->trap & TRAP_EXCEPTIONS)
		vm->exception_bitmap = 0xFFFFFFFF;
	/* Shadow paging: every #PF exits (error-code mask and match 0, SDM Vol. 3C 25.2), filled or
	 * reflected by vmm/shadow_exit.c. */
	if (vm->shadow)
		vm->exception_bitmap |= 1u << VEC_PF;
}

void vmx_report_traps(const struct vm *vm)
{
	char names[200];
	size_t n = 0;

	for (unsigned k = 0; k < TRAP_CLASS_COUNT; k++) {
		if (vm->trap_missing & (1u << k))
			log_warn("keel: trap=%s left out: this CPU has %s; the boot goes on without it", trap_class_name(k),
				 trap_needs[k].without);
		if ((vm->trap & (1u << k)) && n < sizeof(names))
			n += (size_t)fmt_snprintf(names + n, sizeof(names) - n, "%s%s", n ? "," : "", trap_class_name(k));
	}
	if (vm->trap)
		log_info("keel: trap: intercepting %s beyond the minimal set", names);
}

/* Marks an MSR in the 4 KiB bitmap (SDM 24.6.9): read-low, read-high, write-low, write-high. */
void vmx_msr_bitmap_trap(uint8_t *bm, uint32_t msr, int read, int write)
{
	unsigned off;
	if (msr <= 0x1FFF)
		off = 0;
	else if (msr >= 0xC0000000 && msr <= 0xC0001FFF)
		off = 0x400;
	else
		return; /* outside both ranges every access exits anyway */
	uint32_t bit = msr & 0x1FFF;
	if (read)
		bm[off + bit / 8] |= (uint8_t)(1u << (bit % 8));
	if (write)
		bm[0x800 + off + bit / 8] |= (uint8_t)(1u << (bit % 8));
}

void vmx_io_bitmap_trap(uint8_t *bm, uint16_t port) { bm[port / 8] |= (uint8_t)(1u << (port % 8)); }

void vmx_traps_init(struct vm *vm)
{
	vmx_msr_bitmap_trap(vm->msr_bitmap, MSR_IA32_FEATURE_CONTROL, 1, 1);
	vmx_msr_bitmap_trap(vm->msr_bitmap, MSR_IA32_BIOS_UPDT_TRIG, 0, 1);
	vmx_msr_bitmap_trap(vm->msr_bitmap, MSR_IA32_MISC_ENABLE, 0, 1);
	if (vm->ncpus > 1) /* INIT and SIPI in x2APIC mode (vmm/sipi.c) */
		vmx_msr_bitmap_trap(vm->msr_bitmap, MSR_X2APIC_ICR, 0, 1);
	for (uint32_t m = MSR_IA32_VMX_FIRST; m <= MSR_IA32_VMX_LAST; m++)
		vmx_msr_bitmap_trap(vm->msr_bitmap, m, 1, 1);
	vmx_io_bitmap_trap(vm->io_bitmap, KEEL_TRAPPED_PORT);
	/* trap=msr and trap=io: every MSR and every port exits (SDM 25.1.3); vmm/msr.c and vmm/io.c
	 * perform the access for the guest, and the MSRs keel virtualizes stay virtual. */
	if (vm->trap & TRAP_MSR)
		memset(vm->msr_bitmap, 0xFF, 4096);
	if (vm->trap & TRAP_IO)
		memset(vm->io_bitmap, 0xFF, 8192);
}

/* ---- per-CPU state ---- */

void vmx_write_cr_masks(const struct vcpu *v)
{
	/* CR0: keel owns the bits VMX fixes (other than PE/PG, free under unrestricted guest);
	 * CR4: VMXE (hidden from the guest) and every bit VMX fixes or forbids. */
	vmcs_writenat(VMCS_CR0_MASK, (v->cr0_fixed0 & ~(CR0_PE | CR0_PG)) | (~v->cr0_fixed1 & 0xFFFFFFFFULL));
	vmcs_writenat(VMCS_CR4_MASK, v->cr4_fixed0 | ~v->cr4_fixed1 | CR4_VMXE);
	/* Shadow paging: keel owns every bit that decides how linear addresses translate, so that each
	 * change exits and the real values can differ (mm/shadow.h: real WP = PG = PE = 1, real PAE = 1,
	 * real PCIDE = 0); the read shadows show the guest its own. */
	if (v->shadow_mmu) {
		vmcs_writenat(VMCS_CR0_MASK, v->cr0_fixed0 | (~v->cr0_fixed1 & 0xFFFFFFFFULL) | CR0_PE | CR0_PG | CR0_WP);
		vmcs_writenat(VMCS_CR4_MASK, v->cr4_fixed0 | ~v->cr4_fixed1 | CR4_VMXE | CR4_PAE | CR4_PSE | CR4_PGE |
						     CR4_SMEP | CR4_SMAP | CR4_PCIDE);
	}
}

static const char *vmx_enable(struct vcpu *v)
{
	const struct vmx_caps *c = &v->vm->caps;
	uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);

	if (!(fc & FEATURE_CONTROL_LOCK))
		wrmsr(MSR_IA32_FEATURE_CONTROL, fc | FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
	else if (!(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX))
		return "VT-x is disabled in the firmware setup (IA32_FEATURE_CONTROL locked with VMX off)";

	v->cr0_fixed0 = c->cr0_fixed0;
	v->cr0_fixed1 = c->cr0_fixed1;
	v->cr4_fixed0 = c->cr4_fixed0;
	v->cr4_fixed1 = c->cr4_fixed1;
	write_cr0((read_cr0() | c->cr0_fixed0) & c->cr0_fixed1);
	write_cr4((read_cr4() | c->cr4_fixed0 | CR4_VMXE) & c->cr4_fixed1);

	*(uint32_t *)(uintptr_t)v->vmxon_pa = VMX_BASIC_REVISION(c->basic);
	*(uint32_t *)(uintptr_t)v->vmcs_pa = VMX_BASIC_REVISION(c->basic);
	int r = vmxon(v->vmxon_pa);
	if (r) {
		write_cr4(read_cr4() & ~CR4_VMXE);
		return r == VMX_FAIL_INVALID ? "VMXON failed (VMfailInvalid: bad VMXON region or CPU state)"
					     : "VMXON failed (VMfailValid: VMX already on)";
	}
	r = vmclear(v->vmcs_pa);
	if (!r)
		r = vmptrld(v->vmcs_pa);
	if (r) {
		vmx_report_failure("VMCLEAR/VMPTRLD of VMCS", v->vmcs_pa, r);
		vmxoff();
		write_cr4(read_cr4() & ~CR4_VMXE);
		return "VMCLEAR/VMPTRLD failed";
	}
	return 0;
}

void vmx_disable(void)
{
	vmxoff();
	write_cr4(read_cr4() & ~CR4_VMXE);
}

/* Access rights of a GDT descriptor in the VMCS format (SDM 24.4.1), with the accessed bit set as
 * the CPU would have set it on the segment load. */
static void read_segment(const struct dtr *gdt, uint16_t sel, uint32_t *ar, uint32_t *limit, uint64_t *base)
{
	if ((sel & ~3) == 0 || (sel & 4) || (sel | 7) > gdt->limit) {
		*ar = AR_UNUSABLE;
		*limit = 0;
		*base = 0;
		return;
	}
	const uint64_t *d = (const uint64_t *)(uintptr_t)(gdt->base + (sel & ~7));
	uint64_t desc = d[0];
	*ar = (uint32_t)(desc >> 40) & 0xF0FF;
	*limit = (uint32_t)((desc & 0xFFFF) | ((desc >> 32) & 0xF0000));
	if (*ar & AR_G)
		*limit = (*limit << 12) | 0xFFF;
	*base = ((desc >> 16) & 0xFFFFFF) | ((desc >> 32) & 0xFF000000);
	if (*ar & AR_S)
		*ar |= AR_TYPE_ACCESSED;
	else
		*base |= d[1] << 32; /* system descriptors are 16 bytes in IA-32e mode */
}

static void setup_controls(struct vcpu *v)
{
	struct vm *vm = v->vm;

	uint32_t pin = vm->pin, exit_ctls = vm->exit_ctls;
	if (events_stats_clock(v)) {
		/* The statistics clock: CPU 0's preemption timer, saved across exits so it keeps counting. */
		pin |= PIN_PREEMPTION_TIMER;
		if ((vmx_caps_exit(&vm->caps) >> 32) & EXIT_SAVE_PREEMPTION_TIMER)
			exit_ctls |= EXIT_SAVE_PREEMPTION_TIMER;
		vmcs_write32(VMCS_PREEMPTION_TIMER, events_stats_timer_value(vm));
		vm->stats_last = rdtsc();
	}
	vmcs_write32(VMCS_PIN_CONTROLS, pin);
	vmcs_write32(VMCS_PROC_CONTROLS, vm->proc);
	vmcs_write32(VMCS_PROC2_CONTROLS, vm->proc2);
	vmcs_write32(VMCS_EXIT_CONTROLS, exit_ctls);
	vmcs_write32(VMCS_ENTRY_CONTROLS, vm->entry_ctls);
	vmcs_write32(VMCS_EXCEPTION_BITMAP, vm->exception_bitmap);
	vmcs_write32(VMCS_PF_ERROR_MASK, 0);
	vmcs_write32(VMCS_PF_ERROR_MATCH, 0);
	vmcs_write32(VMCS_CR3_TARGET_COUNT, 0);
	if (guest_msrs_listed) {
		guest_msrs_setup_lists(v, rdmsr(MSR_EFER), rdmsr(MSR_IA32_PAT));
	} else {
		vmcs_write32(VMCS_EXIT_MSR_STORE_COUNT, 0);
		vmcs_write32(VMCS_EXIT_MSR_LOAD_COUNT, 0);
		vmcs_write32(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	}
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write64(VMCS_MSR_BITMAP, (uint64_t)(uintptr_t)vm->msr_bitmap);
	vmcs_write64(VMCS_IO_BITMAP_A, (uint64_t)(uintptr_t)vm->io_bitmap);
	vmcs_write64(VMCS_IO_BITMAP_B, (uint64_t)(uintptr_t)vm->io_bitmap + 4096);
	if (!vm->shadow || vm->unpaged_ept) /* the field exists only where EPT does (SDM Vol. 3C 25.6.11) */
		vmcs_write64(VMCS_EPT_POINTER, vm->eptp);
	if (vm->proc2 & PROC2_ENABLE_VPID)
		vmcs_write16(VMCS_VPID, v->vpid);
	if (vm->proc2 & PROC2_ENABLE_XSAVES)
		vmcs_write64(VMCS_XSS_EXITING_BITMAP, 0);

	uint64_t cr0 = read_cr0(), cr4 = read_cr4();
	vmx_write_cr_masks(v);
	vmcs_writenat(VMCS_CR0_SHADOW, cr0);
	vmcs_writenat(VMCS_CR4_SHADOW, cr4 & ~CR4_VMXE);
}

static void setup_host_state(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t cr4 = read_cr4();

	if (vm->caps.cpuid1_ecx & CPUID1_ECX_XSAVE)
		cr4 |= CR4_OSXSAVE; /* so keel can execute the guest's XSETBV */
	vmcs_writenat(VMCS_HOST_CR0, read_cr0());
	vmcs_writenat(VMCS_HOST_CR3, vm->host_cr3);
	vmcs_writenat(VMCS_HOST_CR4, cr4);
	vmcs_write16(VMCS_HOST_CS_SEL, HOST_CS);
	vmcs_write16(VMCS_HOST_SS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_DS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_ES_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_FS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_GS_SEL, HOST_DS);
	vmcs_write16(VMCS_HOST_TR_SEL, HOST_TR);
	vmcs_writenat(VMCS_HOST_FS_BASE, 0);
	vmcs_writenat(VMCS_HOST_GS_BASE, (uint64_t)(uintptr_t)v);
	vmcs_writenat(VMCS_HOST_TR_BASE, (uint64_t)(uintptr_t)&v->tss);
	vmcs_writenat(VMCS_HOST_GDTR_BASE, (uint64_t)(uintptr_t)v->gdt);
	vmcs_writenat(VMCS_HOST_IDTR_BASE, (uint64_t)(uintptr_t)vm->idt);
	vmcs_write32(VMCS_HOST_SYSENTER_CS, 0);
	vmcs_writenat(VMCS_HOST_SYSENTER_ESP, 0);
	vmcs_writenat(VMCS_HOST_SYSENTER_EIP, 0);
	if (!guest_msrs_listed) { /* else in v's host MSR list (setup_controls) */
		vmcs_write64(VMCS_HOST_EFER, rdmsr(MSR_EFER));
		vmcs_write64(VMCS_HOST_PAT, rdmsr(MSR_IA32_PAT));
	}

	/* HOST_RSP: 16-byte aligned, with the vcpu pointer stored right there for the exit stub. */
	uint64_t top = (uint64_t)(uintptr_t)v->stack + HOST_STACK_PAGES * 4096 - 16;
	*(uint64_t *)(uintptr_t)top = (uint64_t)(uintptr_t)v;
	vmcs_writenat(VMCS_HOST_RSP, top);
	vmcs_writenat(VMCS_HOST_RIP, (uint64_t)(uintptr_t)vmx_exit_entry);
}

#define GUEST_SEGMENT(seg, SEG)                                                                    \
	do {                                                                                       \
		uint16_t sel = read_##seg();                                                       \
		read_segment(&gdt, sel, &ar, &limit, &base);                                      \
		vmcs_write16(VMCS_GUEST_##SEG##_SEL, sel);                                         \
		vmcs_write32(VMCS_GUEST_##SEG##_AR, ar);                                           \
		vmcs_write32(VMCS_GUEST_##SEG##_LIMIT, limit);                                     \
		vmcs_writenat(VMCS_GUEST_##SEG##_BASE, base);                                      \
	} while (0)

/* The guest is the firmware exactly as it runs now on this CPU (SDM 26.3 checks in mind). */
static void setup_guest_state(void)
{
	struct dtr gdt, idt;
	uint32_t ar, limit;
	uint64_t base;

	sgdt(&gdt);
	sidt(&idt);
	vmcs_writenat(VMCS_GUEST_CR0, read_cr0());
	vmcs_writenat(VMCS_GUEST_CR3, read_cr3());
	vmcs_writenat(VMCS_GUEST_CR4, read_cr4());
	vmcs_writenat(VMCS_GUEST_DR7, read_dr7());
	GUEST_SEGMENT(cs, CS);
	GUEST_SEGMENT(ss, SS);
	GUEST_SEGMENT(ds, DS);
	GUEST_SEGMENT(es, ES);
	GUEST_SEGMENT(fs, FS);
	GUEST_SEGMENT(gs, GS);
	vmcs_writenat(VMCS_GUEST_FS_BASE, rdmsr(MSR_FS_BASE));
	vmcs_writenat(VMCS_GUEST_GS_BASE, rdmsr(MSR_GS_BASE));

	uint16_t ldtr = sldt();
	read_segment(&gdt, ldtr, &ar, &limit, &base);
	vmcs_write16(VMCS_GUEST_LDTR_SEL, ldtr);
	vmcs_write32(VMCS_GUEST_LDTR_AR, ar);
	vmcs_write32(VMCS_GUEST_LDTR_LIMIT, limit);
	vmcs_writenat(VMCS_GUEST_LDTR_BASE, base);

	/* UEFI loads no TR, but VM entry demands a usable busy 64-bit TSS (SDM 26.3.1.2). */
	uint16_t tr = str();
	read_segment(&gdt, tr, &ar, &limit, &base);
	if (ar & AR_UNUSABLE) {
		ar = AR_P | AR_TYPE_BUSY_TSS64;
		limit = sizeof(struct tss64) - 1;
		base = 0;
	} else {
		ar = (ar & ~0xFu) | AR_TYPE_BUSY_TSS64;
	}
	vmcs_write16(VMCS_GUEST_TR_SEL, tr);
	vmcs_write32(VMCS_GUEST_TR_AR, ar);
	vmcs_write32(VMCS_GUEST_TR_LIMIT, limit);
	vmcs_writenat(VMCS_GUEST_TR_BASE, base);

	vmcs_writenat(VMCS_GUEST_GDTR_BASE, gdt.base);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, gdt.limit);
	vmcs_writenat(VMCS_GUEST_IDTR_BASE, idt.base);
	vmcs_write32(VMCS_GUEST_IDTR_LIMIT, idt.limit);

	vmcs_write64(VMCS_GUEST_DEBUGCTL, rdmsr(MSR_IA32_DEBUGCTL));
	vmcs_write32(VMCS_GUEST_SYSENTER_CS, (uint32_t)rdmsr(MSR_IA32_SYSENTER_CS));
	vmcs_writenat(VMCS_GUEST_SYSENTER_ESP, rdmsr(MSR_IA32_SYSENTER_ESP));
	vmcs_writenat(VMCS_GUEST_SYSENTER_EIP, rdmsr(MSR_IA32_SYSENTER_EIP));
	guest_set_pat(rdmsr(MSR_IA32_PAT));
	guest_set_efer(rdmsr(MSR_EFER));
	vmcs_write64(VMCS_LINK_POINTER, ~0ULL);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	vmcs_writenat(VMCS_GUEST_PENDING_DBG, 0);
	/* GUEST_RSP and GUEST_RIP are written by vmx_launch; GUEST_RFLAGS by vmx_vcpu_launch. */
}

void (*vmx_shadow_launch_hook)(struct vcpu *v);

/*
 * Ordering: VMXON and VMPTRLD first (VMWRITE needs a current VMCS); then controls, host state and
 * guest state in any order; the guest state is read last so it is as fresh as possible; interrupts
 * stay off from the RFLAGS snapshot to VMLAUNCH so the guest resumes with the firmware's IF.
 */
const char *vmx_vcpu_launch(struct vcpu *v, int (*precheck)(struct vcpu *v))
{
	const char *why = vmx_enable(v);
	if (why)
		return why;
	host_setup_gdt(v);
	vmcs_take_failures();
	setup_controls(v);
	setup_host_state(v);
	setup_guest_state();
	if (v->shadow_mmu && vmx_shadow_launch_hook)
		vmx_shadow_launch_hook(v); /* the real CR0/CR3/CR4 become keel's, the guest's in the shadows */
	if (vmcs_take_failures()) {
		vmx_disable();
		return "writing the VMCS failed (see the VMWRITE errors above)";
	}
	if (v->vm->corrupt_guest_tr) {
		log_warn("keel: debug_corrupt=guest_tr: making cpu%u's guest TR unusable; its VM entry must fail",
			 v->index);
		vmcs_write32(VMCS_GUEST_TR_AR, AR_UNUSABLE);
	}

	if (v->vm->break_mask & VMM_BREAK_LAUNCH)
		magic_break(); /* Bochs debugger: the VMCS is complete, the next instruction launches */
	uint64_t flags = read_rflags();
	cli();
	vmcs_writenat(VMCS_GUEST_RFLAGS, flags);
	/* The checker sees the VMCS exactly as VMLAUNCH will (RFLAGS included). */
	if (precheck && precheck(v)) {
		write_rflags(flags);
		vmx_disable();
		return "the VM-entry self-check found invalid state (see the rules named above)";
	}
	int r = vmx_launch(VMCS_GUEST_RSP, VMCS_GUEST_RIP);
	if (r == 0) {
		/* Now the guest: the firmware's context, in VMX non-root operation. */
		return 0;
	}
	write_rflags(flags);
	if (r == 3)
		return "VM entry failed (see the exit reason and guest state above)";
	vmx_report_failure("VMLAUNCH of VMCS", v->vmcs_pa, r);
	vmx_disable();
	return "VMLAUNCH failed (see the VM-instruction error above)";
}
