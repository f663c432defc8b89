/* The VM-exit dispatcher and the helpers every handler shares (RIP advance, event injection,
 * state dumps, guest memory reads). VMX root, interrupts off, one exit at a time per CPU. */
#include "exit.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "../lib/string.h"
#include "../mm/phys.h"
#include "host.h"
#include "vmcs.h"
#include "vmm.h"
#include "vmx.h"

struct vcpu *vcpu_current(void)
{
	struct cpuid_regs r;
	cpuid(1, 0, &r);
	uint32_t apic = r.ebx >> 24;
	for (unsigned i = 0; i < KEEL_MAX_CPUS; i++)
		if (keel_vm.vcpus[i] && keel_vm.vcpus[i]->apic_id == apic)
			return keel_vm.vcpus[i];
	return 0;
}

void vcpu_skip_instruction(struct vcpu *v)
{
	(void)v;
	uint64_t rip = vmcs_readnat(VMCS_GUEST_RIP) + vmcs_read32(VMCS_EXIT_INSTR_LEN);
	uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);

	/* Outside 64-bit mode EIP wraps at 4 GiB (only then are the mode fields worth reading). */
	if ((rip >> 32) && (!(vmcs_read64(VMCS_GUEST_EFER) & EFER_LMA) || !(vmcs_read32(VMCS_GUEST_CS_AR) & AR_L)))
		rip &= 0xFFFFFFFF;
	vmcs_writenat(VMCS_GUEST_RIP, rip);
	if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
		vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, intr & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
	/* A single-stepping guest expects #DB after the instruction keel completed for it: a pending
	 * single-step trap (DR6.BS, SDM 24.4.2 pending debug exceptions) delivers it on entry. */
	if (vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_TF)
		vmcs_writenat(VMCS_GUEST_PENDING_DBG, vmcs_readnat(VMCS_GUEST_PENDING_DBG) | BIT(14));
}

void vcpu_inject_exception(struct vcpu *v, unsigned vector, int has_error, uint32_t error)
{
	(void)v;
	uint32_t info = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | vector;
	/* Real mode pushes no error code, and VM entry refuses one there (SDM Vol. 3C 26.2.1.3). */
	if (has_error && (vmcs_readnat(VMCS_GUEST_CR0) & CR0_PE)) {
		info |= INTR_INFO_DELIVER_CODE;
		vmcs_write32(VMCS_ENTRY_EXCEPTION_ERROR, error);
	}
	vmcs_write32(VMCS_ENTRY_INTR_INFO, info);
}

unsigned vcpu_cpl(void) { return AR_DPL(vmcs_read32(VMCS_GUEST_SS_AR)); }

