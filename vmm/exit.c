/* The VM-exit dispatcher: one table of handlers by basic exit reason, the per-exit bookkeeping, and
 * what happens to exits nobody handles. VMX root, interrupts off, one exit at a time per CPU. */
#include "exit.h"

#include <stddef.h>

#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "events.h"
#include "host.h"
#include "cpuid.h"
#include "emulate.h"
#include "handlers.h"
#include "host.h"
#include "hypercall.h"
#include "io.h"
#include "rip.h"
#include "shadow_exit.h"
#include "task.h"
#include "vmcs.h"
#include "vmm.h"
#include "vmx.h"

/*
 * Handler contract: called in VMX root with the exit decoded into *e and the guest GPRs in r
 * (write them to change the guest's). A handler either completes the instruction
 * (vcpu_skip_instruction), injects the fault hardware would raise (vcpu_inject_*), or stops the
 * vCPU. It never returns with the guest left to re-execute an instruction that exits again,
 * unless the state that caused the exit was changed (EPT remaps). An empty slot is
 * exit_unhandled: the report, then #UD.
 *
 * Every reason keel's controls can produce is here; the instruction-class files own the handlers.
 * Host unit tests replace slots to observe the dispatcher, so the table is writable there only.
 */
#ifdef KEEL_HOST_TEST
#define EXIT_TABLE_CONST
#else
#define EXIT_TABLE_CONST const
#endif
exit_handler_fn EXIT_TABLE_CONST exit_handlers[EXIT_REASON_COUNT] = {
	[EXIT_REASON_EXCEPTION_NMI] = exception_exit,
	[EXIT_REASON_TRIPLE_FAULT] = events_exit_triple_fault,
	[EXIT_REASON_INIT] = sipi_exit_init,
	[EXIT_REASON_SIPI] = sipi_exit_sipi,
	[EXIT_REASON_TASK_SWITCH] = task_switch_handle,
	[EXIT_REASON_CPUID] = cpuid_exit,
	[EXIT_REASON_HLT] = idle_exit_hlt,
	[EXIT_REASON_INVD] = insn_exit_invd,
	[EXIT_REASON_INVLPG] = shadow_exit_invlpg,
	[EXIT_REASON_RDPMC] = pmc_exit_rdpmc,
	[EXIT_REASON_RDTSC] = tsc_exit_rdtsc,
	[EXIT_REASON_VMCALL] = hypercall_handle,
	[EXIT_REASON_VMCLEAR] = insn_exit_vmx,
	[EXIT_REASON_VMLAUNCH] = insn_exit_vmx,
	[EXIT_REASON_VMPTRLD] = insn_exit_vmx,
	[EXIT_REASON_VMPTRST] = insn_exit_vmx,
	[EXIT_REASON_VMREAD] = insn_exit_vmx,
	[EXIT_REASON_VMRESUME] = insn_exit_vmx,
	[EXIT_REASON_VMWRITE] = insn_exit_vmx,
	[EXIT_REASON_VMXOFF] = insn_exit_vmx,
	[EXIT_REASON_VMXON] = insn_exit_vmx,
	[EXIT_REASON_CR_ACCESS] = cr_exit,
	[EXIT_REASON_DR_ACCESS] = dr_exit,
	[EXIT_REASON_IO_INSTRUCTION] = io_exit,
	[EXIT_REASON_MSR_READ] = msr_exit_read,
	[EXIT_REASON_MSR_WRITE] = msr_exit_write,
	[EXIT_REASON_MWAIT] = idle_exit_mwait,
	[EXIT_REASON_MONITOR] = idle_exit_monitor,
	[EXIT_REASON_PAUSE] = idle_exit_pause,
	[EXIT_REASON_GDTR_IDTR] = desc_exit_gdtr_idtr,
	[EXIT_REASON_LDTR_TR] = desc_exit_ldtr_tr,
	[EXIT_REASON_EPT_VIOLATION] = ept_exit_violation,
	[EXIT_REASON_EPT_MISCONFIG] = ept_exit_misconfig,
	[EXIT_REASON_INVEPT] = insn_exit_vmx,
	[EXIT_REASON_RDTSCP] = tsc_exit_rdtscp,
	[EXIT_REASON_PREEMPTION_TIMER] = events_exit_preemption_timer,
	[EXIT_REASON_INVVPID] = insn_exit_vmx,
	[EXIT_REASON_WBINVD] = cache_exit_wbinvd,
	[EXIT_REASON_XSETBV] = xsetbv_exit,
	[EXIT_REASON_INVPCID] = tlb_exit_invpcid,
	[EXIT_REASON_VMFUNC] = insn_exit_vmx,
};

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

static void exit_failed_entry(struct vcpu *v, uint32_t raw)
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

/* ---- the fast path ---- */

