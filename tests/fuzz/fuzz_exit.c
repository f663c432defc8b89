/* libFuzzer harness for keel's VM-exit path: the real dispatcher (vmm/exit.c) and handlers
 * (vmm/handlers.c, hypercall.c, sipi.c) on an array-backed VMCS. Host only: clang
 * -fsanitize=fuzzer,address,undefined with KEEL_HOST_FAKES (arch/x86/cpu_fakes.h, mm/phys.h).
 *
 * One input is one VM exit. The harness decodes it into a guest (capability set, CPU mode, flags,
 * GPRs, guest memory) and an exit the CPU could deliver for that guest under keel's controls and
 * bitmaps (exits the CPU could not produce are skipped, not fed to keel). It then runs the exit
 * and checks the oracle:
 *  - nothing crashes or aborts (ASan and UBSan report it otherwise);
 *  - keel touches no memory outside the guest's: guest-physical memory is a 128 KiB buffer, keel's
 *    own ("hidden") pages in it are PROT_NONE and a 1 GiB PROT_NONE guard follows it;
 *  - after the exit, vmm/vmcheck.c finds nothing wrong with the VMCS (the next VM entry works);
 *  - an instruction exit either completed the instruction (RIP moved by its length) or injected
 *    a fault (RIP unchanged), never both nor neither;
 *  - a vCPU stops only for a triple fault or a failed VM entry; INVEPT/INVVPID get valid operands;
 *    an injected #PF comes with CR2 set; a pending NMI never goes into the guest's NMI handler.
 *
 * Input layout (missing bytes read as zero): see struct input and decode() below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../arch/x86/cr.h"
#include "../../arch/x86/ept.h"
#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../lib/log.h"
#include "../../mm/ept.h"
#include "../../mm/phys.h"
#include "../../mm/pool.h"
#include "../../mm/shadow.h"
#include "../../vmm/events.h"
#include "../../vmm/exit.h"
#include "../../vmm/host.h"
#include "../../vmm/hypercall.h"
#include "../../vmm/vmcheck.h"
#include "../../vmm/vmcs.h"
#include "../../vmm/trap.h"
#include "../../vmm/rip.h"
#include "../../vmm/shadow_exit.h"
#include "../../vmm/vmx.h"
#include "../unit/caps_data.h"
#include "../unit/cpu_fakes.h"
#include "../unit/exit_stub.h"
#include "../unit/host_pages.h"
#include "../unit/vmcs_valid.h"

void vmx_exit_handler(struct guest_regs *r, struct vcpu *v);
int vmx_exit_fast(struct vcpu *v, struct guest_regs *r, uint32_t raw);

/* ---- findings ---- */

static char last_log[8][200];
static unsigned nlog;

static void bug(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bug(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "fuzz_exit: FINDING: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nfuzz_exit: keel's last log lines:\n");
	for (unsigned i = nlog > 8 ? nlog - 8 : 0; i < nlog; i++)
		fprintf(stderr, "  %s", last_log[i % 8]);
	abort();
}

/* keel's last log line names mmu=shadow's refusal (real mode, paging off in long mode) or a
 * triple fault the shadow MMU's #PF reflection found: the stops shadow mode allows itself. */
static int shadow_stop_allowed(void)
{
	const char *last = nlog ? last_log[(nlog - 1) % 8] : "";
	return keel_vm.shadow && (strstr(last, "mmu=shadow") || strstr(last, "triple-faulted"));
}

static void log_sink(const char *s, size_t n)
{
	char *line = last_log[nlog++ % 8];
	if (n >= sizeof(last_log[0]))
		n = sizeof(last_log[0]) - 1;
	memcpy(line, s, n);
	line[n] = 0;
}

/* ---- guest-physical memory ---- */

#define RAM_SIZE 0x20000ULL /* 128 KiB of guest RAM at guest-physical 0 */
#define GUARD_SIZE (1ULL << 30)
#define HIDDEN_BASE 0x10000ULL /* keel's image and pool, as the EPT hides them */
#define HIDDEN_SIZE 0x4000ULL
#define PML4_GPA 0x1000ULL /* the guest's page tables (64-bit modes) */
#define PDPT_GPA 0x2000ULL
#define PD_GPA 0x3000ULL
#define PT_GPA 0x4000ULL
#define PD32_GPA 0x5000ULL /* 32-bit paging: one page directory of 4 MiB pages */
#define PDPT_PAE_GPA 0x6000ULL /* PAE paging: CR3 (the VMCS holds the four PDPTEs) */
#define PD_PAE_GPA 0x7000ULL /* PAE paging: the page directory of PDPTE 0, then PT_GPA */
#define HIGH_GVA 0xFFFF800000000000ULL /* a kernel's direct map: also maps guest-physical 0 */

uintptr_t phys_host_base;

static uint8_t *ram(uint64_t gpa) { return (uint8_t *)phys_ptr(gpa); }
static int hidden(uint64_t gpa) { return gpa >= HIDDEN_BASE && gpa < HIDDEN_BASE + HIDDEN_SIZE; }

static void ram_clear(void)
{
	memset(ram(0), 0, HIDDEN_BASE);
	memset(ram(HIDDEN_BASE + HIDDEN_SIZE), 0, RAM_SIZE - HIDDEN_BASE - HIDDEN_SIZE);
}

/* ---- fakes: keel's assembly helpers and the privileged instructions (cpu_fakes.h) ---- */

struct vm keel_vm;
static struct vcpu cpu0;
#define SHADOW_FUZZ_POOL (1 + SHADOW_VCPU_PAGES)
static uint8_t *shadow_pool;
static struct guest_regs regs;
static jmp_buf stop_env;
static int in_exit;
static unsigned msr_exists; /* input: which MSRs outside keel's trapped set the fake CPU has */
static uint8_t bitmaps[3][4096] __attribute__((aligned(4096))), ones[4096] __attribute__((aligned(4096))),
	sink[4096] __attribute__((aligned(4096)));