void vcpu_dump_guest(struct vcpu *v, const char *why)
{
#define SEG(n, S)                                                                                  \
	log_err("keel:   %s sel 0x%04x base 0x%llx limit 0x%x ar 0x%x", n, vmcs_read16(VMCS_GUEST_##S##_SEL), \
		(unsigned long long)vmcs_readnat(VMCS_GUEST_##S##_BASE), vmcs_read32(VMCS_GUEST_##S##_LIMIT), \
		vmcs_read32(VMCS_GUEST_##S##_AR))
	log_err("keel: guest state of cpu%u (%s):", v ? v->index : 0, why);
	log_err("keel:   RIP 0x%llx RSP 0x%llx RFLAGS 0x%llx", (unsigned long long)vmcs_readnat(VMCS_GUEST_RIP),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_RSP), (unsigned long long)vmcs_readnat(VMCS_GUEST_RFLAGS));
	log_err("keel:   CR0 0x%llx (shadow 0x%llx) CR3 0x%llx CR4 0x%llx (shadow 0x%llx) EFER 0x%llx",
		(unsigned long long)vmcs_readnat(VMCS_GUEST_CR0), (unsigned long long)vmcs_readnat(VMCS_CR0_SHADOW),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_CR3), (unsigned long long)vmcs_readnat(VMCS_GUEST_CR4),
		(unsigned long long)vmcs_readnat(VMCS_CR4_SHADOW), (unsigned long long)vmcs_read64(VMCS_GUEST_EFER));
	SEG("CS", CS);
	SEG("SS", SS);
	SEG("DS", DS);
	SEG("ES", ES);
	SEG("FS", FS);
	SEG("GS", GS);
	SEG("TR", TR);
	SEG("LDTR", LDTR);
	log_err("keel:   GDTR 0x%llx/0x%x IDTR 0x%llx/0x%x DR7 0x%llx PAT 0x%llx DEBUGCTL 0x%llx",
		(unsigned long long)vmcs_readnat(VMCS_GUEST_GDTR_BASE), vmcs_read32(VMCS_GUEST_GDTR_LIMIT),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_IDTR_BASE), vmcs_read32(VMCS_GUEST_IDTR_LIMIT),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_DR7), (unsigned long long)vmcs_read64(VMCS_GUEST_PAT),
		(unsigned long long)vmcs_read64(VMCS_GUEST_DEBUGCTL));
	log_err("keel:   interruptibility 0x%x activity %u pending-dbg 0x%llx link 0x%llx",
		vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), vmcs_read32(VMCS_GUEST_ACTIVITY_STATE),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_PENDING_DBG), (unsigned long long)vmcs_read64(VMCS_LINK_POINTER));
	log_err("keel:   controls pin 0x%x proc 0x%x proc2 0x%x exit 0x%x entry 0x%x entry-intr 0x%x",
		vmcs_read32(VMCS_PIN_CONTROLS), vmcs_read32(VMCS_PROC_CONTROLS), vmcs_read32(VMCS_PROC2_CONTROLS),
		vmcs_read32(VMCS_EXIT_CONTROLS), vmcs_read32(VMCS_ENTRY_CONTROLS), vmcs_read32(VMCS_ENTRY_INTR_INFO));
#undef SEG
}

void vcpu_stop(struct vcpu *v, const char *why)
{
	log_err("keel: cpu%u stopped: %s; this CPU stays parked in VMX root", v->index, why);
	v->stopped = 1;
	for (;;) {
		cli();
		hlt();
	}
}

/* ---- guest memory ---- */

#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_PS BIT(7)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL
#define PF_P BIT(0) /* #PF error code (SDM Vol. 3A 4.7): protection, not "not present" */
#define PF_W BIT(1)
#define PF_U BIT(2)

/* Guest-physical memory keel may read or write for the guest: inside the EPT map built at start
 * (RAM and the firmware's holes, never a device placed above it) and not keel's own. */
static int guest_phys_ok(uint64_t gpa, uint64_t len)
{
	const struct ept *e = &keel_vm.ept;
	return gpa < e->map_top && len <= e->map_top - gpa && !ept_is_hidden(e, gpa) &&
	       !ept_is_hidden(e, gpa + len - 1);
}

/* Reads one paging-structure entry of size bytes at gpa; -1 where keel will not read. */
static int guest_entry(uint64_t gpa, unsigned size, uint64_t *e)
{
	if (!guest_phys_ok(gpa, size))
		return -1;
	*e = size == 8 ? *(const uint64_t *)phys_ptr(gpa) : *(const uint32_t *)phys_ptr(gpa);
	return 0;
}

/*
 * Guest-virtual to guest-physical through the guest's page tables (identity without paging):
 * 4-level (IA-32e), PAE (its four PDPTEs from the VMCS, where VM exits save them with EPT on) or
 * 32-bit paging (4 MiB pages with CR4.PSE, PSE-36 address bits). The access, a data access at the
 * guest's CPL, is checked as the CPU checks it: present; writable (for supervisor writes only with
 * CR0.WP); user-accessible at CPL 3; and SMAP for supervisor accesses to user pages without
 * RFLAGS.AC. Guest-physical equals host-physical under keel's identity EPT. Returns 0,
 * GUEST_PAGE_FAULT with *pf_error, or GUEST_REFUSED (a table keel will not read: its own memory,
 * beyond the EPT map; 5-level paging, not walked).
 */