/*
 * The one condition that sends an exit to the slow path: v->fast is 0 while any per-exit work is
 * pending. Computed here after every slow exit; cleared from outside by vcpu_make_slow (NMI or #MC
 * in root, the seal, a device-mapping reclaim). The exit stub's CPUID path reads cpuid_fast_mask,
 * which is 0 whenever fast is.
 */
void exit_fast_refresh(struct vcpu *v)
{
	const struct vm *vm = v->vm;
	int fast = v->launched && !(vm->break_mask & VMM_BREAK_EXIT) && !v->nmi_pending && !v->mc_pending &&
		   v->sipi_vector < 0 && v->seen_seal == __atomic_load_n(&vm->sealed, __ATOMIC_ACQUIRE) &&
		   v->seen_dev_gen == vm->ept.dev_gen;
	v->fast = (uint32_t)fast;
	v->cpuid_fast_mask = fast ? v->cpuid_cached : 0;
}

/*
 * The common instruction exits, completed without the dispatcher when nothing is pending: CPUID
 * leaves the stub did not answer, RDMSR and WRMSR (IA32_FEATURE_CONTROL from its locked cache),
 * non-string I/O, the VMCALLs that touch no memory, and the trap= classes whose emulation is a
 * few instructions (PAUSE, RDTSC/RDTSCP, RDPMC, WBINVD, INVLPG under EPT). Each does exactly what
 * its slow handler does, through the same emulation function; anything else (a fault to inject,
 * a string instruction, a hypercall with memory) goes to the slow path untouched. Instruction
 * exits never happen during event delivery, so there is no IDT-vectoring information to look at.
 */
/*
 * The semantic half of the common exits: what the instruction does to the guest's registers and
 * devices. Returns EXIT_FAST_DONE when that is done (the stub then completes the instruction:
 * RIP, blocking, single-step, count, as vcpu_complete_instruction does), anything else to send the
 * exit to the slow path untouched. Done is 0 so that a fault-catching helper's own result (0, or
 * 1 for the #GP the CPU raised) can be returned as it is, without a frame.
 */

/* Kept out of line (reached by tail calls), so the other cases need no stack frame. */
static __attribute__((noinline)) int exit_fast_cpuid(struct vcpu *v, struct guest_regs *r)
{
	cpuid_answer(v, r); /* a leaf the stub does not cache */
	return EXIT_FAST_DONE;
}

/* RDMSR and WRMSR as their slow handlers do them (the MSRs keel virtualizes; under trap=msr every
 * MSR). A faulting one has changed nothing; the slow path repeats it and injects the #GP. */
static __attribute__((noinline)) int exit_fast_rdmsr(struct vcpu *v, struct guest_regs *r)
{
	uint64_t val;
	if (msr_read_emulate(v, (uint32_t)r->gpr[GPR_RCX], &val))
		return 1;
	r->gpr[GPR_RAX] = (uint32_t)val;
	r->gpr[GPR_RDX] = val >> 32;
	return EXIT_FAST_DONE;
}

static __attribute__((noinline)) int exit_fast_wrmsr(struct vcpu *v, struct guest_regs *r)
{
	uint32_t msr = (uint32_t)r->gpr[GPR_RCX];
	uint64_t val = (uint32_t)r->gpr[GPR_RAX] | (r->gpr[GPR_RDX] << 32);
	if (msr == MSR_IA32_MISC_ENABLE) /* the common one, without msr_write_emulate's other rules */
		return msr_misc_enable_emulate(val);
	return msr_write_emulate(v, msr, val);
}

/* Out of line too: with any of them inline the compiler gives the whole dispatch below a frame
 * (a VMREAD's failure report is a call), which every fast exit then pays. */
static __attribute__((noinline)) int exit_fast_invlpg(struct vcpu *v)
{
	if (v->shadow)
		return EXIT_FAST_SLOW; /* the shadow MMU's INVLPG, and the TLB work before entry */
	return tlb_invlpg_emulate(v, vmcs_readnat(VMCS_EXIT_QUALIFICATION));
}

/* OUTS (under trap=io): RSI is in the fast frame (FAST_FRAME_RSI). INS stays on the slow path: its port read comes before the memory access that may fault,
 * and the slow path would read the port a second time. A fault goes slow, which repeats the
 * element and injects; elements already moved stay moved, as in an interrupted REP. */
static __attribute__((noinline)) int exit_fast_outs(struct vcpu *v, struct guest_regs *r, uint64_t q)
{
	if (IOQ_IN(q))
		return EXIT_FAST_SLOW;
	switch (io_string(v, q, &r->gpr[GPR_RCX], &r->gpr[FAST_FRAME_RSI], 0)) {
	case IO_STRING_DONE:
		return EXIT_FAST_DONE;
	case IO_STRING_MORE:
		return EXIT_FAST_EVENT; /* resume without completing: the rest on the next exit */
	default:
		return EXIT_FAST_SLOW;
	}
}