/* A fake MSR file: an MSR exists when its index hashes into msr_exists; writes fault on
 * non-canonical values of the base MSRs, as hardware does, and otherwise go nowhere. */
static int msr_present(uint32_t msr) { return (msr_exists >> ((msr * 2654435761u) >> 27)) & 1; }

int safe_rdmsr(uint32_t msr, uint64_t *value)
{
	*value = msr_present(msr) ? 0x0123456789ABCDEFull ^ msr : 0xBADBADBADBADBADBull;
	return !msr_present(msr);
}

int safe_wrmsr(uint32_t msr, uint64_t value)
{
	(void)value;
	if (msr == MSR_EFER || msr == MSR_FS_BASE || msr == MSR_GS_BASE || msr == MSR_IA32_PAT ||
	    msr == MSR_IA32_DEBUGCTL)
		bug("keel wrote MSR 0x%x natively: that is host state the VMCS switches", msr);
	return !msr_present(msr);
}

int safe_xsetbv(uint32_t index, uint64_t value)
{
	(void)value;
	return index != 0; /* keel validated the value; XCR0 is the only XCR */
}

void vmx_launch_unwind(struct unwind_ctx *ctx)
{
	(void)ctx;
	bug("failed-launch unwind after the vCPU had launched");
}

/* The fake CPU's hooks (tests/unit/cpu_fakes.c). keel may touch exactly the ports the guest's
 * trapped IN/OUT named, with its operand size (the guest reaches untrapped ports directly
 * anyway); nothing else, in no other exit. */
static unsigned io_port = ~0u, io_size;

static void fake_halt(void)
{
	if (!in_exit)
		bug("HLT outside an exit");
	longjmp(stop_env, 1); /* vcpu_stop parks the CPU: the exit ends here */
}

static void fake_unexpected(const char *insn) { bug("%s executed in an exit handler", insn); }

static void port_check(uint16_t port, unsigned size)
{
	if (port != io_port || size != io_size)
		bug("keel accessed port 0x%x (size %u); the guest's access was port 0x%x size %u", port, size,
		    io_port, io_size);
}

static uint32_t fake_port_in(uint16_t port, unsigned size)
{
	port_check(port, size);
	return 0xE9E9E9E9u;
}

static void fake_port_out(uint16_t port, unsigned size, uint32_t value)
{
	(void)value;
	port_check(port, size);
}

static void fake_invalidate(const char *insn, uint64_t type, uint64_t operand)
{
	int ept = insn[3] == 'E';
	/* trap=invlpg/invpcid: individual-address INVVPID where the CPU offers it */
	int vpid_type_ok = type == INVVPID_SINGLE_CONTEXT ||
			   (type == INVVPID_INDIVIDUAL_ADDR && (keel_vm.caps.ept_vpid & VPID_CAP_INDIVIDUAL_ADDR));
	if (ept ? type != INVEPT_SINGLE_CONTEXT || operand != keel_vm.eptp
		: !vpid_type_ok || operand == 0 || operand != cpu0.vpid)
		bug("%s type %llu with operand 0x%llx (keel's EPTP 0x%llx, VPID %u)", insn, (unsigned long long)type,
		    (unsigned long long)operand, (unsigned long long)keel_vm.eptp, cpu0.vpid);
}

/* ---- the input ---- */

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct reader *r, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes && r->n; i++, r->p++, r->n--)
		v |= (uint64_t)*r->p << (8 * i);
	return v;
}

enum mode { M_LONG0, M_LONG3, M_COMPAT, M_PROT32, M_PAGED32, M_PAE, M_REAL, M_WAIT_SIPI, M_COUNT };
static const char *const mode_names[M_COUNT] = { "64-bit CPL0", "64-bit CPL3", "compatibility", "32-bit flat",
						 "32-bit paged", "PAE paged", "real", "wait-for-SIPI" };

/* Exits keel can meet: the ones every guest can cause, and the ones keel's controls enable
 * (proc/proc2 bit; 0 = unconditional). */