static int guest_translate(uint64_t gva, int write, uint64_t *gpa, uint32_t *pf_error)
{
	uint64_t cr0 = vmcs_readnat(VMCS_GUEST_CR0), cr4 = vmcs_readnat(VMCS_GUEST_CR4);
	if (!(cr0 & CR0_PG)) {
		*gpa = gva & 0xFFFFFFFF;
		return 0;
	}
	if (cr4 & CR4_LA57)
		return GUEST_REFUSED;
	int user = vcpu_cpl() == 3, lma = !!(vmcs_read64(VMCS_GUEST_EFER) & EFER_LMA);
	uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0);
	uint64_t allow = PTE_RW | PTE_US, table = vmcs_readnat(VMCS_GUEST_CR3), e;
	unsigned size = 8, bits = 9; /* entry size and index bits per level */
	int level = 3;
	if (!lma) {
		gva &= 0xFFFFFFFF;
		level = 1;
		if (cr4 & CR4_PAE) {
			/* PDPTE registers: no R/W or U/S bits of their own */
			e = vmcs_read_raw(VMCS_GUEST_PDPTE0 + 2 * ((gva >> 30) & 3)); /* 64-bit fields, 2 apart */
			if (!(e & PTE_P)) {
				*pf_error = err;
				return GUEST_PAGE_FAULT;
			}
			table = e;
		} else {
			size = 4;
			bits = 10;
		}
	}
	for (table &= PTE_ADDR & (size == 4 ? 0xFFFFF000 : ~0ULL);; table = e & PTE_ADDR) {
		unsigned shift = 12 + bits * (unsigned)level;
		if (guest_entry(table + ((gva >> shift) & ((1u << bits) - 1)) * size, size, &e))
			return GUEST_REFUSED;
		if (!(e & PTE_P)) {
			*pf_error = err;
			return GUEST_PAGE_FAULT;
		}
		allow &= e; /* R/W and U/S hold only when every level grants them */
		int large = level > 0 && level < 3 && (e & PTE_PS) && (size == 8 || (cr4 & CR4_PSE));
		if (level > 0 && !large) {
			level--;
			continue;
		}
		int smap = (cr4 & CR4_SMAP) && !(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_AC);
		if ((user && !(allow & PTE_US)) || (!user && (allow & PTE_US) && smap) ||
		    (write && !(allow & PTE_RW) && (user || (cr0 & CR0_WP)))) {
			*pf_error = err | PF_P;
			return GUEST_PAGE_FAULT;
		}
		uint64_t page = 1ULL << shift, base = e & PTE_ADDR & ~(page - 1);
		if (size == 4) /* 32-bit entries: bits 31:12 (31:22 for 4 MiB pages, PSE-36 bits 20:13) */
			base = large ? (e & 0xFFC00000) | ((e >> 13) & 0xFF) << 32 : e & 0xFFFFF000;
		*gpa = base | (gva & (page - 1));
		return 0;
	}
}

int vcpu_copy_guest(struct vcpu *v, struct guest_tlb *tlb, uint64_t gva, void *buf, size_t len, int write,
		    struct guest_fault *pf)
{
	(void)v;
	uint8_t *p = buf;
	while (len) {
		uint64_t gpa, page = gva & ~0xFFFULL;
		size_t chunk = 4096 - (gva & 4095);
		if (chunk > len)
			chunk = len;
		if (tlb && tlb->valid && tlb->gva_page == page && tlb->write == write) {
			gpa = tlb->gpa_page | (gva & 0xFFF);
		} else {
			uint32_t err = 0;
			int rc = guest_translate(gva, write, &gpa, &err);
			if (rc == GUEST_PAGE_FAULT && pf)
				*pf = (struct guest_fault){ gva, err };
			if (rc)
				return rc;
			if (!guest_phys_ok(gpa, chunk))
				return GUEST_REFUSED;
			if (tlb && guest_phys_ok(gpa & ~0xFFFULL, 4096))
				*tlb = (struct guest_tlb){ page, gpa & ~0xFFFULL, write, 1 };
		}
		if (write)
			memcpy(phys_ptr(gpa), p, chunk);
		else
			memcpy(p, phys_ptr(gpa), chunk);
		p += chunk;
		gva += chunk;
		len -= chunk;
	}
	return 0;
}