/* SGDT/SIDT/LGDT/LIDT whose address registers are in the fast frame (or RSP, from the VMCS). */
static __attribute__((noinline)) int exit_fast_desc(struct vcpu *v, struct guest_regs *r)
{
	uint64_t q;
	uint32_t info;
	if (vmcs_read_or_fail(VMCS_EXIT_INSTR_INFO, &q))
		return EXIT_FAST_SLOW;
	info = (uint32_t)q;
	if ((!II_BASE_INVALID(info) && II_BASE(info) > GPR_RSP) ||
	    (!II_INDEX_INVALID(info) && II_INDEX(info) > GPR_RSP))
		return EXIT_FAST_SLOW;
	if (vmcs_read_or_fail(VMCS_EXIT_QUALIFICATION, &q))
		return EXIT_FAST_SLOW;
	return desc_gdtr_idtr_emulate(v, r, info, q, 0) ? EXIT_FAST_SLOW : EXIT_FAST_DONE;
}

/* The trap= classes whose emulation is a few instructions (a fault goes to the slow path, which
 * repeats the check and injects it). Out of line, apart from the common exits below, so that
 * their dispatch stays the small switch it was before these were added. */
static __attribute__((noinline)) int exit_fast_trap(struct vcpu *v, struct guest_regs *r, uint32_t raw)
{
	switch (raw) {
	case EXIT_REASON_PAUSE:
		return EXIT_FAST_DONE;
	case EXIT_REASON_RDTSC:
		return tsc_emulate(r, 0);
	case EXIT_REASON_RDTSCP:
		return tsc_emulate(r, 1);
	case EXIT_REASON_RDPMC:
		return pmc_emulate(r);
	case EXIT_REASON_WBINVD:
		return cache_wbinvd_emulate();
	case EXIT_REASON_INVLPG:
		return exit_fast_invlpg(v);
	case EXIT_REASON_EXCEPTION_NMI:
		return exception_fast(v);
	case EXIT_REASON_DR_ACCESS:
		return dr_fast(r);
	case EXIT_REASON_GDTR_IDTR:
		return exit_fast_desc(v, r);
	default:
		return EXIT_FAST_SLOW;
	}
}

/* Every case returns EXIT_FAST_DONE (0), EXIT_FAST_SLOW (1) or, for exceptions, EXIT_FAST_EVENT. */
static inline int exit_fast(struct vcpu *v, struct guest_regs *r, uint32_t raw)
{
	switch (raw) {
	case EXIT_REASON_CPUID:
		return exit_fast_cpuid(v, r);
	case EXIT_REASON_MSR_READ:
		if ((uint32_t)r->gpr[GPR_RCX] != MSR_IA32_FEATURE_CONTROL)
			return exit_fast_rdmsr(v, r);
		r->gpr[GPR_RAX] = (uint32_t)v->feature_control; /* locked: cached */
		r->gpr[GPR_RDX] = v->feature_control >> 32;
		return EXIT_FAST_DONE;
	case EXIT_REASON_MSR_WRITE:
		return exit_fast_wrmsr(v, r);
	case EXIT_REASON_IO_INSTRUCTION: {
		uint64_t q;
		if (vmcs_read_or_fail(VMCS_EXIT_QUALIFICATION, &q))
			return EXIT_FAST_SLOW;
		if (IOQ_STRING(q))
			return exit_fast_outs(v, r, q);
		io_single(r, q); /* keel's port, or any port under trap=io: io_exit does the same */
		return EXIT_FAST_DONE;
	}
	case EXIT_REASON_VMCALL:
		return hypercall_simple(v, r) ? EXIT_FAST_DONE : EXIT_FAST_SLOW;
	default:
		return exit_fast_trap(v, r, raw);
	}
}