struct exit_kind {
	unsigned reason;
	uint32_t proc, proc2;
};
static const struct exit_kind kinds[] = {
	{ EXIT_REASON_CPUID, 0, 0 },          { EXIT_REASON_MSR_READ, 0, 0 },
	{ EXIT_REASON_MSR_WRITE, 0, 0 },      { EXIT_REASON_CR_ACCESS, 0, 0 },
	{ EXIT_REASON_IO_INSTRUCTION, 0, 0 }, { EXIT_REASON_VMCALL, 0, 0 },
	{ EXIT_REASON_XSETBV, 0, 0 },         { EXIT_REASON_INVD, 0, 0 },
	{ EXIT_REASON_GETSEC, 0, 0 },         { EXIT_REASON_TASK_SWITCH, 0, 0 },
	{ EXIT_REASON_TRIPLE_FAULT, 0, 0 },   { EXIT_REASON_INIT, 0, 0 },
	{ EXIT_REASON_SIPI, 0, 0 },           { EXIT_REASON_EPT_VIOLATION, 0, 0 },
	{ EXIT_REASON_VMCLEAR, 0, 0 },        { EXIT_REASON_VMLAUNCH, 0, 0 },
	{ EXIT_REASON_VMPTRLD, 0, 0 },        { EXIT_REASON_VMPTRST, 0, 0 },
	{ EXIT_REASON_VMREAD, 0, 0 },         { EXIT_REASON_VMRESUME, 0, 0 },
	{ EXIT_REASON_VMWRITE, 0, 0 },        { EXIT_REASON_VMXOFF, 0, 0 },
	{ EXIT_REASON_VMXON, 0, 0 },          { EXIT_REASON_INVEPT, 0, 0 },
	{ EXIT_REASON_INVVPID, 0, 0 },        { EXIT_REASON_VMFUNC, 0, 0 },
	{ EXIT_REASON_PREEMPTION_TIMER, 0, 0 },
	{ EXIT_REASON_HLT, PROC_HLT_EXITING, 0 },
	{ EXIT_REASON_INVLPG, PROC_INVLPG_EXITING, 0 },
	{ EXIT_REASON_MWAIT, PROC_MWAIT_EXITING, 0 },
	{ EXIT_REASON_RDPMC, PROC_RDPMC_EXITING, 0 },
	{ EXIT_REASON_RDTSC, PROC_RDTSC_EXITING, 0 },
	{ EXIT_REASON_DR_ACCESS, PROC_MOV_DR_EXITING, 0 },
	{ EXIT_REASON_MONITOR, PROC_MONITOR_EXITING, 0 },
	{ EXIT_REASON_PAUSE, PROC_PAUSE_EXITING, 0 },
	{ EXIT_REASON_GDTR_IDTR, 0, PROC2_DESC_TABLE_EXITING },
	{ EXIT_REASON_LDTR_TR, 0, PROC2_DESC_TABLE_EXITING },
	{ EXIT_REASON_WBINVD, 0, PROC2_WBINVD_EXITING },
	{ EXIT_REASON_RDRAND, 0, PROC2_RDRAND_EXITING },
	{ EXIT_REASON_RDSEED, 0, PROC2_RDSEED_EXITING },
	/* trap=: RDTSCP exits with RDTSC exiting and enable RDTSCP, INVPCID with INVLPG exiting and
	 * enable INVPCID (SDM 25.1.3); exceptions through the exception bitmap (see possible()) */
	{ EXIT_REASON_RDTSCP, PROC_RDTSC_EXITING, PROC2_ENABLE_RDTSCP },
	{ EXIT_REASON_INVPCID, PROC_INVLPG_EXITING, PROC2_ENABLE_INVPCID },
	{ EXIT_REASON_EXCEPTION_NMI, 0, 0 },
	/* VM-entry failures (bit 31): only keel's own VMCS can cause them */
	{ EXIT_REASON_FAILED_ENTRY | EXIT_REASON_INVALID_GUEST_STATE, 0, 0 },
	{ EXIT_REASON_FAILED_ENTRY | EXIT_REASON_MSR_LOADING, 0, 0 },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Exits caused by executing an instruction: keel completes it or faults it. */
static int instruction_exit(unsigned reason)
{
	switch (reason) {
	case EXIT_REASON_TRIPLE_FAULT: case EXIT_REASON_INIT: case EXIT_REASON_SIPI:
	case EXIT_REASON_TASK_SWITCH: case EXIT_REASON_EPT_VIOLATION: case EXIT_REASON_PREEMPTION_TIMER:
	case EXIT_REASON_EXCEPTION_NMI: /* reflected, or the vectored event queued again */
		return 0;
	default:
		return !(reason & EXIT_REASON_FAILED_ENTRY);
	}
}

/* ---- statistics, printed at exit ---- */

static unsigned long long n_inputs, n_skipped, n_run, n_stopped, n_injected, per_reason[EXIT_REASON_COUNT];
static unsigned long long per_mode[M_COUNT], n_shadow, n_shadow_pf;

static void print_stats(void)
{
	fprintf(stderr, "fuzz_exit: %llu inputs: %llu exits run (%llu injected a fault, %llu stopped the vCPU), %llu not possible on hardware\n",
		n_inputs, n_run, n_injected, n_stopped, n_skipped);
	fprintf(stderr, "fuzz_exit: exits by reason:");
	for (unsigned i = 0; i < EXIT_REASON_COUNT; i++)
		if (per_reason[i])
			fprintf(stderr, " %s=%llu", exit_reason_name(i), per_reason[i]);
	fprintf(stderr, "\nfuzz_exit: exits by guest mode:");
	for (unsigned i = 0; i < M_COUNT; i++)
		fprintf(stderr, " %s=%llu", mode_names[i], per_mode[i]);
	fprintf(stderr, "\n");
	fprintf(stderr, "fuzz_exit: under mmu=shadow: %llu exits (%llu of them exceptions, #PF unless trap=all)\n", n_shadow,
		n_shadow_pf);
}

/* ---- the guest ---- */

static const struct vmx_caps *const cap_sets[] = { &caps_bochs_skylake_x, &caps_intel_i7_7800x };

static void seg(uint32_t sel_f, uint16_t sel, uint32_t ar)
{
	/* selector, base, limit and access-rights encodings are the same distance apart per segment */
	vmcs_write_raw(sel_f, sel);
	vmcs_write_raw(sel_f - VMCS_GUEST_ES_SEL + VMCS_GUEST_ES_AR, ar);
	vmcs_write_raw(sel_f - VMCS_GUEST_ES_SEL + VMCS_GUEST_ES_LIMIT, 0xFFFFFFFF);
	vmcs_write_raw(sel_f - VMCS_GUEST_ES_SEL + VMCS_GUEST_ES_BASE, 0);
}

static void flat_segments(uint32_t code_ar, uint32_t data_ar, unsigned rpl)
{
	seg(VMCS_GUEST_CS_SEL, (uint16_t)(0x38 | rpl), code_ar);
	static const uint32_t data[] = { VMCS_GUEST_SS_SEL, VMCS_GUEST_DS_SEL, VMCS_GUEST_ES_SEL,
					 VMCS_GUEST_FS_SEL, VMCS_GUEST_GS_SEL };
	for (unsigned i = 0; i < 5; i++)
		seg(data[i], (uint16_t)(0x30 | rpl), data_ar);
}

/* The guest's page tables: GVA [0, 2 MiB) and HIGH_GVA + [0, 2 MiB) map guest-physical [0, 2 MiB)
 * with 4 KiB pages (the upper half lies beyond the RAM), in 4-level and in 32-bit form. */
static void page_tables(void)
{
	uint64_t *pml4 = (uint64_t *)ram(PML4_GPA), *pdpt = (uint64_t *)ram(PDPT_GPA);
	uint64_t *pd = (uint64_t *)ram(PD_GPA), *pt = (uint64_t *)ram(PT_GPA);
	pml4[0] = pml4[(HIGH_GVA >> 39) & 511] = PDPT_GPA | 7;
	pdpt[0] = PD_GPA | 7;
	pd[0] = PT_GPA | 7;
	for (unsigned i = 0; i < 512; i++)
		pt[i] = ((uint64_t)i << 12) | 7;
	uint32_t *pd32 = (uint32_t *)ram(PD32_GPA);
	pd32[0] = 0x87; /* a 4 MiB page at 0 with CR4.PSE; without it, a page table at 0 */
	uint64_t *pd_pae = (uint64_t *)ram(PD_PAE_GPA);
	pd_pae[0] = PT_GPA | 7;
}

struct input {
	unsigned caps, mode, sealed, stats, sipi_echo, long_rep, nmi_pending, trap_minimal, shadow, unpaged_ept;
	uint64_t rflags_bits, intr, cr4_bits;
	unsigned kind;
	uint64_t qual, gpa;
	unsigned len;
	uint32_t instr_info, vectoring;
	uint64_t rip, rsp;
};

static void decode(struct reader *rd, struct input *in)
{
	uint8_t f = (uint8_t)take(rd, 1);
	in->caps = f & 1;
	in->mode = ((f >> 1) & 7) % M_COUNT;
	in->sealed = (f >> 4) & 1;
	in->stats = (f >> 5) & 1;
	in->sipi_echo = (f >> 6) & 1;
	in->nmi_pending = f >> 7; /* an NMI arrived while keel ran (vmm/host.c) */
	uint8_t g = (uint8_t)take(rd, 1);
	in->rflags_bits = (g & 1 ? RFLAGS_TF : 0) | (g & 2 ? RFLAGS_DF : 0) | (g & 4 ? RFLAGS_IF : 0);
	in->intr = (g & 8 ? INTERRUPTIBILITY_STI : 0) | (g & 16 ? INTERRUPTIBILITY_MOV_SS : 0) |
		   (g & 128 ? INTERRUPTIBILITY_NMI : 0);
	in->long_rep = ((g >> 5) & 3) == 3; /* rare: a 4096-element REP costs as much as 100 other exits */
	in->cr4_bits = take(rd, 4);
	in->trap_minimal = (unsigned)(in->cr4_bits >> 31); /* else trap=all: every class keel can trap */
	in->shadow = (unsigned)(in->cr4_bits >> 30) & 1;   /* mmu=shadow: EPT and unrestricted guest off */
	/* ... except while the guest does not page, where the CPU has them (vm->unpaged_ept) */
	in->unpaged_ept = in->shadow && ((in->cr4_bits >> 29) & 1);
	in->kind = (unsigned)(take(rd, 1) % NKINDS);
	in->qual = take(rd, 8);
	if (kinds[in->kind].reason == EXIT_REASON_IO_INSTRUCTION && !(in->qual & BIT(6))) {
		/* mostly the trapped port, as the I/O bitmap makes it: 0xE9 or an access spanning it */
		in->qual = (in->qual & 0x3B) | ((uint64_t)(KEEL_TRAPPED_PORT - ((in->qual >> 16) & 3)) << 16);
	}
	in->gpa = take(rd, 8);
	in->len = 1 + (unsigned)(take(rd, 1) % 15);
	in->instr_info = (uint32_t)take(rd, 4);
	in->vectoring = (uint32_t)take(rd, 4);
	in->rip = take(rd, 8);
	in->rsp = take(rd, 8);
	msr_exists = (unsigned)take(rd, 4);
	for (unsigned i = 0; i < 16; i++)
		regs.gpr[i] = take(rd, 8);
	if (!in->long_rep)
		regs.gpr[GPR_RCX] &= 0x1F; /* REP counts past keel's 4096-element batch only when asked */
}

/* What the rest of the input writes into guest RAM: (offset, length, bytes) records, never into
 * keel's hidden pages (the guest cannot write those either). */
static void patch_ram(struct reader *rd)
{
	while (rd->n > 3) {
		uint64_t off = take(rd, 3) % RAM_SIZE;
		unsigned len = (unsigned)take(rd, 1);
		for (unsigned i = 0; i < len && rd->n && off + i < RAM_SIZE; i++) {
			uint8_t b = (uint8_t)take(rd, 1);
			if (!hidden(off + i))
				*ram(off + i) = b;
		}
	}
}

static struct ept ept_saved;
static int ept_cached = -1; /* capability set ept_saved was built for, -1: none */

static int checker_failed;
static void checker_report(void *ctx, const char *rule, const char *sdm, const char *detail)
{
	(void)ctx;
	fprintf(stderr, "fuzz_exit:   rule %s (SDM %s): %s\n", rule, sdm, detail);
	checker_failed = 1;
}

static void entry_check_hook(struct vcpu *v)
{
	(void)v;
	vmcheck_run(&keel_vm.caps, NULL, NULL); /* the failed-entry report path runs; its result is keel's to print */
}

/* Builds keel's VM and the guest for this input. Returns 0 when the guest's state is one a VM
 * entry accepts (the CPU can only exit from such a state). */
static int build(const struct input *in)
{
	const struct vmx_caps *c = cap_sets[in->caps];
	if (vmcs_valid_build(&keel_vm, c))
		bug("recorded capability set %u cannot run keel", in->caps);
	if (!in->trap_minimal) {
		/* trap=all: the controls, exception bitmap and bitmaps as vmx.c sets them */
		keel_vm.trap = TRAP_ALL;
		if (vmx_compute_controls(&keel_vm))
			bug("recorded capability set %u cannot run keel with trap=all", in->caps);
		vmcs_write32(VMCS_PROC_CONTROLS, keel_vm.proc);
		vmcs_write32(VMCS_PROC2_CONTROLS, keel_vm.proc2);
	}
	if (in->shadow) {
		/* mmu=shadow: the controls as vmx.c computes them for it */
		keel_vm.shadow = 1;
		keel_vm.unpaged_ept = in->unpaged_ept && !vmx_caps_ept_unavailable_reason(c);
		keel_vm.trap = in->trap_minimal ? TRAP_MINIMAL : TRAP_ALL;
		if (vmx_compute_controls(&keel_vm))
			bug("recorded capability set %u cannot run keel with mmu=shadow", in->caps);
		vmcs_write32(VMCS_PROC_CONTROLS, keel_vm.proc);
		vmcs_write32(VMCS_PROC2_CONTROLS, keel_vm.proc2);
	}
	vmcs_write32(VMCS_EXCEPTION_BITMAP, keel_vm.exception_bitmap);

	memset(bitmaps, 0, sizeof(bitmaps));
	keel_vm.msr_bitmap = bitmaps[0];
	keel_vm.io_bitmap = bitmaps[1];
	vmx_traps_init(&keel_vm);
	keel_vm.ones_page = ones;
	keel_vm.sink_page = sink;
	keel_vm.mem_base = HIDDEN_BASE;
	keel_vm.mem_size = HIDDEN_SIZE;
	keel_vm.ncpus = keel_vm.nvirt = 1;
	keel_vm.vcpus[0] = &cpu0;

	/* The EPT is rebuilt only when the last exit changed it (an EPT violation maps pages). */
	struct ept *e = &keel_vm.ept;
	if (ept_cached != (int)in->caps) {
		host_pages_reset(NULL);
		memset(e, 0, sizeof(*e));
		e->map_top = RAM_SIZE;
		e->use_2m = vmx_caps_has_ept_2m(c);
		e->use_1g = vmx_caps_has_ept_1g(c);
		e->alloc_page = host_page_alloc;
		e->mtrr = &keel_vm.mtrr;
		ept_hide(e, HIDDEN_BASE, HIDDEN_SIZE);
		if (ept_build(e))
			bug("ept_build failed for a 128 KiB guest");
		ept_saved = *e;
		ept_cached = (int)in->caps;
	}
	*e = ept_saved;
	ept_set_hidden_present(e, !in->sealed);
	keel_vm.sealed = in->sealed;
	keel_vm.eptp = ept_pointer(e);
	if (in->stats && ((vmx_caps_pinbased(c) >> 32) & PIN_PREEMPTION_TIMER)) {
		keel_vm.stats_ticks = 1000000;
		vmcs_write32(VMCS_PIN_CONTROLS, keel_vm.pin | PIN_PREEMPTION_TIMER);
		vmcs_write32(VMCS_PREEMPTION_TIMER, 0);
	}

	memset(&cpu0, 0, sizeof(cpu0));
	cpu0.vm = &keel_vm;
	cpu0.vpid = (keel_vm.proc2 & PROC2_ENABLE_VPID) ? 1 : 0;
	vmcs_write16(VMCS_VPID, cpu0.vpid);
	cpu0.launched = 1;
	cpu0.seen_seal = in->sealed;
	cpu0.sipi_vector = -1;
	cpu0.nmi_pending = (int)in->nmi_pending;
	if (in->nmi_pending && in->stats == 0)
		events_nmi_timer_arm(&cpu0, 0); /* as vmm/host.c does for an NMI late in the last exit */
	cpu0.cr0_fixed0 = c->cr0_fixed0;
	cpu0.cr0_fixed1 = c->cr0_fixed1;
	cpu0.cr4_fixed0 = c->cr4_fixed0;
	cpu0.cr4_fixed1 = c->cr4_fixed1;

	vmx_write_cr_masks(&cpu0); /* CR0/CR4 ownership as keel sets it; the shadows follow below */

	ram_clear();
	page_tables();
	uint64_t cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG, cr3 = PML4_GPA;
	uint64_t cr4 = CR4_PAE | (in->cr4_bits & (CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE | CR4_PCIDE |
						   CR4_SMEP | CR4_FSGSBASE | CR4_TSD | CR4_DE | CR4_PSE));
	uint64_t efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE, rip = in->rip, rsp = in->rsp;
	uint32_t entry = keel_vm.entry_ctls | ENTRY_IA32E_MODE_GUEST;
	switch (in->mode) {
	case M_LONG0:
	case M_LONG3:
		rip = (uint64_t)((int64_t)(rip << 16) >> 16); /* canonical, or no entry would accept it */
		flat_segments(in->mode == M_LONG3 ? 0xA0FB : 0xA09B, in->mode == M_LONG3 ? 0xC0F3 : 0xC093,
			      in->mode == M_LONG3 ? 3 : 0);
		break;
	case M_COMPAT:
		flat_segments(0xC09B, 0xC093, 0);
		rip &= 0xFFFFFFFF;
		break;
	case M_PAGED32:
	case M_PROT32:
	case M_PAE:
		efer = 0;
		entry &= ~ENTRY_IA32E_MODE_GUEST;
		cr4 &= ~(CR4_PAE | CR4_PCIDE);
		cr3 = PD32_GPA;
		if (in->mode == M_PROT32)
			cr0 &= ~CR0_PG;
		if (in->mode == M_PAE) {
			cr4 |= CR4_PAE;
			cr3 = PDPT_PAE_GPA;
			vmcs_write64(VMCS_GUEST_PDPTE0, PD_PAE_GPA | 1);
		}
		flat_segments(0xC09B, 0xC093, 0);
		rip &= 0xFFFFFFFF;
		break;
	default:
		break;
	}
	if (!(efer & EFER_LMA))
		cr4 &= ~CR4_PCIDE;
	vmcs_writenat(VMCS_CR0_SHADOW, cr0);
	vmcs_writenat(VMCS_GUEST_CR0, (cr0 | c->cr0_fixed0) & c->cr0_fixed1);
	vmcs_writenat(VMCS_CR4_SHADOW, cr4);
	vmcs_writenat(VMCS_GUEST_CR4, (cr4 | c->cr4_fixed0 | CR4_VMXE) & c->cr4_fixed1);
	vmcs_writenat(VMCS_GUEST_CR3, cr3);
	vmcs_write64(VMCS_GUEST_EFER, efer);
	vmcs_write32(VMCS_ENTRY_CONTROLS, entry);
	vmcs_writenat(VMCS_GUEST_RIP, rip);
	vmcs_writenat(VMCS_GUEST_RSP, rsp);
	uint64_t rflags = RFLAGS_FIXED1 | (in->rflags_bits & (RFLAGS_TF | RFLAGS_DF | RFLAGS_IF));
	vmcs_writenat(VMCS_GUEST_RFLAGS, rflags);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, (uint32_t)in->intr);

	if (in->mode == M_REAL || in->mode == M_WAIT_SIPI) {
		/* keel's own code for an AP's start state (vmm/sipi.c) */
		vcpu_start_at_sipi_vector(&cpu0, (unsigned)(in->rip & 0xFF));
		if (in->mode == M_REAL) {
			vmcs_writenat(VMCS_GUEST_RIP, in->rip & 0xFFFF);
			vmcs_writenat(VMCS_GUEST_RSP, in->rsp & 0xFFFF);
			vmcs_writenat(VMCS_GUEST_RFLAGS, rflags);
		} else {
			vcpu_reset_to_wait_for_sipi(&cpu0);
		}
	}
	if (in->shadow) {
		/* keel's launch in shadow mode: a fresh pool, the firmware's CR3 becomes the guest's own,
		 * the real CR0/CR3/CR4 shadow paging's (no real mode: the checker refuses those inputs) */
		pool_init((uint64_t)(uintptr_t)shadow_pool, SHADOW_FUZZ_POOL);
		if (shadow_vcpu_init(&cpu0))
			bug("shadow_vcpu_init failed on a fresh pool");
		vmx_write_cr_masks(&cpu0);
		if (keel_vm.unpaged_ept && (in->mode == M_REAL || in->mode == M_WAIT_SIPI)) {
			/* the start state keel wrote above, on the EPT as keel's INIT handler leaves it */
			cpu0.guest_cr3 = 0;
			shadow_paging_update(&cpu0);
		} else {
			vmcs_writenat(VMCS_CR0_SHADOW, cr0);
			vmcs_writenat(VMCS_CR4_SHADOW, cr4);
		}
		if (in->mode != M_REAL && in->mode != M_WAIT_SIPI)
			shadow_vcpu_launch_state(&cpu0); /* M_PROT32 with unpaged_ept: onto the EPT */
		cpu0.shadow_seen_seal = 0; /* a sealed input hides keel's pages at the first entry */
	}
	if (in->sipi_echo) {
		/* an AP SIPI just started, for the Bochs 2.7 INIT-echo path */
		cpu0.sipi_vector = (int)(in->rip & 0xFF);
	}
	checker_failed = 0;
	return vmcheck_run(c, NULL, NULL) == 0;
}