int vcpu_read_guest(struct vcpu *v, uint64_t gva, void *buf, size_t len)
{
	return vcpu_copy_guest(v, 0, gva, buf, len, 0, 0) ? -1 : 0;
}

void vcpu_inject_page_fault(struct vcpu *v, const struct guest_fault *pf)
{
	/* CR2 is not switched by VM entry or exit: what root leaves in it, the guest sees. */
	write_cr2(pf->addr);
	vcpu_inject_exception(v, VEC_PF, 1, pf->error);
}

/* ---- dispatch ---- */

/*
 * Handler contract: called in VMX root with the exit decoded into *e and the guest GPRs in r
 * (write them to change the guest's). A handler either completes the instruction
 * (vcpu_skip_instruction), injects the fault hardware would raise (vcpu_inject_*), or stops the
 * vCPU. It never returns with the guest left to re-execute an instruction that exits again,
 * unless the state that caused the exit was changed (EPT remaps).
 */
static exit_handler_fn handlers[EXIT_REASON_COUNT];

void exit_register(unsigned reason, exit_handler_fn fn)
{
	if (reason < EXIT_REASON_COUNT)
		handlers[reason] = fn;
}

static const char *const reason_names[EXIT_REASON_COUNT] = {
	[EXIT_REASON_EXCEPTION_NMI] = "exception or NMI", [EXIT_REASON_EXTERNAL_INTERRUPT] = "external interrupt",
	[EXIT_REASON_TRIPLE_FAULT] = "triple fault", [EXIT_REASON_INIT] = "INIT", [EXIT_REASON_SIPI] = "SIPI",
	[EXIT_REASON_INTERRUPT_WINDOW] = "interrupt window", [EXIT_REASON_TASK_SWITCH] = "task switch",
	[EXIT_REASON_CPUID] = "CPUID", [EXIT_REASON_GETSEC] = "GETSEC", [EXIT_REASON_HLT] = "HLT",
	[EXIT_REASON_INVD] = "INVD", [EXIT_REASON_INVLPG] = "INVLPG", [EXIT_REASON_RDPMC] = "RDPMC",
	[EXIT_REASON_RDTSC] = "RDTSC", [EXIT_REASON_RSM] = "RSM", [EXIT_REASON_VMCALL] = "VMCALL",
	[EXIT_REASON_VMCLEAR] = "VMCLEAR", [EXIT_REASON_VMLAUNCH] = "VMLAUNCH", [EXIT_REASON_VMPTRLD] = "VMPTRLD",
	[EXIT_REASON_VMPTRST] = "VMPTRST", [EXIT_REASON_VMREAD] = "VMREAD", [EXIT_REASON_VMRESUME] = "VMRESUME",
	[EXIT_REASON_VMWRITE] = "VMWRITE", [EXIT_REASON_VMXOFF] = "VMXOFF", [EXIT_REASON_VMXON] = "VMXON",
	[EXIT_REASON_CR_ACCESS] = "CR access", [EXIT_REASON_DR_ACCESS] = "DR access",
	[EXIT_REASON_IO_INSTRUCTION] = "I/O instruction", [EXIT_REASON_MSR_READ] = "RDMSR",
	[EXIT_REASON_MSR_WRITE] = "WRMSR", [EXIT_REASON_INVALID_GUEST_STATE] = "invalid guest state",
	[EXIT_REASON_MSR_LOADING] = "MSR loading", [EXIT_REASON_MWAIT] = "MWAIT",
	[EXIT_REASON_MONITOR_TRAP_FLAG] = "monitor trap flag", [EXIT_REASON_MONITOR] = "MONITOR",
	[EXIT_REASON_PAUSE] = "PAUSE", [EXIT_REASON_MCE_DURING_ENTRY] = "machine check during entry",
	[EXIT_REASON_GDTR_IDTR] = "GDTR/IDTR access", [EXIT_REASON_LDTR_TR] = "LDTR/TR access",
	[EXIT_REASON_EPT_VIOLATION] = "EPT violation", [EXIT_REASON_EPT_MISCONFIG] = "EPT misconfiguration",
	[EXIT_REASON_INVEPT] = "INVEPT", [EXIT_REASON_RDTSCP] = "RDTSCP",
	[EXIT_REASON_PREEMPTION_TIMER] = "preemption timer", [EXIT_REASON_INVVPID] = "INVVPID",
	[EXIT_REASON_WBINVD] = "WBINVD", [EXIT_REASON_XSETBV] = "XSETBV", [EXIT_REASON_RDRAND] = "RDRAND",
	[EXIT_REASON_INVPCID] = "INVPCID", [EXIT_REASON_VMFUNC] = "VMFUNC", [EXIT_REASON_RDSEED] = "RDSEED",
	[EXIT_REASON_XSAVES] = "XSAVES", [EXIT_REASON_XRSTORS] = "XRSTORS",
};