static void exit_slow(struct guest_regs *r, struct vcpu *v, uint32_t raw)
{
	struct exit_info e;

	v->in_root = 1;
	v->regs = r;
	if (v->vm->break_mask & VMM_BREAK_EXIT)
		magic_break(); /* Bochs debugger: stop at every exit, before keel touches anything */
	if (raw == (EXIT_REASON_FAILED_ENTRY | EXIT_REASON_MCE_DURING_ENTRY) && v->launched) {
		/* A machine check during VM entry: the guest state was loaded and saved again; the
		 * event is the guest OS's to handle (SDM Vol. 3C 26.8). */
		v->exits[EXIT_REASON_MCE_DURING_ENTRY]++;
		v->mc_pending = 1;
		events_deliver_pending_mc(v);
		v->in_root = 0;
		exit_fast_refresh(v);
		return;
	}
	if (raw & EXIT_REASON_FAILED_ENTRY) {
		exit_failed_entry(v, raw);
		if (!v->launched)
			unwind_failed_launch(v);
		vcpu_stop(v, "VM entry failed");
	}
	v->launched = 1;
	/* Other CPUs drop keel's pages from their EPT caches at their first exit after the seal (and
	 * after another CPU reclaimed device mappings); until then they run only firmware code that
	 * never touched those pages through the guest. */
	int sealed = __atomic_load_n(&v->vm->sealed, __ATOMIC_ACQUIRE);
	unsigned dev_gen = v->vm->ept.dev_gen;
	if (v->seen_seal != sealed || v->seen_dev_gen != dev_gen) {
		vcpu_flush_ept(v);
		v->seen_seal = sealed;
		v->seen_dev_gen = dev_gen;
	}
	e.reason = EXIT_REASON_BASIC(raw);
	if (e.reason != EXIT_REASON_INIT)
		v->sipi_vector = -1;
	e.qualification = vmcs_readnat(VMCS_EXIT_QUALIFICATION);
	v->exits[e.reason < EXIT_REASON_COUNT ? e.reason : EXIT_REASON_COUNT]++;
	reinject_vectoring(vmcs_read32(VMCS_IDT_VECTORING_INFO));

	exit_handler_fn fn = e.reason < EXIT_REASON_COUNT ? exit_handlers[e.reason] : 0;
	(fn ? fn : exit_unhandled)(v, r, &e);
	if (v->mc_pending)
		events_deliver_pending_mc(v);
	if (v->nmi_pending)
		events_deliver_pending_nmi(v);
	if (v->shadow)
		shadow_before_entry(v); /* the TLB work the shadow MMU asked for (fast exits change no shadow) */
	v->in_root = 0;
	exit_fast_refresh(v);
}

/*
 * The exit stub's C entries. vmx_exit_fast comes first for every exit the stub's own CPUID path
 * did not complete; only RAX, RCX, RDX and RBX of *r are the guest's there (the stub saved no
 * more). EXIT_FAST_DONE (0): done, the stub completes the instruction and counts the exit;
 * EXIT_FAST_EVENT (2): an exception was reflected, the stub counts the exit and resumes without
 * completing an instruction; anything else: on to the full save and vmx_exit_handler. The stub calls vmx_exit_complete_wrapped when the RIP advance carries
 * across 4 GiB (the mode decides the wrap).
 */
int vmx_exit_fast(struct vcpu *v, struct guest_regs *r, uint32_t raw);
int vmx_exit_fast(struct vcpu *v, struct guest_regs *r, uint32_t raw)
{
	if (!v->fast)
		return 1;
	return exit_fast(v, r, raw);
}

void vmx_exit_complete_wrapped(void);
void vmx_exit_complete_wrapped(void) { vcpu_complete_instruction(); }

void vmx_exit_handler(struct guest_regs *r, struct vcpu *v);
void vmx_exit_handler(struct guest_regs *r, struct vcpu *v)
{
	exit_slow(r, v, vmcs_read32(VMCS_EXIT_REASON));
}

/* The layout the stub's CPUID path uses (arch/x86/vmx_entry.asm V_*). */
_Static_assert(offsetof(struct vcpu, cpuid_fast_mask) == 8, "V_CPUID_FAST_MASK");
_Static_assert(offsetof(struct vcpu, cpuid_cache) == 16, "V_CPUID_CACHE");
_Static_assert(sizeof(struct cpuid_regs) == 16, "V_CPUID_CACHE entries");
_Static_assert(offsetof(struct vcpu, exits) == 16 + 16 * CPUID_FAST_LEAVES, "V_EXITS");
_Static_assert(CPUID_FAST_LEAVES == 32 && EXIT_REASON_CPUID == 10, "vmx_entry.asm constants");
_Static_assert(EXIT_FAST_DONE == 0 && EXIT_FAST_SLOW == 1 && EXIT_FAST_EVENT == 2, "vmx_entry.asm EXIT_FAST_SLOW");
_Static_assert(GPR_RAX == 0 && GPR_RCX == 1 && GPR_RDX == 2 && GPR_RBX == 3, "the fast frame's first four");
_Static_assert(FAST_FRAME_SLOTS * 8 == 80, "vmx_entry.asm: the vcpu pointer at [rsp + 80] after the fast frame");

void vmx_resume_failed(struct vcpu *v);
void vmx_resume_failed(struct vcpu *v)
{
	vmx_report_failure("VMRESUME of VMCS", v->vmcs_pa, VMX_FAIL_VALID);
	vcpu_dump_guest(v, "VMRESUME failed");
	vcpu_stop(v, "VMRESUME failed");
}
