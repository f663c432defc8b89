/* A software VM-entry checker: the SDM's checks on VMX controls, host state and guest state
 * (Vol. 3C 26.2-26.3), each rule named, run on the current VMCS. VMX root or setup. */
#include "vmcheck.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../arch/x86/vmx.h"
#include "../lib/fmt.h"
#include "guest_msrs.h"
#include "vmcs.h"

struct checker {
	const struct vmx_caps *caps;
	vmcheck_report_fn report;
	void *ctx;
	unsigned broken;
};

static void fail(struct checker *c, const char *rule, const char *sdm, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void fail(struct checker *c, const char *rule, const char *sdm, const char *fmt, ...)
{
	char detail[160];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	c->broken++;
	if (c->report)
		c->report(c->ctx, rule, sdm, detail);
}

static int canonical(uint64_t a) { return (a >> 47) == 0 || (a >> 47) == 0x1FFFF; }

/* A control word against its capability MSR: allowed-0 bits must be 1, allowed-1 bits bound it. */
static void allowed(struct checker *c, const char *rule, uint32_t val, uint64_t cap)
{
	uint32_t must1 = (uint32_t)cap, may1 = (uint32_t)(cap >> 32);
	if ((val & must1) != must1 || (val & ~may1))
		fail(c, rule, "26.2.1", "0x%08x: must-be-1 bits 0x%08x missing, must-be-0 bits 0x%08x set", val,
		     must1 & ~val, val & ~may1);
}

static void check_controls(struct checker *c)
{
	const struct vmx_caps *k = c->caps;
	uint32_t pin = vmcs_read32(VMCS_PIN_CONTROLS), proc = vmcs_read32(VMCS_PROC_CONTROLS);
	uint32_t exit = vmcs_read32(VMCS_EXIT_CONTROLS), entry = vmcs_read32(VMCS_ENTRY_CONTROLS);
	uint32_t proc2 = (proc & PROC_SECONDARY_CONTROLS) ? vmcs_read32(VMCS_PROC2_CONTROLS) : 0;
	uint64_t phys_mask = ~((1ULL << k->max_phys_bits) - 1);

	allowed(c, "ctl.pin_allowed", pin, vmx_caps_pinbased(k));
	allowed(c, "ctl.proc_allowed", proc, vmx_caps_procbased(k));
	if (proc & PROC_SECONDARY_CONTROLS)
		allowed(c, "ctl.proc2_allowed", proc2, k->procbased2);
	allowed(c, "ctl.exit_allowed", exit, vmx_caps_exit(k));
	allowed(c, "ctl.entry_allowed", entry, vmx_caps_entry(k));
	if (vmcs_read32(VMCS_CR3_TARGET_COUNT) > 4)
		fail(c, "ctl.cr3_target_count", "26.2.1.1", "%u targets (at most 4)", vmcs_read32(VMCS_CR3_TARGET_COUNT));
	if (proc & PROC_USE_MSR_BITMAPS) {
		uint64_t a = vmcs_read64(VMCS_MSR_BITMAP);
		if ((a & 0xFFF) || (a & phys_mask))
			fail(c, "ctl.msr_bitmap_address", "26.2.1.1", "0x%llx not 4-KiB aligned in the physical range",
			     (unsigned long long)a);
	}
	/* The VM-exit MSR-store and MSR-load lists and the VM-entry MSR-load list (SDM 26.2.1.2,
	 * 26.2.1.3): 16-byte aligned, the last byte in the physical range. */
	static const struct {
		uint32_t addr, count;
		const char *sdm;
	} lists[] = { { VMCS_EXIT_MSR_STORE_ADDR, VMCS_EXIT_MSR_STORE_COUNT, "26.2.1.2" },
		      { VMCS_EXIT_MSR_LOAD_ADDR, VMCS_EXIT_MSR_LOAD_COUNT, "26.2.1.2" },
		      { VMCS_ENTRY_MSR_LOAD_ADDR, VMCS_ENTRY_MSR_LOAD_COUNT, "26.2.1.3" } };
	for (unsigned i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		uint32_t n = (uint32_t)vmcs_read_raw(lists[i].count);
		uint64_t a = n ? vmcs_read_raw(lists[i].addr) : 0;
		if (n && ((a & 0xF) || ((a + 16ull * n - 1) & phys_mask)))
			fail(c, "ctl.msr_list_address", lists[i].sdm,
			     "MSR list at 0x%llx (%u entries) not 16-byte aligned in the physical range",
			     (unsigned long long)a, n);
	}
	if (proc & PROC_USE_IO_BITMAPS) {
		uint64_t a = vmcs_read64(VMCS_IO_BITMAP_A), b = vmcs_read64(VMCS_IO_BITMAP_B);
		if (((a | b) & 0xFFF) || ((a | b) & phys_mask))
			fail(c, "ctl.io_bitmap_address", "26.2.1.1", "A 0x%llx B 0x%llx not 4-KiB aligned in range",
			     (unsigned long long)a, (unsigned long long)b);
	}
	if (proc2 & PROC2_ENABLE_EPT) {
		uint64_t e = vmcs_read64(VMCS_EPT_POINTER);
		unsigned mt = e & 7, walk = (e >> 3) & 7;
		if (!((mt == 0 && (k->ept_vpid & EPT_CAP_MEMTYPE_UC)) || (mt == 6 && (k->ept_vpid & EPT_CAP_MEMTYPE_WB))))
			fail(c, "ctl.eptp_memtype", "26.2.1.1", "EPTP memory type %u is not a supported UC/WB", mt);
		if (walk != 3 && !(walk == 4 && (k->ept_vpid & EPT_CAP_WALK_5)))
			fail(c, "ctl.eptp_walk", "26.2.1.1", "EPTP walk length %u (4, or 5 where EPT_VPID_CAP bit 7 allows)",
			     walk + 1);
		if ((e & BIT(6)) && !(k->ept_vpid & EPT_CAP_AD))
			fail(c, "ctl.eptp_ad", "26.2.1.1", "EPTP enables A/D flags the CPU lacks");
		if ((e & 0xF80) || (e & phys_mask))
			fail(c, "ctl.eptp_reserved", "26.2.1.1", "EPTP 0x%llx sets reserved bits", (unsigned long long)e);
	}
	if ((proc2 & PROC2_ENABLE_VPID) && vmcs_read16(VMCS_VPID) == 0)
		fail(c, "ctl.vpid_zero", "26.2.1.1", "VPID enabled with VPID 0");
	if ((proc2 & PROC2_UNRESTRICTED_GUEST) && !(proc2 & PROC2_ENABLE_EPT))
		fail(c, "ctl.unrestricted_without_ept", "26.2.1.1", "unrestricted guest needs EPT");
	if ((pin & PIN_VIRTUAL_NMIS) && !(pin & PIN_NMI_EXITING))
		fail(c, "ctl.virtual_nmis", "26.2.1.1", "virtual NMIs need NMI exiting");
	if ((entry & ENTRY_SMM) || (entry & ENTRY_DEACT_DUAL_MONITOR))
		fail(c, "ctl.entry_smm", "26.2.1.3", "entry to SMM / deactivate dual-monitor outside SMM");
}

static void check_event_injection(struct checker *c)
{
	uint32_t info = vmcs_read32(VMCS_ENTRY_INTR_INFO);
	if (!(info & INTR_INFO_VALID))
		return;
	unsigned type = INTR_INFO_TYPE(info), vec = INTR_INFO_VECTOR(info);
	if (type == 1 || (info & 0x7FFFF000))
		fail(c, "ctl.event_reserved", "26.2.1.3", "interruption info 0x%08x: reserved type or bits", info);
	if (type == INTR_TYPE_NMI && vec != 2)
		fail(c, "ctl.event_nmi_vector", "26.2.1.3", "NMI with vector %u", vec);
	if (type == INTR_TYPE_HW_EXCEPTION && vec > 31)
		fail(c, "ctl.event_exception_vector", "26.2.1.3", "hardware exception vector %u > 31", vec);
	if (info & INTR_INFO_DELIVER_CODE) {
		int code_vec = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21;
		if (type != INTR_TYPE_HW_EXCEPTION || !code_vec || !(vmcs_readnat(VMCS_GUEST_CR0) & CR0_PE))
			fail(c, "ctl.event_error_code", "26.2.1.3", "error code delivered for type %u vector %u", type, vec);
	}
	/* Length 1-15, or 0 when IA32_VMX_MISC bit 30 allows it. */
	uint32_t len = vmcs_read32(VMCS_ENTRY_INSTR_LEN);
	if ((type == INTR_TYPE_SW_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION || type == INTR_TYPE_SW_EXCEPTION) &&
	    (len > 15 || (len == 0 && !(c->caps->misc & BIT(30)))))
		fail(c, "ctl.event_instr_len", "26.2.1.3", "software event with instruction length %u", len);
}

static void check_host(struct checker *c)
{
	const struct vmx_caps *k = c->caps;
	uint64_t cr0 = vmcs_readnat(VMCS_HOST_CR0), cr4 = vmcs_readnat(VMCS_HOST_CR4);
	uint64_t cr3 = vmcs_readnat(VMCS_HOST_CR3);
	static const struct {
		uint32_t field;
		const char *name;
	} sels[] = {
		{ VMCS_HOST_ES_SEL, "ES" }, { VMCS_HOST_CS_SEL, "CS" }, { VMCS_HOST_SS_SEL, "SS" },
		{ VMCS_HOST_DS_SEL, "DS" }, { VMCS_HOST_FS_SEL, "FS" }, { VMCS_HOST_GS_SEL, "GS" },
		{ VMCS_HOST_TR_SEL, "TR" },
	};

	if ((cr0 & k->cr0_fixed0) != k->cr0_fixed0 || (cr0 & ~k->cr0_fixed1))
		fail(c, "host.cr0_fixed", "26.2.2", "host CR0 0x%llx against fixed0 0x%llx fixed1 0x%llx",
		     (unsigned long long)cr0, (unsigned long long)k->cr0_fixed0, (unsigned long long)k->cr0_fixed1);
	if ((cr4 & k->cr4_fixed0) != k->cr4_fixed0 || (cr4 & ~k->cr4_fixed1))
		fail(c, "host.cr4_fixed", "26.2.2", "host CR4 0x%llx against fixed0 0x%llx fixed1 0x%llx",
		     (unsigned long long)cr4, (unsigned long long)k->cr4_fixed0, (unsigned long long)k->cr4_fixed1);
	if (cr3 >> k->max_phys_bits)
		fail(c, "host.cr3_width", "26.2.2", "host CR3 0x%llx beyond the physical-address width",
		     (unsigned long long)cr3);
	for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		uint16_t sel = (uint16_t)vmcs_read_raw(sels[i].field); /* all 16-bit host-state fields */
		if (sel & 7)
			fail(c, "host.selector_rpl_ti", "26.2.3", "host %s selector 0x%x has RPL or TI set", sels[i].name,
			     sel);
	}
	if (vmcs_read16(VMCS_HOST_CS_SEL) == 0)
		fail(c, "host.cs_null", "26.2.3", "host CS selector is 0");
	if (vmcs_read16(VMCS_HOST_TR_SEL) == 0)
		fail(c, "host.tr_null", "26.2.3", "host TR selector is 0");
	if ((vmcs_read32(VMCS_EXIT_CONTROLS) & EXIT_HOST_ADDR_SPACE_SIZE) && !(cr4 & CR4_PAE))
		fail(c, "host.pae", "26.2.3", "64-bit host without CR4.PAE");
	uint64_t bases[] = { vmcs_readnat(VMCS_HOST_FS_BASE), vmcs_readnat(VMCS_HOST_GS_BASE),
			     vmcs_readnat(VMCS_HOST_TR_BASE), vmcs_readnat(VMCS_HOST_GDTR_BASE),
			     vmcs_readnat(VMCS_HOST_IDTR_BASE), vmcs_readnat(VMCS_HOST_RIP) };
	for (unsigned i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
		if (!canonical(bases[i]))
			fail(c, "host.canonical", "26.2.3", "host base/RIP 0x%llx is not canonical", (unsigned long long)bases[i]);
}

/* The usable-segment rules for CS, SS, DS, ES, FS, GS (SDM 26.3.1.2), as keel launches them. */
static void check_data_segment(struct checker *c, const char *name, uint32_t ar)
{
	if (ar & AR_UNUSABLE)
		return;
	if (!(ar & AR_S) || !(ar & AR_P) || !(AR_TYPE(ar) & AR_TYPE_ACCESSED) || (ar & 0xFFFE0F00))
		fail(c, "guest.segment_ar", "26.3.1.2", "%s access rights 0x%x: need S=1, P=1, accessed, reserved 0",
		     name, ar);
}

static void check_guest(struct checker *c)
{
	const struct vmx_caps *k = c->caps;
	uint32_t proc2 = (vmcs_read32(VMCS_PROC_CONTROLS) & PROC_SECONDARY_CONTROLS) ? vmcs_read32(VMCS_PROC2_CONTROLS) : 0;
	int unrestricted = !!(proc2 & PROC2_UNRESTRICTED_GUEST);
	int ia32e = !!(vmcs_read32(VMCS_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
	uint64_t cr0 = vmcs_readnat(VMCS_GUEST_CR0), cr4 = vmcs_readnat(VMCS_GUEST_CR4);
	uint64_t fixed0 = k->cr0_fixed0 & (unrestricted ? ~(CR0_PE | CR0_PG) : ~0ULL);
	uint64_t efer = guest_efer(), rflags = vmcs_readnat(VMCS_GUEST_RFLAGS);

	if ((cr0 & fixed0) != fixed0 || (cr0 & ~k->cr0_fixed1))
		fail(c, "guest.cr0_fixed", "26.3.1.1", "guest CR0 0x%llx against the VMX fixed bits", (unsigned long long)cr0);
	if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
		fail(c, "guest.cr0_pg_pe", "26.3.1.1", "guest CR0.PG without PE");
	if ((cr4 & k->cr4_fixed0) != k->cr4_fixed0 || (cr4 & ~k->cr4_fixed1))
		fail(c, "guest.cr4_fixed", "26.3.1.1", "guest CR4 0x%llx against the VMX fixed bits (VMXE must be 1)",
		     (unsigned long long)cr4);
	if (ia32e && (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE)))
		fail(c, "guest.ia32e_paging", "26.3.1.1", "IA-32e guest without CR0.PG and CR4.PAE");
	/* EFER from the entry MSR-load list (guest_msrs.h): VM entry first sets LME and LMA to the
	 * IA-32e mode guest control, then the list's WRMSR would change LME under paging: #GP, a
	 * failed entry (SDM Vol. 3C 26.3.2.1, 26.4; Vol. 3A 9.8.5). */
	if (guest_msrs_listed && (cr0 & CR0_PG) && !!(efer & EFER_LME) != ia32e)
		fail(c, "guest.efer_list_lme", "26.4", "EFER 0x%llx in the MSR-load list vs IA-32e mode guest %d with CR0.PG",
		     (unsigned long long)efer, ia32e);
	if (vmcs_read32(VMCS_ENTRY_CONTROLS) & ENTRY_LOAD_EFER) {
		if (!!(efer & EFER_LMA) != ia32e || ((cr0 & CR0_PG) && !!(efer & EFER_LME) != !!(efer & EFER_LMA)))
			fail(c, "guest.efer_lma", "26.3.1.1", "EFER 0x%llx vs IA-32e mode guest %d", (unsigned long long)efer,
			     ia32e);
	}
	if (!(rflags & RFLAGS_FIXED1) || (rflags & 0xFFFFFFFFFFC08028ULL) || (ia32e && (rflags & RFLAGS_VM)))
		fail(c, "guest.rflags", "26.3.1.4", "RFLAGS 0x%llx: bit 1 clear, reserved bits or VM in IA-32e mode",
		     (unsigned long long)rflags);

	uint32_t cs = vmcs_read32(VMCS_GUEST_CS_AR);
	if (cs & AR_UNUSABLE)
		fail(c, "guest.cs_unusable", "26.3.1.2", "CS is unusable");
	else {
		unsigned t = AR_TYPE(cs);
		if (!((t == 9 || t == 11 || t == 13 || t == 15) || (unrestricted && t == 3)) || !(cs & AR_S) || !(cs & AR_P))
			fail(c, "guest.cs_ar", "26.3.1.2", "CS access rights 0x%x: need an accessed code type, S=1, P=1", cs);
		if (ia32e && (cs & AR_L) && (cs & AR_DB))
			fail(c, "guest.cs_l_db", "26.3.1.2", "CS with both L and D/B set");
	}
	check_data_segment(c, "SS", vmcs_read32(VMCS_GUEST_SS_AR));
	check_data_segment(c, "DS", vmcs_read32(VMCS_GUEST_DS_AR));
	check_data_segment(c, "ES", vmcs_read32(VMCS_GUEST_ES_AR));
	check_data_segment(c, "FS", vmcs_read32(VMCS_GUEST_FS_AR));
	check_data_segment(c, "GS", vmcs_read32(VMCS_GUEST_GS_AR));

	uint32_t tr = vmcs_read32(VMCS_GUEST_TR_AR);
	unsigned trt = AR_TYPE(tr);
	if ((tr & AR_UNUSABLE) || (vmcs_read16(VMCS_GUEST_TR_SEL) & 4) || (tr & AR_S) || !(tr & AR_P) ||
	    !(trt == AR_TYPE_BUSY_TSS64 || (!ia32e && trt == 3)))
		fail(c, "guest.tr", "26.3.1.2", "TR access rights 0x%x selector 0x%x: need a usable busy TSS, TI=0", tr,
		     vmcs_read16(VMCS_GUEST_TR_SEL));
	uint32_t ldtr = vmcs_read32(VMCS_GUEST_LDTR_AR);
	if (!(ldtr & AR_UNUSABLE) && ((vmcs_read16(VMCS_GUEST_LDTR_SEL) & 4) || AR_TYPE(ldtr) != 2 || (ldtr & AR_S) ||
				      !(ldtr & AR_P)))
		fail(c, "guest.ldtr", "26.3.1.2", "LDTR access rights 0x%x: a usable LDTR needs type 2, S=0, P=1", ldtr);

	if (vmcs_read64(VMCS_LINK_POINTER) != ~0ULL)
		fail(c, "guest.link_pointer", "26.3.1.5", "VMCS link pointer 0x%llx (must be all ones without shadowing)",
		     (unsigned long long)vmcs_read64(VMCS_LINK_POINTER));

	uint32_t act = vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
	if (act > ACTIVITY_WAIT_SIPI || (act && !(k->misc & BIT(5 + act))))
		fail(c, "guest.activity", "26.3.1.5", "activity state %u not supported", act);
	if ((intr & ~0x1FU) || ((intr & INTERRUPTIBILITY_STI) && (intr & INTERRUPTIBILITY_MOV_SS)) ||
	    (intr & INTERRUPTIBILITY_SMI) || ((intr & INTERRUPTIBILITY_STI) && !(rflags & RFLAGS_IF)))
		fail(c, "guest.interruptibility", "26.3.1.5",
		     "interruptibility 0x%x: reserved bits, STI with MOV-SS, SMI blocking outside SMM, or STI with IF=0",
		     intr);
	if (act != ACTIVITY_ACTIVE && (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)))
		fail(c, "guest.activity_blocking", "26.3.1.5",
		     "activity state %u with blocking by STI or MOV-SS (interruptibility 0x%x)", act, intr);

	uint32_t info = vmcs_read32(VMCS_ENTRY_INTR_INFO);
	if (!(info & INTR_INFO_VALID))
		return;
	unsigned type = INTR_INFO_TYPE(info), vec = INTR_INFO_VECTOR(info);
	/* Only events the activity state would let through may be injected into it. */
	int allowed = act == ACTIVITY_ACTIVE ||
		      (act == ACTIVITY_HLT && (type == INTR_TYPE_EXT_INTR || type == INTR_TYPE_NMI ||
					       (type == INTR_TYPE_HW_EXCEPTION && (vec == 1 || vec == 18)) ||
					       (type == INTR_TYPE_OTHER && vec == 0))) ||
		      (act == ACTIVITY_SHUTDOWN && (type == INTR_TYPE_NMI || (type == INTR_TYPE_HW_EXCEPTION && vec == 18)));
	if (!allowed)
		fail(c, "guest.activity_event", "26.3.1.5", "event type %u vector %u injected in activity state %u", type,
		     vec, act);
	if ((type == INTR_TYPE_EXT_INTR && (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))) ||
	    (type == INTR_TYPE_NMI && (intr & INTERRUPTIBILITY_MOV_SS)))
		fail(c, "guest.interruptibility_event", "26.3.1.5",
		     "event type %u injected under blocking by STI or MOV-SS (interruptibility 0x%x)", type, intr);
	if (type == INTR_TYPE_NMI && (intr & INTERRUPTIBILITY_NMI) && (vmcs_read32(VMCS_PIN_CONTROLS) & PIN_VIRTUAL_NMIS))
		fail(c, "guest.nmi_blocking_event", "26.3.1.5", "NMI injected under virtual-NMI blocking");
}

unsigned vmcheck_run(const struct vmx_caps *caps, vmcheck_report_fn report, void *ctx)
{
	struct checker c = { caps, report, ctx, 0 };
	check_controls(&c);
	check_event_injection(&c);
	check_host(&c);
	check_guest(&c);
	return c.broken;
}