const char *exit_reason_name(unsigned reason)
{
	if (reason < EXIT_REASON_COUNT && reason_names[reason])
		return reason_names[reason];
	return "unknown";
}

void exit_unhandled(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	log_err("keel: unhandled VM exit %u (%s), qualification 0x%llx, at RIP 0x%llx", e->reason,
		exit_reason_name(e->reason), (unsigned long long)e->qualification,
		(unsigned long long)vmcs_readnat(VMCS_GUEST_RIP));
	vcpu_dump_guest(v, "unhandled exit");
	if (e->reason == EXIT_REASON_INVALID_GUEST_STATE || e->reason == EXIT_REASON_MSR_LOADING)
		vcpu_stop(v, "cannot continue this guest");
	/* An instruction keel does not emulate: what a CPU without it would do. */
	vcpu_inject_ud(v);
}

/* An exit that happened while the CPU delivered an event: deliver it again (SDM 27.2.4). */
static void reinject_vectoring(uint32_t idt_info)
{
	if (!(idt_info & INTR_INFO_VALID))
		return;
	unsigned type = INTR_INFO_TYPE(idt_info);
	if (idt_info & INTR_INFO_DELIVER_CODE)
		vmcs_write32(VMCS_ENTRY_EXCEPTION_ERROR, vmcs_read32(VMCS_IDT_VECTORING_ERROR));
	if (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION || type == INTR_TYPE_SW_EXCEPTION)
		vmcs_write32(VMCS_ENTRY_INSTR_LEN, vmcs_read32(VMCS_EXIT_INSTR_LEN));
	vmcs_write32(VMCS_ENTRY_INTR_INFO, idt_info & ~INTR_INFO_NMI_UNBLOCK_IRET);
}

/*
 * An NMI that hit keel in VMX root (vmm/host.c) is injected as soon as the guest could take one:
 * no other event queued, no blocking by NMI, STI or MOV-SS, active state (SDM Vol. 3C 26.3.1.5).
 * Otherwise the preemption timer brings the CPU back shortly to try again (keel uses no NMI
 * exiting, hence no NMI-window exiting). An NMI arriving after this check arms the timer itself.
 */
#define NMI_RETRY_TICKS 1024 /* timer ticks (TSC >> rate): the guest makes progress in between */

static void deliver_pending_nmi(struct vcpu *v)
{
	uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
	if ((vmcs_read32(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID) ||
	    (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS | INTERRUPTIBILITY_NMI)) ||
	    vmcs_read32(VMCS_GUEST_ACTIVITY_STATE) != ACTIVITY_ACTIVE) {
		vmx_nmi_timer_arm(v, NMI_RETRY_TICKS); /* without a timer: at the next exit */
		return;
	}
	v->nmi_pending = 0;
	vmcs_write32(VMCS_ENTRY_INTR_INFO, INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | VEC_NMI);
	if (v->nmi_timer)
		vmx_nmi_timer_disarm(v); /* delivered at an earlier exit than the timer's */
}

static void failed_entry(struct vcpu *v, uint32_t raw)
{
	unsigned basic = EXIT_REASON_BASIC(raw);
	log_err("keel: VM entry failed on cpu%u: exit reason 0x%x (%s), qualification 0x%llx", v->index, raw,
		exit_reason_name(basic), (unsigned long long)vmcs_readnat(VMCS_EXIT_QUALIFICATION));
	vcpu_dump_guest(v, "failed VM entry");
	if (vmx_entry_check_hook)
		vmx_entry_check_hook(v);
}