/* Whether the CPU delivers this exit for this guest under keel's controls and bitmaps. */
static int possible(const struct input *in, unsigned reason)
{
	const struct exit_kind *k = &kinds[in->kind];
	int waiting = vmcs_read32(VMCS_GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_SIPI;

	if ((k->proc && !(keel_vm.proc & k->proc)) || (k->proc2 && !(keel_vm.proc2 & k->proc2)))
		return 0;
	if (waiting) /* wait-for-SIPI: only INIT and SIPI are recognized */
		return reason == EXIT_REASON_INIT || reason == EXIT_REASON_SIPI;
	if (instruction_exit(reason)) {
		/* The whole instruction was fetched: in 64-bit mode its last byte is canonical, in real
		 * mode it ends within the 64 KiB code segment (else #GP before it ran). */
		uint64_t last = vmcs_readnat(VMCS_GUEST_RIP) + in->len - 1;
		if (in->mode == M_LONG0 || in->mode == M_LONG3)
			if ((uint64_t)((int64_t)(last << 16) >> 16) != last)
				return 0;
		if (in->mode == M_REAL && last > 0xFFFF)
			return 0;
	}
	switch (reason) {
	case EXIT_REASON_SIPI:
		return 0;
	case EXIT_REASON_PREEMPTION_TIMER:
		return !!(vmcs_read32(VMCS_PIN_CONTROLS) & PIN_PREEMPTION_TIMER);
	case EXIT_REASON_MSR_READ:
	case EXIT_REASON_MSR_WRITE: {
		/* SDM 25.1.3: outside the two bitmap ranges every RDMSR/WRMSR exits */
		uint32_t msr = (uint32_t)regs.gpr[GPR_RCX], off;
		if (msr <= 0x1FFF)
			off = 0;
		else if (msr >= 0xC0000000 && msr <= 0xC0001FFF)
			off = 0x400;
		else
			return 1;
		off += reason == EXIT_REASON_MSR_WRITE ? 0x800 : 0;
		return (keel_vm.msr_bitmap[off + (msr & 0x1FFF) / 8] >> (msr % 8)) & 1;
	}
	case EXIT_REASON_IO_INSTRUCTION: {
		/* SDM 25.1.3: exits when any byte's bit is set, or the access wraps past 0xFFFF */
		uint64_t q = in->qual;
		unsigned size = IOQ_SIZE(q), port = IOQ_PORT(q);
		if ((q & 7) == 2 || (q & 7) > 3 || (IOQ_REP(q) && !IOQ_STRING(q)) || (q >> 32) || (q & 0xFFC0) ||
		    (IOQ_STRING(q) && ((in->instr_info >> 7) & 7) > 2))
			return 0; /* encodings the CPU never writes */
		if (port + size > 0x10000)
			return 1;
		for (unsigned p = port; p < port + size; p++)
			if ((keel_vm.io_bitmap[p / 8] >> (p % 8)) & 1)
				return 1;
		return 0;
	}
	case EXIT_REASON_EXCEPTION_NMI:
		return keel_vm.exception_bitmap != 0;
	case EXIT_REASON_CR_ACCESS: {
		unsigned cr = CRQ_CR(in->qual), type = CRQ_TYPE(in->qual);
		if (cr == 8) /* 64-bit mode only, else #UD first */
			return (in->mode == M_LONG0 || in->mode == M_LONG3) &&
			       ((type == CRQ_TYPE_MOV_TO && (keel_vm.proc & PROC_CR8_LOAD_EXITING)) ||
				(type == CRQ_TYPE_MOV_FROM && (keel_vm.proc & PROC_CR8_STORE_EXITING)));
		if (cr == 0)
			return type != CRQ_TYPE_MOV_FROM; /* reads of CR0/CR4 see the shadow, no exit */
		if (cr == 4)
			return type == CRQ_TYPE_MOV_TO;
		if (cr == 3)
			return (type == CRQ_TYPE_MOV_TO && (keel_vm.proc & PROC_CR3_LOAD_EXITING)) ||
			       (type == CRQ_TYPE_MOV_FROM && (keel_vm.proc & PROC_CR3_STORE_EXITING));
		return 0;
	}
	case EXIT_REASON_EPT_VIOLATION: {
		if (keel_vm.shadow)
			return 0; /* EPT is off */
		/* only where keel's EPT forbids the access */
		uint64_t gpa = in->gpa & ((1ULL << keel_vm.caps.max_phys_bits) - 1);
		unsigned want = (unsigned)(in->qual & 7);
		int level;
		if (!want)
			return 0;
		uint64_t *leaf = ept_lookup(&keel_vm.ept, gpa, &level);
		return !leaf || (~*leaf & want & 7);
	}
	default:
		return 1;
	}
}

/* ---- one input ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	uint8_t *base = mmap(NULL, RAM_SIZE + GUARD_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED || mprotect(base, HIDDEN_BASE, PROT_READ | PROT_WRITE) ||
	    mprotect(base + HIDDEN_BASE + HIDDEN_SIZE, RAM_SIZE - HIDDEN_BASE - HIDDEN_SIZE, PROT_READ | PROT_WRITE)) {
		perror("fuzz_exit: mapping guest memory");
		exit(1);
	}
	phys_host_base = (uintptr_t)base;
	/* mmu=shadow's pool: the shadow MMU uses its table addresses as physical (below 4 GiB) */
	shadow_pool = mmap(NULL, SHADOW_FUZZ_POOL * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
			   -1, 0);
	if (shadow_pool == MAP_FAILED) {
		perror("fuzz_exit: mapping the shadow pool");
		exit(1);
	}
	memset(ones, 0xFF, sizeof(ones));
	cpu_fake_hooks = (struct cpu_fake_hooks){ fake_halt, fake_unexpected, fake_port_in, fake_port_out,
						 fake_invalidate };
	log_add_output(log_sink);
	log_set_level(LOG_DEBUG);

	vmx_entry_check_hook = entry_check_hook;
	atexit(print_stats);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader rd = { data, size };
	struct input in;

	n_inputs++;
	decode(&rd, &in);
	int valid = build(&in);
	patch_ram(&rd);
	unsigned raw = kinds[in.kind].reason, reason = raw & 0xFFFF;
	if (!valid || !possible(&in, reason)) {
		n_skipped++;
		return -1; /* not an exit hardware would deliver: keep it out of the corpus */
	}

	/* the exit-information fields the CPU writes */
	vmcs_write32(VMCS_EXIT_REASON, raw);
	vmcs_writenat(VMCS_EXIT_QUALIFICATION, in.qual);
	vmcs_write32(VMCS_EXIT_INSTR_LEN, in.len);
	vmcs_write32(VMCS_EXIT_INSTR_INFO, in.instr_info);
	if (reason == EXIT_REASON_EXCEPTION_NMI) {
		/* an exception the bitmap traps: vector, type and error code as the CPU reports them */
		unsigned vector = in.instr_info & 31, type = INTR_TYPE_HW_EXCEPTION;
		int pe = !!(vmcs_readnat(VMCS_GUEST_CR0) & CR0_PE);
		if (vector == VEC_NMI)
			vector = VEC_GP;
		if (!(keel_vm.exception_bitmap & (1u << vector)))
			vector = VEC_PF; /* mmu=shadow with trap=minimal: #PF is the one vector that exits */
		if ((vector == VEC_BP || vector == VEC_OF) && (in.instr_info & 0x20))
			type = INTR_TYPE_SW_EXCEPTION;
		else if (vector == VEC_DB && (in.instr_info & 0x20))
			type = INTR_TYPE_PRIV_SW_EXCEPTION;
		int code = type == INTR_TYPE_HW_EXCEPTION && pe && ((1u << vector) & 0x227D00);
		vmcs_write32(VMCS_EXIT_INTR_INFO, INTR_INFO_VALID | (type << 8) | vector | (code ? INTR_INFO_DELIVER_CODE : 0) |
							  (in.instr_info & INTR_INFO_NMI_UNBLOCK_IRET));
		vmcs_write32(VMCS_EXIT_INTR_ERROR, code ? (uint32_t)(in.qual >> 40) & 0xFFFF : 0);
	}
	vmcs_write64(VMCS_GUEST_PHYSICAL_ADDRESS, in.gpa & ((1ULL << keel_vm.caps.max_phys_bits) - 1));
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	/* An exit during event delivery (EPT violation, task switch) reports the event; hardware
	 * only reports events it could deliver, so the checker must accept their reinjection. */
	uint32_t vec = 0;
	if ((reason == EXIT_REASON_EPT_VIOLATION || reason == EXIT_REASON_TASK_SWITCH ||
	     reason == EXIT_REASON_EXCEPTION_NMI) && (in.vectoring & INTR_INFO_VALID)) {
		unsigned type = INTR_INFO_TYPE(in.vectoring), vector = INTR_INFO_VECTOR(in.vectoring);
		int pe = !!(vmcs_readnat(VMCS_GUEST_CR0) & CR0_PE);
		int has_code = pe && type == INTR_TYPE_HW_EXCEPTION && vector < 32 && ((1u << vector) & 0x27D00);
		if (type == INTR_TYPE_NMI)
			vector = 2;
		else if (type == INTR_TYPE_HW_EXCEPTION)
			vector %= 32;
		else if (type == INTR_TYPE_EXT_INTR || type == INTR_TYPE_SW_INTR)
			vector = vector < 32 ? vector + 32 : vector;
		else if (type == INTR_TYPE_PRIV_SW_EXCEPTION)
			vector = 1;
		else if (type == INTR_TYPE_SW_EXCEPTION)
			vector = (vector & 1) ? 3 : 4;
		else
			type = INTR_TYPE_HW_EXCEPTION, vector = 13, has_code = pe;
		vec = INTR_INFO_VALID | (type << 8) | vector | (has_code ? INTR_INFO_DELIVER_CODE : 0);
		if (type == INTR_TYPE_EXT_INTR || type == INTR_TYPE_NMI) /* delivered only outside these shadows */
			vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) &
									 ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
		vmcs_write32(VMCS_IDT_VECTORING_ERROR, in.qual >> 32 & 0x7FFF);
	}
	vmcs_write32(VMCS_IDT_VECTORING_INFO, vec);

	io_port = reason == EXIT_REASON_IO_INSTRUCTION ? IOQ_PORT(in.qual) : ~0u;
	io_size = IOQ_SIZE(in.qual);
	uint64_t rip0 = vmcs_readnat(VMCS_GUEST_RIP), rcx0 = regs.gpr[GPR_RCX];
	cpu_fake_cr2_writes = 0;
	n_run++;
	per_reason[reason < EXIT_REASON_COUNT ? reason : 0]++;
	per_mode[in.mode]++;
	n_shadow += keel_vm.shadow;
	n_shadow_pf += keel_vm.shadow && reason == EXIT_REASON_EXCEPTION_NMI;
	in_exit = 1;
	if (reason == EXIT_REASON_EPT_VIOLATION)
		ept_cached = -1; /* the handler changes the tables */
	if (setjmp(stop_env)) {
		in_exit = 0;
		n_stopped++;
		if (reason != EXIT_REASON_TRIPLE_FAULT && !(raw & EXIT_REASON_FAILED_ENTRY) && !shadow_stop_allowed())
			bug("exit %u (%s) in %s mode stopped the vCPU", reason, exit_reason_name(reason), mode_names[in.mode]);
		return 0;
	}
	stub_exit(&cpu0, &regs, raw); /* as the stub: the C fast path, then the dispatcher */
	in_exit = 0;

	/* the oracle */
	if (cpu0.stopped)
		bug("vCPU marked stopped but the handler returned");
	for (unsigned i = 0; i < sizeof(ones); i++)
		if (ones[i] != 0xFF)
			bug("keel wrote into the all-ones page at offset %u", i);
	if (vmcheck_run(&keel_vm.caps, checker_report, NULL) || checker_failed)
		bug("after exit %u (%s) in %s mode the VMCS fails the entry checks above", reason,
		    exit_reason_name(reason), mode_names[in.mode]);
	uint32_t inj = vmcs_read32(VMCS_ENTRY_INTR_INFO);
	uint64_t rip1 = vmcs_readnat(VMCS_GUEST_RIP);
	if ((inj & INTR_INFO_VALID) && inj != vec)
		n_injected++;
	if ((inj & INTR_INFO_VALID) && INTR_INFO_TYPE(inj) == INTR_TYPE_NMI && inj != vec &&
	    (vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) & INTERRUPTIBILITY_NMI))
		bug("exit %u (%s) injected an NMI into the guest's NMI handler (blocking by NMI)", reason,
		    exit_reason_name(reason));
	if ((inj & INTR_INFO_VALID) && inj != vec && INTR_INFO_VECTOR(inj) == 14 && !cpu_fake_cr2_writes)
		bug("exit %u (%s) injected #PF without setting CR2", reason, exit_reason_name(reason));
	if (instruction_exit(reason)) {
		int injected = (inj & INTR_INFO_VALID) && inj != vec && INTR_INFO_TYPE(inj) == INTR_TYPE_HW_EXCEPTION;
		int completed = ((rip1 - rip0) & 0xFFFF) == in.len;
		int resumes = reason == EXIT_REASON_IO_INSTRUCTION && IOQ_REP(in.qual) && rip1 == rip0 &&
			      regs.gpr[GPR_RCX] != rcx0; /* a long REP continues at the next exit */
		if (injected && rip1 != rip0)
			bug("exit %u (%s) injected 0x%x and also moved RIP 0x%llx -> 0x%llx", reason,
			    exit_reason_name(reason), inj, (unsigned long long)rip0, (unsigned long long)rip1);
		if (!injected && !completed && !resumes)
			bug("exit %u (%s) in %s mode neither completed (RIP 0x%llx -> 0x%llx, length %u) nor faulted",
			    reason, exit_reason_name(reason), mode_names[in.mode], (unsigned long long)rip0,
			    (unsigned long long)rip1, in.len);
	}
	return 0;
}