void (*vmx_entry_check_hook)(struct vcpu *v);

static void unwind_failed_launch(struct vcpu *v)
{
	struct unwind_ctx ctx;
	ctx.gdtr_base = vmcs_readnat(VMCS_GUEST_GDTR_BASE);
	ctx.gdtr_limit = (uint16_t)vmcs_read32(VMCS_GUEST_GDTR_LIMIT);
	ctx.idtr_base = vmcs_readnat(VMCS_GUEST_IDTR_BASE);
	ctx.idtr_limit = (uint16_t)vmcs_read32(VMCS_GUEST_IDTR_LIMIT);
	ctx.cr3 = vmcs_readnat(VMCS_GUEST_CR3);
	ctx.rsp = vmcs_readnat(VMCS_GUEST_RSP);
	ctx.rflags = vmcs_readnat(VMCS_GUEST_RFLAGS);
	ctx.fs_base = vmcs_readnat(VMCS_GUEST_FS_BASE);
	ctx.gs_base = vmcs_readnat(VMCS_GUEST_GS_BASE);
	ctx.cs = vmcs_read16(VMCS_GUEST_CS_SEL);
	ctx.ss = vmcs_read16(VMCS_GUEST_SS_SEL);
	ctx.ds = vmcs_read16(VMCS_GUEST_DS_SEL);
	ctx.es = vmcs_read16(VMCS_GUEST_ES_SEL);
	ctx.fs = vmcs_read16(VMCS_GUEST_FS_SEL);
	ctx.gs = vmcs_read16(VMCS_GUEST_GS_SEL);
	v->launch_failed = 1;
	v->in_root = 0;
	vmclear(v->vmcs_pa);
	vmx_disable();
	vmx_launch_unwind(&ctx);
}

void vmx_exit_handler(struct guest_regs *r, struct vcpu *v);
void vmx_exit_handler(struct guest_regs *r, struct vcpu *v)
{
	struct exit_info e;
	uint32_t raw = vmcs_read32(VMCS_EXIT_REASON);

	v->in_root = 1;
	v->regs = r;
	if (v->vm->break_mask & VMM_BREAK_EXIT)
		magic_break(); /* Bochs debugger: stop at every exit, before keel touches anything */
	if (raw & EXIT_REASON_FAILED_ENTRY) {
		failed_entry(v, raw);
		if (!v->launched)
			unwind_failed_launch(v);
		vcpu_stop(v, "VM entry failed");
	}
	v->launched = 1;
	/* Other CPUs drop keel's pages from their EPT caches at their first exit after the seal; until
	 * then they run only firmware code that never touched those pages through the guest. */
	if (!v->seen_seal && __atomic_load_n(&v->vm->sealed, __ATOMIC_ACQUIRE)) {
		invept(INVEPT_SINGLE_CONTEXT, v->vm->eptp);
		v->seen_seal = 1;
	}
	e.reason = EXIT_REASON_BASIC(raw);
	if (e.reason != EXIT_REASON_INIT)
		v->sipi_vector = -1;
	e.qualification = vmcs_readnat(VMCS_EXIT_QUALIFICATION);
	v->exits_total++;
	if (e.reason < EXIT_REASON_COUNT)
		v->exits[e.reason]++;
	reinject_vectoring(vmcs_read32(VMCS_IDT_VECTORING_INFO));

	exit_handler_fn fn = e.reason < EXIT_REASON_COUNT ? handlers[e.reason] : 0;
	(fn ? fn : exit_unhandled)(v, r, &e);
	if (v->nmi_pending)
		deliver_pending_nmi(v);
	v->in_root = 0;
}

void vmx_resume_failed(struct vcpu *v);
void vmx_resume_failed(struct vcpu *v)
{
	vmx_report_failure("VMRESUME of VMCS", v->vmcs_pa, VMX_FAIL_VALID);
	vcpu_dump_guest(v, "VMRESUME failed");
	vcpu_stop(v, "VMRESUME failed");
}
