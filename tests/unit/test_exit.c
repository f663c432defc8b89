/* Host unit tests for keel's VM-exit path: the real dispatcher vmx_exit_handler (vmm/exit.c) with
 * the handlers of its table (vmm/exit.c and the instruction-class files), run
 * against the array-backed VMCS of vmcs_fake.c. Host program (cmocka); links the Makefile's
 * EXIT_PATH_SRCS, vmm/vmx.c, vmm/caps.c, mm/ept.c, mm/mtrr.c, lib/ and vmcs_fake.c.
 *
 * The assembly helpers (safe_rdmsr, safe_wrmsr, safe_xsetbv, vmx_launch_unwind) are fakes below:
 * they record their calls and fail the test when called more often than it allowed. Built with
 * KEEL_HOST_FAKES, the privileged instructions go to the fake CPU (tests/unit/cpu_fakes.c): port
 * I/O and INVEPT/INVVPID are recorded here, CR2 lives in cpu_fake_cr[2], and HLT (vcpu_stop) or
 * a VMX instruction fails the test. CPUID runs natively: the cases check keel's changes, never
 * host values. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "unit.h"

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../lib/log.h"
#include "../../vmm/emulate.h" /* KEEL_VERSION_CODE as the handlers see it */
#include "../../vmm/exit.h"
#include "../../vmm/host.h"
#include "../../vmm/hypercall.h"
#include "../../vmm/operand.h"
#include "../../vmm/trap_emulate.h"
#include "../../vmm/vmcs.h"
#include "../../vmm/rip.h"
#include "../../vmm/shadow_exit.h"
#include "../../vmm/sipi.h"
#include "../../mm/pool.h"
#include "../../mm/shadow.h"
#include "../../vmm/vmm.h"
#include "../../vmm/vmx.h"
#include "caps_data.h"
#include "cpu_fakes.h"
#include "exit_stub.h"
#include "vmcs_fake.h"

/* The exit stub's C entries (vmm/exit.c declares them there, for vmx_entry.asm only). */
void vmx_exit_handler(struct guest_regs *r, struct vcpu *v);
int vmx_exit_fast(struct vcpu *v, struct guest_regs *r, uint32_t raw);

/* ---- fakes for arch/x86/vmx_entry.asm and vmm/vmm.c ---- */

struct vm keel_vm;

struct fake_call {
	unsigned calls, allowed; /* more calls than allowed fail the test */
	uint32_t index;          /* MSR or XCR of the last call */
	uint64_t value;          /* safe_rdmsr: what it returns; the others: what was written */
	int fault;               /* 1: the fake reports the #GP the real instruction took */
};
static struct fake_call rdmsr_fake, wrmsr_fake, xsetbv_fake;

static void record(struct fake_call *f, const char *name, uint32_t index)
{
	if (++f->calls > f->allowed)
		fail_msg("unexpected call %u to %s(0x%x) in this test", f->calls, name, index);
	f->index = index;
}

int safe_rdmsr(uint32_t msr, uint64_t *value)
{
	record(&rdmsr_fake, __func__, msr);
	*value = rdmsr_fake.fault ? 0xBADBADBADBADBADBull : rdmsr_fake.value; /* garbage on a fault */
	return rdmsr_fake.fault;
}

int safe_wrmsr(uint32_t msr, uint64_t value)
{
	record(&wrmsr_fake, __func__, msr);
	wrmsr_fake.value = value;
	return wrmsr_fake.fault;
}

int safe_xsetbv(uint32_t index, uint64_t value)
{
	record(&xsetbv_fake, __func__, index);
	xsetbv_fake.value = value;
	return xsetbv_fake.fault;
}

void vmx_launch_unwind(struct unwind_ctx *ctx)
{
	(void)ctx;
	fail_msg("unexpected call to %s in a host test", __func__);
	abort();
}

/* ---- the fake CPU's hooks (cpu_fakes.h) and guest-physical memory (mm/phys.h) ---- */

uintptr_t phys_host_base; /* 0: guest-physical addresses are host addresses below 4 GiB here */

#define MAX_PORT_OPS 8
static struct port_op {
	uint16_t port;
	unsigned size, in;
	uint32_t value;
} port_ops[MAX_PORT_OPS];
static unsigned nport_ops, ninvalidations;
static uint32_t port_in_value;

static void fake_halt(void) { fail_msg("vcpu_stop parked the CPU (HLT) in a host test"); }
static void fake_unexpected(const char *insn) { fail_msg("%s executed in an exit handler", insn); }

static void record_port(uint16_t port, unsigned size, unsigned in, uint32_t value)
{
	if (nport_ops < MAX_PORT_OPS)
		port_ops[nport_ops] = (struct port_op){ port, size, in, value };
	nport_ops++;
}

static uint32_t fake_port_in(uint16_t port, unsigned size)
{
	record_port(port, size, 1, port_in_value);
	return port_in_value;
}

static void fake_port_out(uint16_t port, unsigned size, uint32_t value) { record_port(port, size, 0, value); }

static void fake_invalidate(const char *insn, uint64_t type, uint64_t operand)
{
	(void)insn, (void)type, (void)operand;
	ninvalidations++;
}

/* ---- log ---- */

static char log_text[16384];

static void capture(const char *s, size_t n)
{
	size_t used = strlen(log_text);
	if (used + n < sizeof(log_text)) {
		memcpy(log_text + used, s, n);
		log_text[used + n] = 0;
	}
	/* vcpu_stop logs this, then executes CLI: say why the SIGSEGV that follows happens. */
	if (strstr(log_text + used, " stopped: "))
		printf("test_exit: unexpected vcpu_stop: %s", log_text + used);
}

/* ---- machine: one vCPU in 64-bit mode at CPL 0 ---- */

static struct vcpu cpu0;
static struct guest_regs regs;

#define RIP0 0x401000ull
#define RSP0 0x7FFF0000ull
#define CR3_0 0x1000ull
#define CR0_FIXED0 (CR0_PE | CR0_NE | CR0_PG)
#define CR0_FIXED1 0xFFFFFFFFull
#define CR4_FIXED0 CR4_VMXE
#define CR4_FIXED1 0x7727FFull
/* Owned bits as vmx.c computes them: CR0.NE; CR4.VMXE and what CR4_FIXED1 forbids. */
#define CR0_MASK ((CR0_FIXED0 & ~(CR0_PE | CR0_PG)) | (~CR0_FIXED1 & 0xFFFFFFFFull))
#define CR4_MASK (CR4_FIXED0 | ~CR4_FIXED1 | CR4_VMXE)
#define GUEST_CR0 (CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG) /* 0x80050033 */
#define GUEST_CR4 (CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE)
#define GUEST_EFER (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)
#define AR_CODE64 0xA09Bu     /* present, DPL 0, execute/read accessed, L, G */
#define AR_CODE32 0xC09Bu     /* D/B instead of L */
#define AR_DATA_CPL0 0xC093u
#define AR_DATA_CPL3 0xC0F3u

/* What the entry interruption-information field holds after an injection (SDM 24.8.3):
 * valid (31) | deliver error code (11) | type (10:8) | vector (7:0), worked by hand. */
#define ENTRY_UD 0x80000306u /* type 3 hardware exception, vector 6, no error code */
#define ENTRY_GP 0x80000B0Du /* type 3, vector 13, error code delivered */

static void guest_cr4(uint64_t view)
{
	vmcs_writenat(VMCS_GUEST_CR4, view | CR4_VMXE);
	vmcs_writenat(VMCS_CR4_SHADOW, view);
}

static void guest_cpl(unsigned cpl) { vmcs_write32(VMCS_GUEST_SS_AR, cpl ? AR_DATA_CPL3 : AR_DATA_CPL0); }

static int setup(void **state)
{
	vmcs_fake_reset(state);
	memset(&keel_vm, 0, sizeof(keel_vm));
	memset(&cpu0, 0, sizeof(cpu0));
	memset(&regs, 0, sizeof(regs));
	memset(&rdmsr_fake, 0, sizeof(rdmsr_fake));
	memset(&wrmsr_fake, 0, sizeof(wrmsr_fake));
	memset(&xsetbv_fake, 0, sizeof(xsetbv_fake));
	cpu_fake_hooks = (struct cpu_fake_hooks){ fake_halt, fake_unexpected, fake_port_in, fake_port_out,
						 fake_invalidate };
	memset(cpu_fake_cr, 0, sizeof(cpu_fake_cr));
	nport_ops = ninvalidations = 0;
	port_in_value = 0;
	cpu0.vm = &keel_vm;
	cpu0.launched = 1;
	cpu0.sipi_vector = -1;
	cpu0.vpid = 0; /* a VPID would make CR and SIPI handlers run INVVPID */
	cpu0.cr0_fixed0 = CR0_FIXED0;
	cpu0.cr0_fixed1 = CR0_FIXED1;
	cpu0.cr4_fixed0 = CR4_FIXED0;
	cpu0.cr4_fixed1 = CR4_FIXED1;
	keel_vm.vcpus[0] = &cpu0;
	keel_vm.ncpus = keel_vm.nvirt = 1;
	keel_vm.caps.max_phys_bits = 39; /* Bochs's models */
	keel_vm.caps.misc = VMX_MISC_ACTIVITY_HLT | VMX_MISC_ACTIVITY_WAIT_SIPI;

	/* Entry fields (interruption info, error code, instruction length), pending debug exceptions
	 * and interruptibility stay unwritten, so a case can tell whether keel touched them. */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vmcs_writenat(VMCS_GUEST_RSP, RSP0);
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_IF);
	vmcs_writenat(VMCS_GUEST_CR0, GUEST_CR0);
	vmcs_writenat(VMCS_CR0_SHADOW, GUEST_CR0);
	vmcs_writenat(VMCS_CR0_MASK, CR0_MASK);
	guest_cr4(GUEST_CR4);
	vmcs_writenat(VMCS_CR4_MASK, CR4_MASK);
	vmcs_writenat(VMCS_GUEST_CR3, CR3_0);
	vmcs_write64(VMCS_GUEST_EFER, GUEST_EFER);
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE64);
	guest_cpl(0);
	vmcs_write32(VMCS_ENTRY_CONTROLS, ENTRY_IA32E_MODE_GUEST | ENTRY_LOAD_EFER);


	log_text[0] = 0;
	log_set_level(LOG_INFO);
	return log_add_output(capture) < 0;
}

/* A handler keel does not install, on a reason keel leaves unregistered. */
#define SPY_REASON EXIT_REASON_APIC_ACCESS

static int teardown(void **state)
{
	(void)state;
	exit_handlers[SPY_REASON] = 0;
	log_remove_output(capture);
	return 0;
}

/* The same machine with the fast path open (nothing pending): the trap cases run through
 * vmx_exit_fast first, and must give exactly what the slow handlers give. */
static int setup_fast(void **state)
{
	setup(state);
	cpu0.fast = 1;
	return 0;
}

static struct {
	unsigned calls;
	struct vcpu *v;
	struct guest_regs *r;
	struct guest_regs *v_regs;
	int in_root;
	struct exit_info e;
} spy;

static void spy_handler(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	spy.calls++;
	spy.v = v;
	spy.r = r;
	spy.v_regs = v->regs;
	spy.in_root = v->in_root;
	spy.e = *e;
}

static void register_spy(void)
{
	memset(&spy, 0, sizeof(spy));
	exit_handlers[SPY_REASON] = spy_handler;
}

/* One VM exit: what the CPU stores in the exit-information fields, then keel's handler. */
static void vm_exit(uint32_t raw_reason, uint64_t qualification, uint32_t instr_len)
{
	vmcs_write32(VMCS_EXIT_REASON, raw_reason);
	vmcs_writenat(VMCS_EXIT_QUALIFICATION, qualification);
	vmcs_write32(VMCS_EXIT_INSTR_LEN, instr_len);
	/* As the stub does after its own CPUID path (tests/unit/exit_stub.h). */
	stub_exit(&cpu0, &regs, raw_reason);
}

static uint64_t rip(void) { return vmcs_readnat(VMCS_GUEST_RIP); }

static void assert_no_event(void)
{
	if (vmcs_fake_written(VMCS_ENTRY_INTR_INFO))
		fail_msg("unexpected event injected: entry interruption info 0x%x", vmcs_read32(VMCS_ENTRY_INTR_INFO));
}

/* A fault: injected, RIP left on the faulting instruction, and RFLAGS.RF set as the CPU saves it
 * when it delivers a fault (SDM Vol. 3A 17.3.1.1). */
static void assert_fault_rf(void)
{
	if (!(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_RF))
		fail_msg("fault injected with RFLAGS.RF clear (RFLAGS 0x%llx)",
			 (unsigned long long)vmcs_readnat(VMCS_GUEST_RFLAGS));
}

static void assert_ud(void)
{
	assert_fault_rf();
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_UD);
	assert_false(vmcs_fake_written(VMCS_ENTRY_EXCEPTION_ERROR));
	assert_int_equal(rip(), RIP0);
}

static void assert_gp0(void)
{
	assert_fault_rf();
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_GP);
	assert_true(vmcs_fake_written(VMCS_ENTRY_EXCEPTION_ERROR));
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), 0);
	assert_int_equal(rip(), RIP0);
}

/* Completed: no event, RIP past the instruction. */
static void assert_completed(unsigned len)
{
	assert_no_event();
	assert_int_equal(rip(), RIP0 + len);
}

/* ---- RIP advance arithmetic ---- */

static int long_mode_calls, long_mode_answer;
static int fake_long_mode(void)
{
	long_mode_calls++;
	return long_mode_answer;
}

static void test_next_rip_no_carry_asks_nothing(void **state)
{
	(void)state;
	long_mode_calls = 0;
	assert_int_equal(vcpu_next_rip(0x1000, 2, fake_long_mode), 0x1002);
	assert_int_equal(vcpu_next_rip(0xFFFFFFFF80001000ULL, 3, fake_long_mode), 0xFFFFFFFF80001003ULL);
	assert_int_equal(long_mode_calls, 0); /* a 64-bit kernel's exits never read EFER or CS */
}

static void test_next_rip_wraps_at_4g_outside_64bit_mode(void **state)
{
	(void)state;
	long_mode_calls = 0;
	long_mode_answer = 0;
	assert_int_equal(vcpu_next_rip(0xFFFFFFFEULL, 3, fake_long_mode), 0x1);
	assert_int_equal(long_mode_calls, 1);
}

static void test_next_rip_carries_in_64bit_mode(void **state)
{
	(void)state;
	long_mode_answer = 1;
	assert_int_equal(vcpu_next_rip(0xFFFFFFFEULL, 3, fake_long_mode), 0x100000001ULL);
	assert_int_equal(vcpu_next_rip(0x1FFFFFFFFULL, 1, fake_long_mode), 0x200000000ULL);
}

static void test_fault_class(void **state)
{
	(void)state;
	assert_true(vcpu_exception_is_fault(VEC_GP));
	assert_true(vcpu_exception_is_fault(VEC_UD));
	assert_true(vcpu_exception_is_fault(VEC_PF));
	assert_false(vcpu_exception_is_fault(VEC_NMI));
	assert_false(vcpu_exception_is_fault(3)); /* #BP: trap */
	assert_false(vcpu_exception_is_fault(8)); /* #DF: abort */
}

/* ---- dispatch ---- */

static void test_registered_handler_gets_decoded_exit(void **state)
{
	(void)state;
	register_spy();
	vm_exit(SPY_REASON | BIT(28), 0x1234, 3); /* bit 28: pending MTF, not part of the basic reason */
	assert_int_equal(spy.calls, 1);
	assert_ptr_equal(spy.v, &cpu0);
	assert_ptr_equal(spy.r, &regs);
	assert_int_equal(spy.e.reason, SPY_REASON);
	assert_int_equal(spy.e.qualification, 0x1234);
	assert_no_event();
	assert_int_equal(rip(), RIP0); /* only the handler decides to advance */
}

static void test_handler_runs_in_root_with_regs(void **state)
{
	(void)state;
	register_spy();
	cpu0.launched = 0;
	vm_exit(SPY_REASON, 0, 0);
	assert_int_equal(spy.in_root, 1);
	assert_ptr_equal(spy.v_regs, &regs);
	assert_int_equal(cpu0.in_root, 0);
	assert_int_equal(cpu0.launched, 1); /* an exit proves the launch worked */
}

static void test_unregistered_reason_injects_ud(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_RDRAND, 0, 2);
	assert_ud();
	assert_contains(log_text, "unhandled VM exit 57 (RDRAND)");
}

static void test_unregistering_falls_back_to_unhandled(void **state)
{
	(void)state;
	register_spy();
	exit_handlers[SPY_REASON] = 0;
	vm_exit(SPY_REASON, 0, 0);
	assert_int_equal(spy.calls, 0);
	assert_ud();
}

static void test_reason_beyond_table_injects_ud(void **state)
{
	(void)state;
	vm_exit(70, 0, 0);
	assert_ud();
	assert_contains(log_text, "unhandled VM exit 70 (unknown)");
	assert_int_equal(vcpu_exits_total(&cpu0), 1);
	for (unsigned i = 0; i < EXIT_REASON_COUNT; i++)
		assert_int_equal(cpu0.exits[i], 0);
}

static void test_unhandled_exit_dumps_guest_state(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_RDRAND, 0x55, 2);
	assert_contains(log_text, "qualification 0x55, at RIP 0x401000");
	assert_contains(log_text, "guest state of cpu0 (unhandled exit)");
	assert_contains(log_text, "CR0 0x80050033");
}

static void test_exit_counters_per_reason_and_total(void **state)
{
	(void)state;
	regs.gpr[GPR_RAX] = 0;
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	vm_exit(EXIT_REASON_VMXON, 0, 4);
	assert_int_equal(cpu0.exits[EXIT_REASON_CPUID], 2);
	assert_int_equal(cpu0.exits[EXIT_REASON_VMXON], 1);
	assert_int_equal(vcpu_exits_total(&cpu0), 3);
	uint64_t sum = 0;
	for (unsigned i = 0; i < EXIT_REASON_COUNT; i++)
		sum += cpu0.exits[i];
	assert_int_equal(sum, 3);
}

static void test_non_init_exit_forgets_sipi_vector(void **state)
{
	(void)state;
	cpu0.sipi_vector = 0x10;
	vm_exit(EXIT_REASON_VMXOFF, 0, 3);
	assert_int_equal(cpu0.sipi_vector, -1);
}

/* ---- IDT-vectoring information: re-injected before the handler runs (SDM 27.2.4) ---- */

static void vectoring(uint32_t info, uint32_t error)
{
	vmcs_write32(VMCS_IDT_VECTORING_INFO, info);
	vmcs_write32(VMCS_IDT_VECTORING_ERROR, error);
}

static void test_vectoring_hw_exception_reinjected_with_error_code(void **state)
{
	(void)state;
	register_spy();
	vectoring(0x80000B0E, 0x6); /* #PF with error code, interrupted by the exit */
	vm_exit(SPY_REASON, 0, 5);
	assert_int_equal(spy.calls, 1);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000B0E);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), 0x6);
	assert_false(vmcs_fake_written(VMCS_ENTRY_INSTR_LEN)); /* hardware events have none */
}

static void test_vectoring_software_interrupt_gets_instruction_length(void **state)
{
	(void)state;
	register_spy();
	vectoring(0x80000480, 0); /* INT 0x80: type 4 */
	vm_exit(SPY_REASON, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000480);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INSTR_LEN), 2);
	assert_false(vmcs_fake_written(VMCS_ENTRY_EXCEPTION_ERROR));
}

static void test_vectoring_software_exceptions_get_instruction_length(void **state)
{
	(void)state;
	register_spy();
	vectoring(0x80000603, 0); /* INT3: type 6 */
	vm_exit(SPY_REASON, 0, 1);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000603);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INSTR_LEN), 1);
	vectoring(0x80000501, 0); /* INT1/ICEBP: type 5, privileged software exception */
	vm_exit(SPY_REASON, 0, 1);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000501);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INSTR_LEN), 1);
}

static void test_vectoring_external_interrupt_reinjected_without_length(void **state)
{
	(void)state;
	register_spy();
	vectoring(0x80000030, 0);
	vm_exit(SPY_REASON, 0, 3);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000030);
	assert_false(vmcs_fake_written(VMCS_ENTRY_INSTR_LEN));
	assert_false(vmcs_fake_written(VMCS_ENTRY_EXCEPTION_ERROR));
}

static void test_vectoring_nmi_drops_bit_12(void **state)
{
	(void)state;
	register_spy();
	vectoring(0x80001202, 0); /* bit 12 is undefined in vectoring info and reserved on entry */
	vm_exit(SPY_REASON, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000202);
}

static void test_vectoring_invalid_info_not_reinjected(void **state)
{
	(void)state;
	register_spy();
	vectoring(0x00000B0E, 0x6); /* valid bit clear */
	vm_exit(SPY_REASON, 0, 0);
	assert_int_equal(spy.calls, 1);
	assert_no_event();
	assert_false(vmcs_fake_written(VMCS_ENTRY_EXCEPTION_ERROR));
}

/* ---- vcpu_skip_instruction ---- */

static void skip_instruction(uint32_t len)
{
	vmcs_write32(VMCS_EXIT_INSTR_LEN, len);
	vcpu_skip_instruction(&cpu0);
}

static void test_skip_advances_rip_by_exit_length(void **state)
{
	(void)state;
	skip_instruction(3);
	assert_int_equal(rip(), RIP0 + 3);
	assert_false(vmcs_fake_written(VMCS_GUEST_INTERRUPTIBILITY));
	assert_false(vmcs_fake_written(VMCS_GUEST_PENDING_DBG));
}

static void test_skip_clears_sti_and_mov_ss_blocking_keeps_nmi(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI | INTERRUPTIBILITY_NMI);
	skip_instruction(2);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), INTERRUPTIBILITY_NMI);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_MOV_SS);
	skip_instruction(2);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), 0);
}

static void test_skip_with_tf_sets_pending_single_step(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_TF);
	vmcs_writenat(VMCS_GUEST_PENDING_DBG, 0x1); /* B0 already pending: kept */
	skip_instruction(2);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_PENDING_DBG), 0x4001);
	assert_int_equal(rip(), RIP0 + 2);
}

static void test_skip_wraps_eip_outside_64bit_mode(void **state)
{
	(void)state;
	vmcs_write64(VMCS_GUEST_EFER, 0);
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32);
	vmcs_writenat(VMCS_GUEST_RIP, 0xFFFFFFFE);
	skip_instruction(3);
	assert_int_equal(rip(), 0x1);
}

static void test_skip_wraps_eip_in_compatibility_mode(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32); /* EFER.LMA set, CS.L clear */
	vmcs_writenat(VMCS_GUEST_RIP, 0xFFFFFFFF);
	skip_instruction(2);
	assert_int_equal(rip(), 0x1);
}

static void test_skip_does_not_wrap_in_64bit_mode(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RIP, 0xFFFFFFFE);
	skip_instruction(3);
	assert_int_equal(rip(), 0x100000001ull);
}

static void test_instruction_exit_skips_through_dispatcher(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI);
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_TF);
	regs.gpr[GPR_RAX] = KEEL_CPUID_LEAF;
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_completed(2);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), 0);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_PENDING_DBG), BIT(14));
}

/* ---- CPUID ---- */

static void cpuid_exit(uint64_t rax, uint64_t rcx)
{
	regs.gpr[GPR_RAX] = rax;
	regs.gpr[GPR_RCX] = rcx;
	regs.gpr[GPR_RBX] = regs.gpr[GPR_RDX] = ~0ull;
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_completed(2);
}

static void test_cpuid_keel_signature(void **state)
{
	(void)state;
	cpuid_exit(0xFFFFFFFF00000000ull | KEEL_CPUID_LEAF, 0); /* the leaf is EAX: upper half ignored */
	assert_int_equal(regs.gpr[GPR_RAX], 0x40000001);
	char sig[13];
	uint32_t words[3] = { (uint32_t)regs.gpr[GPR_RBX], (uint32_t)regs.gpr[GPR_RCX], (uint32_t)regs.gpr[GPR_RDX] };
	memcpy(sig, words, 12);
	sig[12] = 0;
	assert_string_equal(sig, "KeelKeelKeel");
	assert_int_equal(regs.gpr[GPR_RBX] >> 32, 0); /* 32-bit results zero-extend */
	assert_int_equal(regs.gpr[GPR_RDX] >> 32, 0);
}

static void test_cpuid_keel_version_leaf(void **state)
{
	(void)state;
	cpuid_exit(KEEL_CPUID_LEAF + 1, 0);
	assert_int_equal(regs.gpr[GPR_RAX], KEEL_VERSION_CODE);
	assert_int_equal(regs.gpr[GPR_RBX], 0);
	assert_int_equal(regs.gpr[GPR_RCX], 0);
	assert_int_equal(regs.gpr[GPR_RDX], 0);
}

static void test_cpuid_other_keel_leaves_are_zero(void **state)
{
	(void)state;
	/* Not the host's (a hypervisor under this test answers these leaves natively). */
	cpuid_exit(KEEL_CPUID_LEAF + 0xFF, 0);
	assert_int_equal(regs.gpr[GPR_RAX] | regs.gpr[GPR_RBX] | regs.gpr[GPR_RCX] | regs.gpr[GPR_RDX], 0);
}

static void test_cpuid_leaf1_sets_hypervisor_hides_vmx(void **state)
{
	(void)state;
	struct cpuid_regs host;
	cpuid(1, 0, &host);
	if ((host.ecx & BIT(31)) && !(host.ecx & BIT(5)))
		print_message("note: this host's CPUID.1 already reads hypervisor on, VMX off: "
			      "this case cannot tell keel's change from the host value here\n");
	cpuid_exit(1, 0);
	assert_true(regs.gpr[GPR_RCX] & BIT(31));
	assert_false(regs.gpr[GPR_RCX] & BIT(5));
}

/* An L0 hypervisor's leaves above keel's (KVM's at 0x40000100 under Hyper-V emulation) would send
 * Linux to paravirtual interfaces keel does not offer: the whole hypervisor range is keel's. */
static void test_cpuid_hypervisor_range_above_keel_is_zero(void **state)
{
	(void)state;
	for (uint32_t leaf = 0x40000100; leaf < 0x40010000; leaf += 0x100) {
		vmcs_writenat(VMCS_GUEST_RIP, RIP0);
		cpuid_exit(leaf, 0);
		assert_int_equal(regs.gpr[GPR_RAX] | regs.gpr[GPR_RBX] | regs.gpr[GPR_RCX] | regs.gpr[GPR_RDX], 0);
	}
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	cpuid_exit(0x4FFFFFFF, 0);
	assert_int_equal(regs.gpr[GPR_RAX] | regs.gpr[GPR_RBX], 0);
}

static void test_cpuid_osxsave_set_with_guest_cr4(void **state)
{
	(void)state;
	cpuid_exit(1, 0); /* guest CR4 has OSXSAVE */
	assert_true(regs.gpr[GPR_RCX] & BIT(27));
}

static void test_cpuid_osxsave_clear_without_guest_cr4(void **state)
{
	(void)state;
	guest_cr4(GUEST_CR4 & ~CR4_OSXSAVE);
	cpuid_exit(1, 0);
	assert_false(regs.gpr[GPR_RCX] & BIT(27));
}

static void test_cpuid_leaf7_ospke_follows_guest_cr4(void **state)
{
	(void)state;
	guest_cr4(GUEST_CR4 | CR4_PKE);
	cpuid_exit(7, 0);
	assert_true(regs.gpr[GPR_RCX] & BIT(4));
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	guest_cr4(GUEST_CR4);
	cpuid_exit(7, 0);
	assert_false(regs.gpr[GPR_RCX] & BIT(4));
}

/* ---- RDMSR / WRMSR ---- */

static void msr_exit(unsigned reason, uint64_t rcx, uint64_t rdx, uint64_t rax)
{
	regs.gpr[GPR_RCX] = rcx;
	regs.gpr[GPR_RDX] = rdx;
	regs.gpr[GPR_RAX] = rax;
	vm_exit(reason, 0, 2);
}

static void test_rdmsr_feature_control_locked_vmx_off(void **state)
{
	(void)state;
	rdmsr_fake.allowed = 1;
	rdmsr_fake.value = FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX | FEATURE_CONTROL_VMX_IN_SMX | BIT(20);
	msr_exit(EXIT_REASON_MSR_READ, 0xFFFFFFFF00000000ull | 0x3A, ~0ull, ~0ull); /* MSR from ECX */
	assert_completed(2);
	assert_int_equal(rdmsr_fake.index, 0x3A);
	assert_int_equal(regs.gpr[GPR_RAX], 0x1 | BIT(20)); /* locked; other bits as on the host */
	assert_int_equal(regs.gpr[GPR_RDX], 0);
}

static void test_rdmsr_feature_control_read_fault_still_locked(void **state)
{
	(void)state;
	rdmsr_fake.allowed = 1;
	rdmsr_fake.fault = 1;
	msr_exit(EXIT_REASON_MSR_READ, 0x3A, 0, 0);
	assert_completed(2);
	assert_int_equal(regs.gpr[GPR_RAX], FEATURE_CONTROL_LOCK);
	assert_int_equal(regs.gpr[GPR_RDX], 0);
}

static void test_rdmsr_vmx_capability_msrs_gp(void **state)
{
	(void)state;
	const uint32_t msrs[] = { 0x480, 0x48B, 0x491 };
	for (unsigned i = 0; i < 3; i++) {
		msr_exit(EXIT_REASON_MSR_READ, msrs[i], 0x1111, 0x2222);
		assert_gp0();
		assert_int_equal(regs.gpr[GPR_RAX], 0x2222);
		assert_int_equal(regs.gpr[GPR_RDX], 0x1111);
	}
	assert_int_equal(rdmsr_fake.calls, 0); /* the host's values are never read */
}

static void test_rdmsr_next_to_vmx_range_passes_through(void **state)
{
	(void)state;
	rdmsr_fake.allowed = 2;
	msr_exit(EXIT_REASON_MSR_READ, 0x47F, 0, 0);
	assert_completed(2);
	assert_int_equal(rdmsr_fake.index, 0x47F);
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	msr_exit(EXIT_REASON_MSR_READ, 0x492, 0, 0);
	assert_completed(2);
	assert_int_equal(rdmsr_fake.index, 0x492);
}

static void test_rdmsr_passthrough_splits_value_into_edx_eax(void **state)
{
	(void)state;
	rdmsr_fake.allowed = 1;
	rdmsr_fake.value = 0x1122334455667788ull;
	msr_exit(EXIT_REASON_MSR_READ, MSR_LSTAR, ~0ull, ~0ull);
	assert_completed(2);
	assert_int_equal(rdmsr_fake.index, MSR_LSTAR);
	assert_int_equal(regs.gpr[GPR_RAX], 0x55667788);
	assert_int_equal(regs.gpr[GPR_RDX], 0x11223344);
}

static void test_rdmsr_fault_injects_gp(void **state)
{
	(void)state;
	rdmsr_fake.allowed = 1;
	rdmsr_fake.fault = 1;
	msr_exit(EXIT_REASON_MSR_READ, 0x1234, 0x1111, 0x2222);
	assert_gp0();
	assert_int_equal(regs.gpr[GPR_RAX], 0x2222);
	assert_int_equal(regs.gpr[GPR_RDX], 0x1111);
}

static void test_wrmsr_feature_control_gp(void **state)
{
	(void)state;
	msr_exit(EXIT_REASON_MSR_WRITE, 0x3A, 0, FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
	assert_gp0();
	assert_int_equal(wrmsr_fake.calls, 0);
}

/* Found by tests/fuzz: a real-mode guest (an AP after SIPI) gets #GP without an error code; with
 * one, the next VM entry fails (SDM Vol. 3C 26.2.1.3) and the vCPU would stop. */
static void test_wrmsr_fault_in_real_mode_gp_without_error_code(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_SIPI, 0x10, 0);
	msr_exit(EXIT_REASON_MSR_WRITE, 0x3A, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x8000030Du); /* valid, type 3, vector 13 */
	assert_int_equal(rip(), 0);
}

static void test_wrmsr_vmx_capability_msrs_gp(void **state)
{
	(void)state;
	msr_exit(EXIT_REASON_MSR_WRITE, 0x480, 0, 0);
	assert_gp0();
	msr_exit(EXIT_REASON_MSR_WRITE, 0x491, 0, 0);
	assert_gp0();
	assert_int_equal(wrmsr_fake.calls, 0);
}

static void test_wrmsr_passthrough_reaches_safe_wrmsr(void **state)
{
	(void)state;
	wrmsr_fake.allowed = 1;
	/* EDX:EAX; the upper halves of RDX and RAX are ignored (SDM Vol. 2B WRMSR). */
	msr_exit(EXIT_REASON_MSR_WRITE, MSR_KERNEL_GS_BASE, 0xDEAD000000000012ull, 0xBEEF000000000034ull);
	assert_completed(2);
	assert_int_equal(wrmsr_fake.index, MSR_KERNEL_GS_BASE);
	assert_int_equal(wrmsr_fake.value, 0x0000001200000034ull);
}

static void test_wrmsr_noncanonical_lstar_gp(void **state)
{
	(void)state;
	msr_exit(EXIT_REASON_MSR_WRITE, MSR_LSTAR, 0x00008000, 0);
	assert_gp0();
	assert_int_equal(wrmsr_fake.calls, 0);
}

static void test_wrmsr_fault_injects_gp(void **state)
{
	(void)state;
	wrmsr_fake.allowed = 1;
	wrmsr_fake.fault = 1;
	msr_exit(EXIT_REASON_MSR_WRITE, 0x1234, 0, 1);
	assert_gp0();
	assert_int_equal(wrmsr_fake.calls, 1);
}

/* ---- control-register accesses (qualification: SDM table 27-3) ---- */

#define CRQ(cr, type, gpr) ((uint64_t)(cr) | ((uint64_t)(type) << 4) | ((uint64_t)(gpr) << 8))

static void test_mov_cr4_setting_vmxe_gp(void **state)
{
	(void)state;
	regs.gpr[GPR_RBX] = GUEST_CR4 | CR4_VMXE;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, 0, GPR_RBX), 3);
	assert_gp0();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR4), GUEST_CR4 | CR4_VMXE);
	assert_int_equal(vmcs_readnat(VMCS_CR4_SHADOW), GUEST_CR4);
}

static void test_mov_cr4_valid_keeps_vmxe_in_real_only(void **state)
{
	(void)state;
	uint64_t val = (GUEST_CR4 & ~CR4_OSXSAVE) | CR4_FSGSBASE;
	regs.gpr[GPR_RSP] = ~0ull;                /* the RSP slot is unused ... */
	vmcs_writenat(VMCS_GUEST_RSP, val);       /* ... RSP lives in the VMCS */
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, 0, GPR_RSP), 3);
	assert_completed(3);
	assert_int_equal(vmcs_readnat(VMCS_CR4_SHADOW), val);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR4), val | CR4_VMXE);
}

static void test_mov_cr0_clearing_ne_changes_shadow_only(void **state)
{
	(void)state;
	regs.gpr[GPR_RAX] = GUEST_CR0 & ~CR0_NE;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, 0, GPR_RAX), 3);
	assert_completed(3);
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), 0x80050013);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR0), 0x80050033); /* VMX keeps NE set */
	assert_int_equal(vmcs_read64(VMCS_GUEST_EFER), GUEST_EFER);
}

static void test_mov_cr0_invalid_value_gp(void **state)
{
	(void)state;
	regs.gpr[GPR_RDX] = GUEST_CR0 | CR0_NW; /* NW without CD */
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, 0, GPR_RDX), 3);
	assert_gp0();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR0), GUEST_CR0);
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), GUEST_CR0);
}

static void test_mov_cr0_enabling_paging_enters_ia32e_mode(void **state)
{
	(void)state;
	uint64_t cr0 = CR0_PE | CR0_ET | CR0_NE;
	vmcs_writenat(VMCS_GUEST_CR0, cr0);
	vmcs_writenat(VMCS_CR0_SHADOW, cr0);
	vmcs_write64(VMCS_GUEST_EFER, EFER_LME);
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32);
	vmcs_write32(VMCS_ENTRY_CONTROLS, ENTRY_LOAD_EFER);
	regs.gpr[GPR_RAX] = cr0 | CR0_PG;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, 0, GPR_RAX), 3);
	assert_completed(3);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR0), cr0 | CR0_PG);
	assert_int_equal(vmcs_read64(VMCS_GUEST_EFER), EFER_LME | EFER_LMA);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_CONTROLS), ENTRY_LOAD_EFER | ENTRY_IA32E_MODE_GUEST);
}

static void test_clts_clears_ts(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_CR0, GUEST_CR0 | CR0_TS);
	vmcs_writenat(VMCS_CR0_SHADOW, GUEST_CR0 | CR0_TS);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, 2, 0), 2);
	assert_completed(2);
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), GUEST_CR0);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR0), GUEST_CR0);
}

static void test_lmsw_cannot_clear_pe(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, 3, 0) | (0x0008ull << 16), 3); /* LMSW 0x0008: TS only */
	assert_completed(3);
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), (GUEST_CR0 & ~CR0_MP) | CR0_TS);
}

/* ---- XSETBV ---- */

static uint64_t host_xcr0_supported(void)
{
	struct cpuid_regs c;
	cpuid(1, 0, &c);
	if (!(c.ecx & CPUID1_ECX_XSAVE))
		return 0;
	cpuid(0xD, 0, &c);
	return c.eax | ((uint64_t)c.edx << 32);
}

static void xsetbv_exit(uint32_t ecx, uint64_t xcr)
{
	regs.gpr[GPR_RCX] = ecx;
	regs.gpr[GPR_RAX] = (uint32_t)xcr;
	regs.gpr[GPR_RDX] = xcr >> 32;
	vm_exit(EXIT_REASON_XSETBV, 0, 3);
}

static void test_xsetbv_xcr0_zero_gp(void **state)
{
	(void)state;
	xsetbv_exit(0, 0); /* x87 state can never be disabled */
	assert_gp0();
	assert_int_equal(xsetbv_fake.calls, 0);
}

static void test_xsetbv_without_guest_osxsave_ud(void **state)
{
	(void)state;
	guest_cr4(GUEST_CR4 & ~CR4_OSXSAVE);
	xsetbv_exit(0, 1);
	assert_ud();
	assert_int_equal(xsetbv_fake.calls, 0);
}

static void test_xsetbv_from_cpl3_gp(void **state)
{
	(void)state;
	guest_cpl(3);
	xsetbv_exit(0, 1);
	assert_gp0();
	assert_int_equal(xsetbv_fake.calls, 0);
}

static void test_xsetbv_other_xcr_gp(void **state)
{
	(void)state;
	xsetbv_exit(1, 1);
	assert_gp0();
	assert_int_equal(xsetbv_fake.calls, 0);
}

static void test_xsetbv_x87_only_reaches_safe_xsetbv(void **state)
{
	(void)state;
	if (!(host_xcr0_supported() & 1))
		skip(); /* the handler checks the value against the host's CPUID leaf 0xD */
	xsetbv_fake.allowed = 1;
	xsetbv_exit(0, 1);
	assert_completed(3);
	assert_int_equal(xsetbv_fake.index, 0);
	assert_int_equal(xsetbv_fake.value, 1);
}

static void test_xsetbv_fault_injects_gp(void **state)
{
	(void)state;
	if (!(host_xcr0_supported() & 1))
		skip();
	xsetbv_fake.allowed = 1;
	xsetbv_fake.fault = 1;
	xsetbv_exit(0, 1);
	assert_gp0();
}

/* ---- VMX instructions ---- */

static void test_vmx_instructions_ud(void **state)
{
	(void)state;
	const unsigned reasons[] = {
		EXIT_REASON_VMCLEAR, EXIT_REASON_VMLAUNCH, EXIT_REASON_VMPTRLD, EXIT_REASON_VMPTRST,
		EXIT_REASON_VMREAD,  EXIT_REASON_VMRESUME, EXIT_REASON_VMWRITE, EXIT_REASON_VMXOFF,
		EXIT_REASON_VMXON,   EXIT_REASON_INVEPT,   EXIT_REASON_INVVPID, EXIT_REASON_VMFUNC,
	};
	for (unsigned i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		vmcs_fake_reset(NULL);
		vmcs_writenat(VMCS_GUEST_RIP, RIP0);
		vm_exit(reasons[i], 0, 3);
		assert_ud();
		assert_int_equal(cpu0.exits[reasons[i]], 1);
	}
	assert_not_contains(log_text, "unhandled"); /* keel's own handler, not the fallback */
}

/* ---- VMCALL ---- */

static void vmcall(uint64_t nr, uint64_t rbx, uint64_t rcx)
{
	regs.gpr[GPR_RAX] = nr;
	regs.gpr[GPR_RBX] = rbx;
	regs.gpr[GPR_RCX] = rcx;
	vm_exit(EXIT_REASON_VMCALL, 0, 3);
}

static void test_vmcall_seal_from_cpl3_ud(void **state)
{
	(void)state;
	guest_cpl(3);
	vmcall(KEEL_HC_SEAL, 0, 0); /* refused before keel's INVEPT */
	assert_ud();
	assert_int_equal(keel_vm.sealed, 0);
}

static void test_vmcall_version_from_cpl3_allowed(void **state)
{
	(void)state;
	guest_cpl(3);
	vmcall(KEEL_HC_VERSION, 0, 0);
	assert_completed(3);
	assert_int_equal(regs.gpr[GPR_RAX], KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RBX], KEEL_VERSION_CODE);
}

static void test_vmcall_version_from_cpl0(void **state)
{
	(void)state;
	vmcall(KEEL_HC_VERSION, ~0ull, ~0ull);
	assert_completed(3);
	assert_int_equal(regs.gpr[GPR_RAX], 0);
	assert_int_equal(regs.gpr[GPR_RBX], KEEL_VERSION_CODE);
	assert_int_equal(regs.gpr[GPR_RCX], 1);
}

static void test_vmcall_stats_counts_the_call_itself(void **state)
{
	(void)state;
	vmcall(KEEL_HC_STATS, 0, EXIT_REASON_VMCALL);
	assert_int_equal(regs.gpr[GPR_RAX], KEEL_HC_OK);
	assert_int_equal(regs.gpr[GPR_RBX], 1);
	vmcall(KEEL_HC_STATS, 0, KEEL_STATS_TOTAL);
	assert_int_equal(regs.gpr[GPR_RBX], 2);
}

/* ---- guest memory through the guest's page tables (vcpu_read_guest, via KEEL_HC_LOG) ---- */

/* Guest-physical is host-physical under keel's identity EPT; here it is a host address, so the
 * tables and the text live below 4 GiB (MAP_32BIT): PML4, PDPT, PD, PT, then one data page. */
#define GUEST_TEXT_GVA 0x0000000000402000ull
static uint64_t *pages;

static int setup_paging(void **state)
{
	if (setup(state))
		return -1;
	pages = mmap(0, 5 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (pages == MAP_FAILED)
		return -1;
	uint64_t pa = (uint64_t)(uintptr_t)pages;
	uint64_t *pml4 = pages, *pdpt = pages + 512, *pd = pages + 1024, *pt = pages + 1536;
	pml4[(GUEST_TEXT_GVA >> 39) & 511] = (pa + 1 * 4096) | 3;
	pdpt[(GUEST_TEXT_GVA >> 30) & 511] = (pa + 2 * 4096) | 3;
	pd[(GUEST_TEXT_GVA >> 21) & 511] = (pa + 3 * 4096) | 3;
	pt[(GUEST_TEXT_GVA >> 12) & 511] = (pa + 4 * 4096) | 3;
	memcpy((char *)(pages + 2048) + 0x10, "hello\x01keel", 10);
	vmcs_writenat(VMCS_GUEST_CR3, pa);
	keel_vm.ept.map_top = 4ULL << 30; /* as keel maps a machine with less than 4 GiB */
	return 0;
}

/* The paging fixture with the fast path open: SGDT/SIDT/LGDT/LIDT go through vmx_exit_fast. */
static int setup_paging_fast(void **state)
{
	if (setup_paging(state))
		return -1;
	cpu0.fast = 1;
	return 0;
}

static int teardown_paging(void **state)
{
	munmap(pages, 5 * 4096);
	return teardown(state);
}

/* PAE paging switched on by an emulated MOV CR0 (a 32-bit kernel's "PE|NE|WP|PG" write changes NE,
 * which keel owns): the PDPTEs go into the VMCS, where VM entry with EPT takes them. */
static void pae_guest(uint64_t *pdpt)
{
	uint64_t cr0 = CR0_PE | CR0_ET; /* NE clear in the shadow, as after SIPI */
	vmcs_writenat(VMCS_GUEST_CR0, cr0 | CR0_NE);
	vmcs_writenat(VMCS_CR0_SHADOW, cr0);
	guest_cr4(CR4_PAE);
	vmcs_write64(VMCS_GUEST_EFER, 0);
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32);
	vmcs_write32(VMCS_ENTRY_CONTROLS, ENTRY_LOAD_EFER);
	vmcs_writenat(VMCS_GUEST_CR3, (uint64_t)(uintptr_t)pdpt);
	regs.gpr[GPR_RAX] = cr0 | CR0_NE | CR0_WP | CR0_PG;
}

static void test_mov_cr0_enabling_pae_paging_loads_pdptes(void **state)
{
	(void)state;
	uint64_t *pdpt = pages + 2048 + 64; /* 32-byte aligned, in the data page */
	pdpt[0] = 0x1001;
	pdpt[1] = 0;
	pdpt[2] = 0x3001;
	pdpt[3] = 0x4001;
	pae_guest(pdpt);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, 0, GPR_RAX), 3);
	assert_completed(3);
	assert_int_equal(vmcs_read_raw(VMCS_GUEST_PDPTE0), 0x1001);
	assert_int_equal(vmcs_read_raw(VMCS_GUEST_PDPTE0 + 4), 0x3001);
	assert_int_equal(vmcs_read_raw(VMCS_GUEST_PDPTE0 + 6), 0x4001);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_CONTROLS), ENTRY_LOAD_EFER); /* not IA-32e */
}

static void test_mov_cr0_pae_reserved_pdpte_gp(void **state)
{
	(void)state;
	uint64_t *pdpt = pages + 2048 + 64;
	pdpt[0] = 0x1001;
	pdpt[1] = 0x2003; /* R/W is reserved in a PDPTE */
	pdpt[2] = pdpt[3] = 0;
	pae_guest(pdpt);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, 0, GPR_RAX), 3);
	assert_gp0();
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), CR0_PE | CR0_ET);
	assert_false(vmcs_fake_written(VMCS_GUEST_PDPTE0));
}

static void test_vmcall_log_reads_guest_virtual_memory(void **state)
{
	(void)state;
	vmcall(KEEL_HC_LOG, GUEST_TEXT_GVA + 0x10, 10);
	assert_completed(3);
	assert_int_equal(regs.gpr[GPR_RAX], KEEL_HC_OK);
	assert_contains(log_text, "guest cpu0 says: hello.keel\n");
}

static void test_vmcall_log_unmapped_address_efault(void **state)
{
	(void)state;
	vmcall(KEEL_HC_LOG, GUEST_TEXT_GVA + 4096, 4); /* the next page: no PTE */
	assert_completed(3);
	assert_int_equal(regs.gpr[GPR_RAX], (uint64_t)KEEL_HC_EFAULT);
}

static void test_vmcall_log_from_keel_hidden_page_efault(void **state)
{
	(void)state;
	assert_int_equal(ept_hide(&keel_vm.ept, (uint64_t)(uintptr_t)(pages + 2048), 4096), 0);
	vmcall(KEEL_HC_LOG, GUEST_TEXT_GVA + 0x10, 10);
	assert_int_equal(regs.gpr[GPR_RAX], (uint64_t)KEEL_HC_EFAULT);
	assert_not_contains(log_text, "says");
}

/* A guest PTE may name any address; keel reads only what its EPT map covers (not a device above). */
static void test_vmcall_log_beyond_ept_map_efault(void **state)
{
	(void)state;
	uint64_t *pt = pages + 1536;
	pt[(GUEST_TEXT_GVA >> 12) & 511] = (keel_vm.ept.map_top + 0x1000) | 3;
	vmcall(KEEL_HC_LOG, GUEST_TEXT_GVA + 0x10, 10);
	assert_int_equal(regs.gpr[GPR_RAX], (uint64_t)KEEL_HC_EFAULT);
	keel_vm.ept.map_top = (uint64_t)(uintptr_t)(pages + 2048) + 0x14; /* now the text crosses the top */
	pt[(GUEST_TEXT_GVA >> 12) & 511] = (uint64_t)(uintptr_t)(pages + 2048) | 3;
	vmcall(KEEL_HC_LOG, GUEST_TEXT_GVA + 0x10, 10);
	assert_int_equal(regs.gpr[GPR_RAX], (uint64_t)KEEL_HC_EFAULT);
	assert_not_contains(log_text, "says");
}

static void test_vmcall_log_hidden_page_table_efault(void **state)
{
	(void)state;
	assert_int_equal(ept_hide(&keel_vm.ept, (uint64_t)(uintptr_t)(pages + 1536), 4096), 0); /* the PT */
	vmcall(KEEL_HC_LOG, GUEST_TEXT_GVA + 0x10, 10);
	assert_int_equal(regs.gpr[GPR_RAX], (uint64_t)KEEL_HC_EFAULT);
}

static void test_vmcall_log_from_cpl3_ud(void **state)
{
	(void)state;
	guest_cpl(3);
	vmcall(KEEL_HC_LOG, GUEST_TEXT_GVA + 0x10, 10); /* readable: only the CPL check refuses it */
	assert_ud();
	assert_int_equal(regs.gpr[GPR_RAX], KEEL_HC_LOG);
	assert_not_contains(log_text, "says");
}

/* ---- the fast path (v->fast; vmm/exit.c exit_fast) ---- */

/* What vmm/host.c records for an NMI in root, without the zero-tick timer (cases arm it apart). */
static void nmi_hits_root(void)
{
	cpu0.nmi_pending = 1;
	vcpu_make_slow(&cpu0);
}

/* The first exit proves the launch; with nothing pending the vCPU goes fast, and the stub's CPUID
 * mask opens to the cached leaves. */
static void test_fast_path_opens_after_a_clean_slow_exit(void **state)
{
	(void)state;
	cpu0.cpuid_cached = 0x61; /* leaves 0, 5, 6 */
	assert_int_equal(cpu0.fast, 0);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(cpu0.fast, 1);
	assert_int_equal(cpu0.cpuid_fast_mask, 0x61);
	nmi_hits_root();
	assert_int_equal(cpu0.fast, 0);
	assert_int_equal(cpu0.cpuid_fast_mask, 0);
}

/* Each kind of pending work keeps the next exit slow. */
static void test_fast_path_closed_while_work_is_pending(void **state)
{
	(void)state;
	cpu0.cpuid_cached = 1;
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(cpu0.fast, 1);
	keel_vm.sealed = 1; /* another CPU sealed: this one has not flushed yet */
	exit_fast_refresh(&cpu0);
	assert_int_equal(cpu0.fast, 0);
	keel_vm.sealed = 0;
	cpu0.sipi_vector = 6;
	exit_fast_refresh(&cpu0);
	assert_int_equal(cpu0.fast, 0);
	cpu0.sipi_vector = -1;
	keel_vm.break_mask = VMM_BREAK_EXIT;
	exit_fast_refresh(&cpu0);
	assert_int_equal(cpu0.fast, 0);
	keel_vm.break_mask = 0;
	keel_vm.ept.dev_gen = 1; /* another CPU reclaimed device mappings */
	exit_fast_refresh(&cpu0);
	assert_int_equal(cpu0.fast, 0);
	keel_vm.ept.dev_gen = 0;
	exit_fast_refresh(&cpu0);
	assert_int_equal(cpu0.fast, 1);
}

/* A fast RDMSR of IA32_FEATURE_CONTROL answers from the vCPU's cached view: no RDMSR in root. */
static void test_fast_rdmsr_feature_control_from_cache(void **state)
{
	(void)state;
	cpu0.fast = 1;
	cpu0.feature_control = FEATURE_CONTROL_LOCK | BIT(20);
	rdmsr_fake.allowed = 0; /* any safe_rdmsr fails the case */
	msr_exit(EXIT_REASON_MSR_READ, 0x3A, ~0ull, ~0ull);
	assert_completed(2);
	assert_int_equal(regs.gpr[GPR_RAX], 0x1 | BIT(20));
	assert_int_equal(regs.gpr[GPR_RDX], 0);
	assert_int_equal(cpu0.exits[EXIT_REASON_MSR_READ], 1);
}

/* The fast path completes like the slow one: STI blocking dropped, TF's single-step kept pending. */
static void test_fast_path_keeps_shadow_and_single_step_rules(void **state)
{
	(void)state;
	cpu0.fast = 1;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI | INTERRUPTIBILITY_NMI);
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_TF);
	regs.gpr[GPR_RAX] = KEEL_HC_NOP;
	vm_exit(EXIT_REASON_VMCALL, 0, 3);
	assert_int_equal(rip(), RIP0 + 3);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), INTERRUPTIBILITY_NMI);
	assert_true(vmcs_readnat(VMCS_GUEST_PENDING_DBG) & BIT(14));
	assert_int_equal(regs.gpr[GPR_RAX], KEEL_HC_OK);
	assert_int_equal(cpu0.exits[EXIT_REASON_VMCALL], 1);
}

/* What the fast path does not complete (here a fault: RDMSR of a hidden VMX capability MSR) goes
 * to the slow path, which handles it in full. */
static void test_fast_path_hands_faults_to_slow_path(void **state)
{
	(void)state;
	cpu0.fast = 1;
	regs.gpr[GPR_RCX] = MSR_IA32_VMX_BASIC;
	assert_int_not_equal(vmx_exit_fast(&cpu0, &regs, EXIT_REASON_MSR_READ), 0);
	msr_exit(EXIT_REASON_MSR_READ, MSR_IA32_VMX_BASIC, ~0ull, ~0ull);
	assert_gp0();
	assert_int_equal(cpu0.in_root, 0);
}

/* ---- NMIs that arrive in VMX root (host_exception sets nmi_pending) ---- */

#define ENTRY_NMI 0x80000202u /* valid, type 2 (NMI), vector 2 */


static void test_pending_nmi_injected_at_exit_end(void **state)
{
	(void)state;
	nmi_hits_root();
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_NMI);
	assert_int_equal(rip(), RIP0 + 2); /* the CPUID completed; the NMI is delivered before the next one */
	assert_int_equal(cpu0.nmi_pending, 0);
}

/* While the guest runs its NMI handler (blocking by NMI, until IRET) the NMI waits. */
static void test_pending_nmi_waits_for_guest_iret(void **state)
{
	(void)state;
	nmi_hits_root();
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_NMI);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	assert_int_equal(cpu0.nmi_pending, 1);
	assert_int_equal(cpu0.nmi_timer, 0); /* no preemption timer in these capabilities */
	assert_false(vmcs_fake_written(VMCS_PIN_CONTROLS));

	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0); /* the guest's IRET */
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_NMI);
	assert_int_equal(cpu0.nmi_pending, 0);
}

/* With a preemption timer, a blocked NMI brings the CPU back soon: the timer exit retries it and
 * turns the timer off again (it is not the statistics clock here). */
static void test_pending_nmi_retried_by_preemption_timer(void **state)
{
	(void)state;
	keel_vm.caps.pinbased = (uint64_t)PIN_PREEMPTION_TIMER << 32; /* allowed-1 */
	vmcs_write32(VMCS_PIN_CONTROLS, 0x16);
	nmi_hits_root();
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_NMI);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	assert_int_equal(vmcs_read32(VMCS_PIN_CONTROLS), 0x16 | PIN_PREEMPTION_TIMER);
	assert_int_equal(vmcs_read32(VMCS_PREEMPTION_TIMER), 1024);
	assert_int_equal(cpu0.nmi_timer, 1);

	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0); /* the guest's IRET, then the timer fires */
	vm_exit(EXIT_REASON_PREEMPTION_TIMER, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_NMI);
	assert_int_equal(vmcs_read32(VMCS_PIN_CONTROLS), 0x16);
	assert_int_equal(cpu0.nmi_timer, 0);
	assert_int_equal(cpu0.nmi_pending, 0);
	assert_not_contains(log_text, "exit statistics");
	assert_int_equal(rip(), RIP0 + 2); /* the timer exit moved nothing */

	/* Delivered by an unrelated exit before the timer fires: the timer goes off with it. (Every
	 * VM exit clears the valid bit of the entry interruption information; the fake does not.) */
	nmi_hits_root();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_NMI);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(cpu0.nmi_timer, 1);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_NMI);
	assert_int_equal(cpu0.nmi_timer, 0);
	assert_int_equal(vmcs_read32(VMCS_PIN_CONTROLS), 0x16);
}

/* MOV-SS blocking ends with the instruction keel completes: the NMI goes in at once. A fault
 * leaves the instruction (and the blocking) in place: then the NMI waits. */
static void test_pending_nmi_after_mov_ss_shadow(void **state)
{
	(void)state;
	nmi_hits_root();
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_MOV_SS);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_NMI);
	assert_int_equal(cpu0.nmi_pending, 0);
}

/* A halted guest takes an NMI (injection into the HLT activity state is allowed) and wakes. */
static void test_pending_nmi_injected_into_hlt(void **state)
{
	(void)state;
	nmi_hits_root();
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
	vm_exit(EXIT_REASON_PREEMPTION_TIMER, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_NMI);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
	assert_int_equal(cpu0.nmi_pending, 0);
}

/* A machine check that hit keel in root is the guest's: #MC (abort class: no RF, no error code). */
static void test_machine_check_in_root_goes_to_guest(void **state)
{
	(void)state;
	cpu0.mc_pending = 1, vcpu_make_slow(&cpu0);
	vm_exit(EXIT_REASON_CPUID, 0, 2);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000312u); /* valid, hw exception, 18 */
	assert_false(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_RF);
	assert_int_equal(cpu0.mc_pending, 0);
}

/* A machine check during VM entry (exit reason 41, bit 31): the guest gets #MC, keel carries on. */
static void test_machine_check_during_entry_reflected(void **state)
{
	(void)state;
	cpu0.launched = 1;
	vm_exit(EXIT_REASON_FAILED_ENTRY | EXIT_REASON_MCE_DURING_ENTRY, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000312u);
	assert_int_equal(cpu0.exits[EXIT_REASON_MCE_DURING_ENTRY], 1);
	assert_int_equal(rip(), RIP0);
}

/* INIT resets the CPU: a held NMI does not survive into the restarted context. */
static void test_init_drops_pending_nmi(void **state)
{
	(void)state;
	nmi_hits_root();
	vm_exit(EXIT_REASON_INIT, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
	assert_int_equal(cpu0.nmi_pending, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
}

/* A fault the handler injects goes first; the NMI waits for a later exit. */
static void test_pending_nmi_waits_behind_injected_fault(void **state)
{
	(void)state;
	nmi_hits_root();
	vm_exit(EXIT_REASON_VMXON, 0, 4);
	assert_ud();
	assert_int_equal(cpu0.nmi_pending, 1);
}

/* ---- port I/O (the fake CPU records IN/OUT) ---- */

#define IOQ_OUTSB_REP_E9 ((0xE9ull << 16) | BIT(5) | BIT(4)) /* size 1, out, string, REP */
#define IOQ_INSB_REP_E9 (IOQ_OUTSB_REP_E9 | BIT(3))

/* A string I/O exit with 64-bit addressing (instruction information bits 9:7 = 2, SDM table 27-8). */
static void string_io_exit(uint64_t qualification)
{
	vmcs_write32(VMCS_EXIT_INSTR_INFO, 2u << 7);
	vm_exit(EXIT_REASON_IO_INSTRUCTION, qualification, 2);
}

static void test_rep_outs_with_zero_count_completes_without_access(void **state)
{
	(void)state;
	regs.gpr[GPR_RCX] = 0;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA;
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_completed(2);
	assert_int_equal(regs.gpr[GPR_RSI], GUEST_TEXT_GVA);
}

/* #PF(error) with CR2 = addr, RIP on the instruction. */
static void assert_pf(uint64_t addr, uint32_t error)
{
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000B0Eu); /* valid, type 3, code, vector 14 */
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), error);
	assert_int_equal(cpu_fake_cr[2], addr);
	assert_int_equal(rip(), RIP0);
}

static void test_outs_from_unmapped_memory_pf(void **state)
{
	(void)state;
	regs.gpr[GPR_RCX] = 3;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 4096; /* no PTE: #PF before the first OUT */
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_pf(GUEST_TEXT_GVA + 4096, 0); /* not present, read, supervisor */
	assert_int_equal(regs.gpr[GPR_RCX], 3);
	assert_int_equal(nport_ops, 0);
}

static void test_rep_outsb_writes_each_byte_and_completes(void **state)
{
	(void)state;
	regs.gpr[GPR_RCX] = 5;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 0x10; /* "hello" */
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_completed(2);
	assert_int_equal(nport_ops, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(port_ops[i].port, 0xE9);
		assert_int_equal(port_ops[i].size, 1);
		assert_false(port_ops[i].in);
		assert_int_equal(port_ops[i].value, (uint8_t)"hello"[i]);
	}
	assert_int_equal(regs.gpr[GPR_RSI], GUEST_TEXT_GVA + 0x15);
	assert_int_equal(regs.gpr[GPR_RCX], 0);
}

/* A REP OUTSB that runs into an unmapped page: the bytes before it go out, RCX and RSI stop at the
 * faulting element, and #PF is raised there (through the fast path: it moves the first bytes,
 * then leaves the fault to the slow path, which must not send them again). */
static void test_rep_outsb_faults_mid_string_after_the_first_bytes(void **state)
{
	(void)state;
	regs.gpr[GPR_RCX] = 6;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 4096 - 2;
	memcpy((char *)(pages + 2048) + 4096 - 2, "ok", 2); /* the data page's last two bytes */
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_pf(GUEST_TEXT_GVA + 4096, 0);
	assert_int_equal(nport_ops, 2);
	assert_int_equal(port_ops[0].value, 'o');
	assert_int_equal(port_ops[1].value, 'k');
	assert_int_equal(regs.gpr[GPR_RCX], 4);
	assert_int_equal(regs.gpr[GPR_RSI], GUEST_TEXT_GVA + 4096);
}

/* REP OUTSW whose third word crosses into an unmapped page: io_string moves the words after the
 * first through the page it walked only while each lies wholly inside it, so the second goes out
 * from there and the third is walked (and faults) on its own. */
static void test_rep_outsw_run_stops_before_the_word_that_crosses_the_page(void **state)
{
	(void)state;
	regs.gpr[GPR_RCX] = 3;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 4096 - 5;
	memcpy((char *)(pages + 2048) + 4096 - 5, "abcd", 4);
	string_io_exit(IOQ_OUTSB_REP_E9 | 1); /* size 2 */
	assert_pf(GUEST_TEXT_GVA + 4096, 0);
	assert_int_equal(nport_ops, 2);
	assert_int_equal(port_ops[0].value, 'a' | 'b' << 8);
	assert_int_equal(port_ops[1].value, 'c' | 'd' << 8);
	assert_int_equal(regs.gpr[GPR_RCX], 1);
	assert_int_equal(regs.gpr[GPR_RSI], GUEST_TEXT_GVA + 4096 - 1);
}

/* REP OUTSB with RFLAGS.DF = 1 from the second byte of the page: the run goes down to the page's
 * first byte and no further; the next byte, in the unmapped page below, faults. */
static void test_rep_outsb_backward_stops_at_the_page_start(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_IF | RFLAGS_DF);
	memcpy(pages + 2048, "xy", 2);
	regs.gpr[GPR_RCX] = 3;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 1;
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_pf(GUEST_TEXT_GVA - 1, 0);
	assert_int_equal(nport_ops, 2);
	assert_int_equal(port_ops[0].value, 'y');
	assert_int_equal(port_ops[1].value, 'x');
	assert_int_equal(regs.gpr[GPR_RCX], 1);
	assert_int_equal(regs.gpr[GPR_RSI], GUEST_TEXT_GVA - 1);
}

/* REP OUTSB with RFLAGS.DF = 1 inside the page: every byte, in reverse order. */
static void test_rep_outsb_backward_sends_in_reverse(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_IF | RFLAGS_DF);
	regs.gpr[GPR_RCX] = 5;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 0x14; /* the "o" of "hello" */
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_completed(2);
	assert_int_equal(nport_ops, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(port_ops[i].value, (uint8_t)"olleh"[i]);
	assert_int_equal(regs.gpr[GPR_RSI], GUEST_TEXT_GVA + 0xF);
	assert_int_equal(regs.gpr[GPR_RCX], 0);
}

/* INS into a read-only page with CR0.WP: #PF(P|W) after the port read, memory unchanged. */
static void test_ins_into_read_only_page_pf(void **state)
{
	(void)state;
	uint64_t *pt = pages + 1536;
	pt[(GUEST_TEXT_GVA >> 12) & 511] &= ~2ULL; /* R/W = 0 */
	port_in_value = 0x41;
	regs.gpr[GPR_RCX] = 1;
	regs.gpr[GPR_RDI] = GUEST_TEXT_GVA + 0x10;
	string_io_exit(IOQ_INSB_REP_E9); /* INSB */
	assert_pf(GUEST_TEXT_GVA + 0x10, 3);
	assert_int_equal(((char *)(pages + 2048))[0x10], 'h');
	assert_int_equal(regs.gpr[GPR_RDI], GUEST_TEXT_GVA + 0x10);
}

static void test_ins_writes_guest_memory(void **state)
{
	(void)state;
	port_in_value = 0x41;
	regs.gpr[GPR_RCX] = 2;
	regs.gpr[GPR_RDI] = GUEST_TEXT_GVA + 0x10;
	string_io_exit(IOQ_INSB_REP_E9);
	assert_completed(2);
	assert_int_equal(nport_ops, 2);
	assert_true(port_ops[0].in);
	assert_memory_equal((char *)(pages + 2048) + 0x10, "AAllo", 5);
}

/* At CPL 3 the page must be user-accessible at every level: #PF(P|U) otherwise. */
static void test_outs_at_cpl3_from_supervisor_page_pf(void **state)
{
	(void)state;
	guest_cpl(3);
	regs.gpr[GPR_RCX] = 1;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 0x10;
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_pf(GUEST_TEXT_GVA + 0x10, 5);
	assert_int_equal(nport_ops, 0);
}

static void set_user_pages(void)
{
	for (unsigned i = 0; i < 4; i++)
		pages[512 * i + ((GUEST_TEXT_GVA >> (39 - 9 * i)) & 511)] |= 4; /* U/S at each level */
}

static void test_outs_at_cpl3_from_user_page_completes(void **state)
{
	(void)state;
	set_user_pages();
	guest_cpl(3);
	regs.gpr[GPR_RCX] = 1;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 0x10;
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_completed(2);
	assert_int_equal(nport_ops, 1);
}

/* SMAP: a supervisor OUTS from a user page faults unless RFLAGS.AC is set. */
static void test_outs_smap(void **state)
{
	(void)state;
	set_user_pages();
	guest_cr4(GUEST_CR4 | CR4_SMAP);
	regs.gpr[GPR_RCX] = 1;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 0x10;
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_pf(GUEST_TEXT_GVA + 0x10, 1);

	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_writenat(VMCS_GUEST_RFLAGS, vmcs_readnat(VMCS_GUEST_RFLAGS) | RFLAGS_AC);
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	assert_int_equal(rip(), RIP0 + 2);
	assert_int_equal(nport_ops, 1);
}

/* ---- string I/O under 32-bit and PAE paging ---- */

/* A 32-bit guest at CPL 0 (EFER 0, no IA-32e entry) with paging; OUTSB with 32-bit addressing. */
static void guest_paging32(uint64_t cr3, uint64_t cr4_extra)
{
	vmcs_write64(VMCS_GUEST_EFER, 0);
	vmcs_write32(VMCS_ENTRY_CONTROLS, ENTRY_LOAD_EFER);
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32);
	guest_cr4(CR4_OSFXSR | cr4_extra);
	vmcs_writenat(VMCS_GUEST_CR3, cr3);
}

static void outsb32(uint64_t gva, unsigned count)
{
	regs.gpr[GPR_RCX] = count;
	regs.gpr[GPR_RSI] = gva;
	vmcs_write32(VMCS_EXIT_INSTR_INFO, 1u << 7); /* 32-bit address size */
	vm_exit(EXIT_REASON_IO_INSTRUCTION, IOQ_OUTSB_REP_E9, 2);
}

static void assert_outs_hello(void)
{
	assert_completed(2);
	assert_int_equal(nport_ops, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(port_ops[i].value, (uint8_t)"hello"[i]);
}

/* Four pages below 4 GiB: a page directory, a page table, data ("hello" at 0x10), a PAE PD. */
static uint8_t *low_pages(void)
{
	uint8_t *p = mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	assert_true(p != MAP_FAILED);
	memcpy(p + 2 * 4096 + 0x10, "hello", 5);
	return p;
}

static uint64_t pa(const void *p) { return (uint64_t)(uintptr_t)p; }

/* 32-bit paging, 4 KiB pages: PDE (4 bytes) -> PTE (4 bytes) -> page. A PS bit without CR4.PSE
 * is ignored: the PDE still points at a page table. */
static void test_outs_32bit_paging(void **state)
{
	(void)state;
	uint8_t *p = low_pages();
	uint32_t *pd = (uint32_t *)p, *pt = (uint32_t *)(p + 4096);
	uint64_t gva = 0x00403000;
	pd[gva >> 22] = (uint32_t)pa(pt) | 0x83; /* P, RW, PS (ignored: CR4.PSE is 0) */
	pt[(gva >> 12) & 1023] = (uint32_t)pa(p + 2 * 4096) | 3;
	guest_paging32(pa(pd), 0);
	outsb32(gva + 0x10, 5);
	assert_outs_hello();
	munmap(p, 4 * 4096);
}

/* 32-bit paging with CR4.PSE: a 4 MiB page straight from the PDE. */
static void test_outs_32bit_paging_4m_page(void **state)
{
	(void)state;
	uint8_t *p = low_pages();
	uint8_t *big = mmap(0, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	assert_true(big != MAP_FAILED);
	uint64_t base = (pa(big) + (4 << 20) - 1) & ~((4ULL << 20) - 1); /* 4 MiB aligned, inside */
	memcpy((void *)(uintptr_t)(base + 0x1234), "hello", 5);
	uint32_t *pd = (uint32_t *)p;
	pd[3] = (uint32_t)base | 0x83;
	guest_paging32(pa(pd), CR4_PSE);
	outsb32((3ULL << 22) + 0x1234, 5);
	assert_outs_hello();
	munmap(big, 8 << 20);
	munmap(p, 4 * 4096);
}

/* PAE paging: the PDPTE comes from the VMCS (saved there on exit with EPT), then 8-byte PDE and
 * PTE. A PDPTE that is not present is a #PF. */
static void test_outs_pae_paging(void **state)
{
	(void)state;
	uint8_t *p = low_pages();
	uint64_t *pd = (uint64_t *)(p + 3 * 4096), *pt = (uint64_t *)(p + 4096);
	uint64_t gva = 0x40403000; /* PDPTE 1, PDE 2, PTE 3 */
	memset(pt, 0, 4096);
	pd[(gva >> 21) & 511] = pa(pt) | 3;
	pt[(gva >> 12) & 511] = pa(p + 2 * 4096) | 3;
	vmcs_write64(VMCS_GUEST_PDPTE0, 0);
	vmcs_write_raw(VMCS_GUEST_PDPTE0 + 2, pa(pd) | 1);
	guest_paging32(0x1000, CR4_PAE);
	outsb32(gva + 0x10, 5);
	assert_outs_hello();

	nport_ops = 0;
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	outsb32(0x00003010, 1); /* PDPTE 0: not present */
	assert_pf(0x00003010, 0);
	assert_int_equal(nport_ops, 0);
	munmap(p, 4 * 4096);
}

/* 16-bit addressing: SI wraps from 0xFFFF to 0 inside one REP OUTSB, and the byte after the wrap
 * comes from DS.base + 0, 64 KiB below, not from the next byte of the page the run was in. */
static void test_rep_outsb_16bit_index_wraps_to_the_segment_start(void **state)
{
	(void)state;
	uint8_t *p = low_pages();
	uint32_t *pd = (uint32_t *)p, *pt = (uint32_t *)(p + 4096);
	pd[1] = (uint32_t)pa(pt) | 3;                 /* 0x400000-0x7FFFFF */
	pt[0] = (uint32_t)pa(p + 2 * 4096) | 3;       /* 0x400000: "hello" at 0x10 */
	pt[0x10] = (uint32_t)pa(p + 3 * 4096) | 3;    /* 0x410000 */
	memcpy(p + 3 * 4096 + 0xE, "AB", 2);          /* DS.base + 0xFFFE, 0xFFFF */
	guest_paging32(pa(pd), 0);
	vmcs_writenat(VMCS_GUEST_DS_BASE, 0x400010);
	regs.gpr[GPR_RCX] = 4;
	regs.gpr[GPR_RSI] = 0xFFFE;
	vmcs_write32(VMCS_EXIT_INSTR_INFO, 0); /* 16-bit address size */
	vm_exit(EXIT_REASON_IO_INSTRUCTION, IOQ_OUTSB_REP_E9, 2);
	assert_completed(2);
	assert_int_equal(nport_ops, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(port_ops[i].value, (uint8_t)"ABhe"[i]);
	assert_int_equal(regs.gpr[GPR_RSI], 2);
	assert_int_equal(regs.gpr[GPR_RCX], 0);
	munmap(p, 4 * 4096);
}

/* keel's own memory is refused with #GP, as before the seal (docs/memory.md). */
static void test_outs_from_keel_hidden_page_gp(void **state)
{
	(void)state;
	assert_int_equal(ept_hide(&keel_vm.ept, (uint64_t)(uintptr_t)(pages + 2048), 4096), 0);
	regs.gpr[GPR_RCX] = 1;
	regs.gpr[GPR_RSI] = GUEST_TEXT_GVA + 0x10;
	string_io_exit(IOQ_OUTSB_REP_E9);
	assert_gp0();
	assert_int_equal(nport_ops, 0);
}

/* ---- INIT and SIPI ---- */

static void test_sipi_starts_real_mode_at_vector(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_SIPI, 0x9A, 0);
	assert_int_equal(cpu0.sipi_vector, 0x9A);
	assert_int_equal(vmcs_read16(VMCS_GUEST_CS_SEL), 0x9A00);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CS_BASE), 0x9A000);
	assert_int_equal(rip(), 0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), CR0_ET | CR0_CD | CR0_NW);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR0), CR0_ET | CR0_CD | CR0_NW | CR0_NE);
	assert_int_equal(vmcs_read64(VMCS_GUEST_EFER), 0);
	assert_false(vmcs_read32(VMCS_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
}

static void test_init_parks_in_wait_for_sipi(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 16; i++)
		regs.gpr[i] = 0x100 + i;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI);
	vm_exit(EXIT_REASON_INIT, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(regs.gpr[i], 0);
}

static void test_init_right_after_sipi_ignored(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_SIPI, 0x9A, 0);
	regs.gpr[GPR_RAX] = 0x55;
	vm_exit(EXIT_REASON_INIT, 0, 0); /* Bochs 2.7's echo: the AP has not run yet */
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
	assert_int_equal(vmcs_read16(VMCS_GUEST_CS_SEL), 0x9A00);
	assert_int_equal(regs.gpr[GPR_RAX], 0x55);
	assert_int_equal(cpu0.sipi_vector, -1);
	assert_contains(log_text, "INIT right after SIPI ignored");
}

static void test_init_after_started_cpu_ran_parks_it(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_SIPI, 0x9A, 0);
	regs.gpr[GPR_RAX] = KEEL_CPUID_LEAF;
	vm_exit(EXIT_REASON_CPUID, 0, 2); /* the AP ran an instruction */
	vmcs_writenat(VMCS_GUEST_RIP, 0);
	vm_exit(EXIT_REASON_INIT, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
	assert_not_contains(log_text, "ignored");
}

/* ---- INIT and SIPI through the sender's ICR (vmm/sipi.c) ---- */

/* Defect 9: a SIPI sent while the target was still in keel's INIT handler (in VMX root, where the
 * CPU drops it) was lost, and the AP stayed in wait-for-SIPI. The sender's side records it; the
 * INIT handler starts the CPU at its vector instead of parking it. */
static void test_sipi_during_init_handler_not_lost(void **state)
{
	(void)state;
	sipi_note_init(&cpu0);          /* the sender's INIT to cpu0 */
	sipi_note_pending(&cpu0, 0x9A); /* its SIPI, while cpu0 has not parked yet */
	vm_exit(EXIT_REASON_INIT, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
	assert_int_equal(vmcs_read16(VMCS_GUEST_CS_SEL), 0x9A00);
	assert_int_equal(rip(), 0);
	assert_int_equal(cpu0.sipi_vector, 0x9A);
	assert_int_equal(cpu0.sipis_from_root, 1);
	assert_contains(log_text, "SIPI (vector 0x9a) sent during keel's INIT handling taken there");
	/* The second SIPI of INIT-SIPI-SIPI finds the CPU started: nothing recorded for later. */
	sipi_note_pending(&cpu0, 0x9A);
	assert_int_equal(cpu0.sipi_pending, 0);
}

/* A SIPI to a CPU that had no INIT since it last started is ignored, as by hardware. */
static void test_sipi_to_running_cpu_not_recorded(void **state)
{
	(void)state;
	sipi_note_pending(&cpu0, 0x9A);
	assert_int_equal(cpu0.sipi_pending, 0);
	vm_exit(EXIT_REASON_INIT, 0, 0); /* an INIT keel did not forward: parks as before */
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
}

/* A SIPI recorded for one INIT does not start the CPU at a later INIT. */
static void test_recorded_sipi_belongs_to_its_init(void **state)
{
	(void)state;
	sipi_note_init(&cpu0);
	vm_exit(EXIT_REASON_INIT, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
	sipi_note_pending(&cpu0, 0x9A); /* cpu0 waits: the real SIPI exits too */
	vm_exit(EXIT_REASON_SIPI, 0x9A, 0);
	assert_int_equal(cpu0.sipi_pending, 0);
	vmcs_writenat(VMCS_GUEST_RIP, 0x1234); /* it ran */
	__atomic_store_n(&cpu0.sipi_pending, (uint64_t)cpu0.init_gen << 32 | 0x100 | 0x9A, __ATOMIC_SEQ_CST);
	sipi_note_init(&cpu0); /* a new INIT: the old record is stale */
	vm_exit(EXIT_REASON_INIT, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
}

static void test_decode_apic_stores(void **state)
{
	(void)state;
	struct apic_store st;
	/* mov %edx,(%rcx) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x89\x11", 2, 1, &st), 0);
	assert_int_equal(st.len, 2);
	assert_int_equal(st.src, GPR_RDX);
	assert_false(st.xchg);
	/* mov %eax,0xffffffffff5fc300 (Linux's native_apic_mem_write: SIB, no base, disp32) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x89\x04\x25\x00\xc3\x5f\xff", 7, 1, &st), 0);
	assert_int_equal(st.len, 7);
	assert_int_equal(st.src, GPR_RAX);
	/* mov %r9d,0x300(%r8) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x45\x89\x88\x00\x03\x00\x00", 7, 1, &st), 0);
	assert_int_equal(st.len, 7);
	assert_int_equal(st.src, 9);
	/* mov %esi,0x10(%rax,%rbx,4) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x89\x74\x98\x10", 4, 1, &st), 0);
	assert_int_equal(st.len, 4);
	assert_int_equal(st.src, GPR_RSI);
	/* movl $0xc4500,0x300(%rip) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\xc7\x05\xf0\x02\x00\x00\x00\x45\x0c\x00", 10, 1, &st), 0);
	assert_int_equal(st.len, 10);
	assert_int_equal(st.src, -1);
	assert_int_equal(st.imm, 0xC4500);
	/* ds: xchg %eax,(%rdi) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x3e\x87\x07", 3, 1, &st), 0);
	assert_int_equal(st.len, 3);
	assert_true(st.xchg);
	/* 32-bit code: mov %eax,0xfee00300 (no REX: 0x40 is INC EAX there, not a prefix) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x89\x05\x00\x03\xe0\xfe", 6, 0, &st), 0);
	assert_int_equal(st.len, 6);
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x40\x89\x05\x00\x03\xe0\xfe", 7, 0, &st), -1);
	/* refused: REX.W (64-bit store), a 16-bit operand, a register destination, OR, truncated */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x48\x89\x11", 3, 1, &st), -1);
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x66\x89\x11", 3, 1, &st), -1);
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x89\xd1", 2, 1, &st), -1);
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x09\x11", 2, 1, &st), -1);
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x89\x04\x25\x00\xc3", 5, 1, &st), -1);
	/* 16-bit addressing (0x67 in 32-bit code) */
	assert_int_equal(sipi_decode_apic_store((const uint8_t *)"\x67\x89\x07", 3, 0, &st), -1);
}

/* Three more CPUs and a fake xAPIC register page for the ICR cases. */
static struct vcpu ap[3];
static uint32_t fake_apic[1024] __attribute__((aligned(4096)));
#define FAKE_APIC_GPA 0xFEE00000ull

static void four_cpus(void)
{
	for (unsigned i = 0; i < 3; i++) {
		memset(&ap[i], 0, sizeof(ap[i]));
		ap[i].vm = &keel_vm;
		ap[i].index = i + 1;
		ap[i].apic_id = i + 1;
		ap[i].launched = 1;
		keel_vm.vcpus[i + 1] = &ap[i];
	}
	keel_vm.ncpus = keel_vm.nvirt = 4;
	memset(fake_apic, 0, sizeof(fake_apic));
	keel_vm.apic_regs = (volatile uint8_t *)fake_apic;
	keel_vm.apic_page = FAKE_APIC_GPA;
}

static unsigned targets(uint32_t lo, uint32_t dest)
{
	struct vcpu *t[8];
	return sipi_icr_targets(&keel_vm, &cpu0, lo, dest, 0, t, 8);
}

static void test_icr_targets(void **state)
{
	(void)state;
	four_cpus();
	assert_int_equal(targets(0x000C4687, 0), 3); /* SIPI, all excluding self */
	assert_int_equal(targets(0x00084687, 0), 3); /* all including self: the sender is not started */
	assert_int_equal(targets(0x00004687, 2), 1); /* physical destination 2 */
	assert_int_equal(targets(0x00004687, 0xFF), 3); /* physical broadcast */
	assert_int_equal(targets(0x00004687, 7), 0);
	assert_int_equal(targets(0x00004E87, 2), 0); /* logical: left to the hardware */
	assert_int_equal(targets(0x00044687, 0), 0); /* self */
	ap[2].launched = 0;
	assert_int_equal(targets(0x000C4687, 0), 2);
}

/* OVMF's ExitBootServices SIPI to all APs, mov %eax,(%rdx) into ICR low: keel records it for every
 * AP and sends it to each AP on its own (Bochs 3.0 delivers a broadcast SIPI to the first waiting
 * AP only: vmm/sipi.c), then leaves ICR high as the guest had it. */
static void test_broadcast_sipi_sent_per_ap(void **state)
{
	(void)state;
	four_cpus();
	for (unsigned i = 0; i < 3; i++)
		sipi_note_init(&ap[i]); /* the INIT before it */
	uint8_t *text = (uint8_t *)(pages + 2048);
	memcpy(text + 0x40, "\x89\x02", 2);
	vmcs_writenat(VMCS_GUEST_RIP, GUEST_TEXT_GVA + 0x40);
	regs.gpr[GPR_RAX] = 0x000C4687; /* SIPI, vector 0x87, level assert, all excluding self */
	regs.gpr[GPR_RDX] = 0xFFFFFFFFFEE00300ull;
	fake_apic[0x310 / 4] = 0x05000000; /* whatever ICR high held */
	vmcs_write64(VMCS_GUEST_PHYSICAL_ADDRESS, FAKE_APIC_GPA + 0x300);
	vm_exit(EXIT_REASON_EPT_VIOLATION, EPTQ_WRITE | 0x180, 0);
	assert_int_equal(rip(), GUEST_TEXT_GVA + 0x42);
	/* the last of the three writes: to APIC 3, physical, no shorthand */
	assert_int_equal(fake_apic[0x300 / 4], 0x00004687);
	assert_int_equal(fake_apic[0x310 / 4], 0x05000000);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(ap[i].sipi_pending, (uint64_t)ap[i].init_gen << 32 | 0x100 | 0x87);
	assert_no_event();
}

/* x2APIC mode: WRMSR to the ICR (0x830) goes the same way, one WRMSR per AP. */
static void test_x2apic_broadcast_sipi_sent_per_ap(void **state)
{
	(void)state;
	four_cpus();
	for (unsigned i = 0; i < 3; i++)
		sipi_note_init(&ap[i]);
	rdmsr_fake.allowed = 1;
	rdmsr_fake.value = 0xFEE00000 | APIC_BASE_ENABLE | APIC_BASE_X2APIC_MODE;
	wrmsr_fake.allowed = 3;
	regs.gpr[GPR_RCX] = MSR_X2APIC_ICR;
	regs.gpr[GPR_RAX] = 0x000C4687; /* SIPI, vector 0x87, all excluding self */
	regs.gpr[GPR_RDX] = 0;
	vm_exit(EXIT_REASON_MSR_WRITE, 0, 2);
	assert_int_equal(wrmsr_fake.calls, 3);
	assert_int_equal(wrmsr_fake.index, MSR_X2APIC_ICR);
	assert_int_equal(wrmsr_fake.value, 3ull << 32 | 0x00004687);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(ap[i].sipi_pending, (uint64_t)ap[i].init_gen << 32 | 0x100 | 0x87);
	assert_int_equal(rip(), RIP0 + 2);
	assert_no_event();
}

/* In xAPIC mode the x2APIC ICR MSR does not exist: #GP, as without keel. */
static void test_x2apic_icr_in_xapic_mode_gp(void **state)
{
	(void)state;
	four_cpus();
	rdmsr_fake.allowed = 1;
	rdmsr_fake.value = 0xFEE00000 | APIC_BASE_ENABLE;
	regs.gpr[GPR_RCX] = MSR_X2APIC_ICR;
	regs.gpr[GPR_RAX] = 0x000C4687;
	vm_exit(EXIT_REASON_MSR_WRITE, 0, 2);
	assert_gp0();
}

/* Other APIC writes go to the register as written: the EOI, and an INIT (counted for its target). */
static void test_apic_writes_pass_through(void **state)
{
	(void)state;
	four_cpus();
	uint8_t *text = (uint8_t *)(pages + 2048);
	memcpy(text + 0x40, "\xc7\x04\x25\xb0\x00\xe0\xfe\x00\x00\x00\x00", 11); /* movl $0,0xfee000b0 */
	fake_apic[0xB0 / 4] = 0x1234;
	vmcs_writenat(VMCS_GUEST_RIP, GUEST_TEXT_GVA + 0x40);
	vmcs_write64(VMCS_GUEST_PHYSICAL_ADDRESS, FAKE_APIC_GPA + 0xB0);
	vm_exit(EXIT_REASON_EPT_VIOLATION, EPTQ_WRITE | 0x180, 0);
	assert_int_equal(fake_apic[0xB0 / 4], 0);
	assert_int_equal(rip(), GUEST_TEXT_GVA + 0x4B);

	memcpy(text + 0x50, "\x89\x02", 2);
	vmcs_writenat(VMCS_GUEST_RIP, GUEST_TEXT_GVA + 0x50);
	regs.gpr[GPR_RAX] = 0x00004500; /* INIT, level assert, physical */
	fake_apic[0x310 / 4] = 0x02000000;
	vmcs_write64(VMCS_GUEST_PHYSICAL_ADDRESS, FAKE_APIC_GPA + 0x300);
	vm_exit(EXIT_REASON_EPT_VIOLATION, EPTQ_WRITE | 0x180, 0);
	assert_int_equal(fake_apic[0x300 / 4], 0x00004500);
	assert_int_equal(ap[1].init_gen, 1);
	assert_int_equal(ap[0].init_gen, 0);
	assert_int_equal(rip(), GUEST_TEXT_GVA + 0x52);
}

static void *test_ept_page(void)
{
	void *p = aligned_alloc(4096, 4096); /* freed with the process */
	if (p)
		memset(p, 0, 4096);
	return p;
}

/* An instruction keel does not decode: the trap is lifted and the instruction runs again. */
static void test_undecodable_apic_write_lifts_trap(void **state)
{
	(void)state;
	four_cpus();
	uint8_t *text = (uint8_t *)(pages + 2048);
	memcpy(text + 0x40, "\x81\x0a\x00\x01\x00\x00", 6); /* orl $0x100,(%rdx) */
	vmcs_writenat(VMCS_GUEST_RIP, GUEST_TEXT_GVA + 0x40);
	static uint64_t ept_top[512] __attribute__((aligned(4096)));
	memset(ept_top, 0, sizeof(ept_top));
	keel_vm.ept.pml4 = ept_top; /* the remap builds its tables from here */
	keel_vm.ept.levels = 4;
	keel_vm.ept.alloc_page = test_ept_page;
	vmcs_write64(VMCS_GUEST_PHYSICAL_ADDRESS, FAKE_APIC_GPA + 0xF0);
	vm_exit(EXIT_REASON_EPT_VIOLATION, EPTQ_WRITE | 0x180, 0);
	assert_int_equal(rip(), GUEST_TEXT_GVA + 0x40);
	assert_true(keel_vm.apic_trap_off);
	assert_contains(log_text, "APIC writes no longer trapped");
	assert_no_event();
}

/* ---- preemption timer: the statistics clock ---- */

static void test_preemption_timer_prints_stats_and_rearms(void **state)
{
	(void)state;
	keel_vm.caps.misc = 5; /* timer counts every 2^5 TSC ticks */
	keel_vm.stats_ticks = 0x1000;
	keel_vm.stats_last = 0;
	vm_exit(EXIT_REASON_PREEMPTION_TIMER, 0, 0);
	assert_contains(log_text, "exit statistics (1 CPUs virtualized)");
	assert_contains(log_text, "preemption timer");
	assert_int_equal(vmcs_read32(VMCS_PREEMPTION_TIMER), 0x80);
	assert_true(keel_vm.stats_last != 0);
	assert_no_event();
}

/* ---- trap= classes (vmm/idle.c, tsc.c, pmc.c, cr.c, dr.c, desc.c, tlb.c, cache.c, exception.c,
 * msr_guest.c; docs/trap-and-emulate.md) ---- */

static void test_trap_hlt_completes_and_halts(void **state)
{
	(void)state;
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_STI); /* STI; HLT */
	vm_exit(EXIT_REASON_HLT, 0, 1);
	assert_completed(1);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), 0);
}

static void test_trap_hlt_at_cpl3_gp(void **state)
{
	(void)state;
	guest_cpl(3);
	vm_exit(EXIT_REASON_HLT, 0, 1);
	assert_gp0();
	assert_false(vmcs_fake_written(VMCS_GUEST_ACTIVITY_STATE));
}

/* An NMI that hit keel wakes a halted vCPU: injected in the HLT state, not postponed. */
static void test_trap_hlt_pending_nmi_injected(void **state)
{
	(void)state;
	cpu0.nmi_pending = 1;
	vm_exit(EXIT_REASON_HLT, 0, 1);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | VEC_NMI);
	assert_int_equal(cpu0.nmi_pending, 0);
}

static void test_trap_pause_completes(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_PAUSE, 0, 2);
	assert_completed(2);
}

static void test_trap_mwait_reserved_ecx_gp(void **state)
{
	(void)state;
	regs.gpr[GPR_RCX] = 2;
	vm_exit(EXIT_REASON_MWAIT, 0, 3);
	assert_gp0();
	regs.gpr[GPR_RCX] = 0;
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	vm_exit(EXIT_REASON_MWAIT, 0, 3);
	assert_int_equal(rip(), RIP0 + 3);
	assert_false(vmcs_fake_written(VMCS_GUEST_ACTIVITY_STATE)); /* MWAIT never halts the vCPU */
}

static void test_trap_rdtsc_splits_and_grows(void **state)
{
	(void)state;
	regs.gpr[GPR_RAX] = regs.gpr[GPR_RDX] = ~0ull;
	vm_exit(EXIT_REASON_RDTSC, 0, 2);
	assert_completed(2);
	assert_true(regs.gpr[GPR_RAX] <= 0xFFFFFFFFull && regs.gpr[GPR_RDX] <= 0xFFFFFFFFull);
	uint64_t t0 = regs.gpr[GPR_RAX] | regs.gpr[GPR_RDX] << 32;
	vm_exit(EXIT_REASON_RDTSC, 0, 2);
	uint64_t t1 = regs.gpr[GPR_RAX] | regs.gpr[GPR_RDX] << 32;
	assert_true(t1 > t0);
}

static void test_trap_rdtsc_adds_tsc_offset(void **state)
{
	(void)state;
	vmcs_write32(VMCS_PROC_CONTROLS, PROC_TSC_OFFSETTING);
	vmcs_write64(VMCS_TSC_OFFSET, 0x7000000000000000ull);
	uint64_t before = rdtsc();
	vm_exit(EXIT_REASON_RDTSC, 0, 2);
	uint64_t t = regs.gpr[GPR_RAX] | regs.gpr[GPR_RDX] << 32;
	assert_true(t - 0x7000000000000000ull - before < (1ull << 40)); /* the offset, plus a short wait */
}

static void test_trap_rdtsc_tsd_at_cpl3_gp(void **state)
{
	(void)state;
	guest_cr4(GUEST_CR4 | CR4_TSD);
	guest_cpl(3);
	vm_exit(EXIT_REASON_RDTSC, 0, 2);
	assert_gp0();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	guest_cpl(0); /* CPL 0 may read the TSC with TSD set */
	vm_exit(EXIT_REASON_RDTSC, 0, 2);
	assert_int_equal(rip(), RIP0 + 2);
}

static void test_trap_rdtscp_loads_tsc_aux(void **state)
{
	(void)state;
	rdmsr_fake.allowed = 1;
	rdmsr_fake.value = 0xFFFFFFFF00000003ull;
	regs.gpr[GPR_RCX] = ~0ull;
	vm_exit(EXIT_REASON_RDTSCP, 0, 3);
	assert_completed(3);
	assert_int_equal(rdmsr_fake.index, MSR_TSC_AUX);
	assert_int_equal(regs.gpr[GPR_RCX], 3);
}

static void test_trap_rdpmc_index_rules(void **state)
{
	(void)state;
	uint32_t eax = 2 | (4 << 8), edx = 3; /* version 2, 4 general-purpose and 3 fixed counters */
	assert_false(pmc_index_faults(0, eax, edx));
	assert_false(pmc_index_faults(3, eax, edx));
	assert_true(pmc_index_faults(4, eax, edx));
	assert_false(pmc_index_faults(BIT(30) | 2, eax, edx));
	assert_true(pmc_index_faults(BIT(30) | 3, eax, edx));
	assert_true(pmc_index_faults(BIT(31), eax, edx));
	assert_true(pmc_index_faults(BIT(30), 1 | (4 << 8), 7)); /* version 1: no fixed counters */
}

static void test_trap_rdpmc_cpl3_without_pce_gp(void **state)
{
	(void)state;
	guest_cpl(3);
	vm_exit(EXIT_REASON_RDPMC, 0, 2);
	assert_gp0();
	assert_int_equal(cpu_fake_pmc_ecx, 0);
}


static void test_trap_cr3_store_reads_guest_cr3(void **state)
{
	(void)state;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_FROM, GPR_RBX), 3);
	assert_completed(3);
	assert_int_equal(regs.gpr[GPR_RBX], CR3_0);
}

static void test_trap_cr3_load_beyond_maxphyaddr_gp(void **state)
{
	(void)state;
	regs.gpr[GPR_RBX] = 1ull << 39;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_TO, GPR_RBX), 3);
	assert_gp0();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR3), CR3_0);
}

static void test_trap_cr8_tpr(void **state)
{
	(void)state;
	regs.gpr[GPR_RCX] = 0x10; /* bits 63:4 are reserved */
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(8, CRQ_TYPE_MOV_TO, GPR_RCX), 4);
	assert_gp0();
	assert_int_equal(cpu_fake_cr8, 0);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	regs.gpr[GPR_RCX] = 0xA;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(8, CRQ_TYPE_MOV_TO, GPR_RCX), 4);
	assert_int_equal(cpu_fake_cr8, 0xA);
	assert_int_equal(rip(), RIP0 + 4);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(8, CRQ_TYPE_MOV_FROM, GPR_RDX), 4);
	assert_int_equal(regs.gpr[GPR_RDX], 0xA);
}

/* ---- dr ---- */

#define DRQ(dr, from, gpr) ((uint64_t)(dr) | (uint64_t)(from) << 4 | (uint64_t)(gpr) << 8)

static void test_trap_dr_rules(void **state)
{
	(void)state;
	unsigned real = 99;
	assert_int_equal(dr_access_check(0, 1, 0, 1, 3, 0, 0x400, &real), VEC_GP);
	assert_int_equal(dr_access_check(4, 0, 0, 1, 0, CR4_DE, 0x400, &real), VEC_UD);
	assert_int_equal(dr_access_check(5, 0, 0, 1, 0, 0, 0x400, &real), 0);
	assert_int_equal(real, 7);
	assert_int_equal(dr_access_check(4, 0, 0, 1, 0, 0, 0x400, &real), 0);
	assert_int_equal(real, 6);
	assert_int_equal(dr_access_check(1, 0, 0, 1, 0, 0, 0x2400, &real), VEC_DB);
	assert_int_equal(dr_access_check(7, 1, 1ull << 32, 1, 0, 0, 0x400, &real), VEC_GP);
	assert_int_equal(dr_access_check(7, 1, 1ull << 32, 0, 0, 0, 0x400, &real), 0);
	assert_int_equal(dr7_write_value(0xFFFF), 0x2FFF);
}

static void test_trap_dr_round_trip(void **state)
{
	(void)state;
	regs.gpr[GPR_RAX] = 0xFFFF800000001000ull;
	vm_exit(EXIT_REASON_DR_ACCESS, DRQ(2, 0, GPR_RAX), 3);
	assert_completed(3);
	assert_int_equal(cpu_fake_dr[2], 0xFFFF800000001000ull);
	vm_exit(EXIT_REASON_DR_ACCESS, DRQ(2, 1, 8), 3);
	assert_int_equal(regs.gpr[8], 0xFFFF800000001000ull);
	regs.gpr[GPR_RBX] = 0x3;
	vm_exit(EXIT_REASON_DR_ACCESS, DRQ(7, 0, GPR_RBX), 3);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_DR7), 0x403);
}

static void test_trap_dr_general_detect_db(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_DR7, 0x2400);
	cpu_fake_dr[6] = 0xFFFF0FF0;
	vm_exit(EXIT_REASON_DR_ACCESS, DRQ(0, 1, GPR_RAX), 3);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000301u); /* #DB, no error code */
	assert_int_equal(cpu_fake_dr[6], 0xFFFF2FF0);                      /* DR6.BD */
	assert_int_equal(vmcs_readnat(VMCS_GUEST_DR7), 0x400);             /* GD cleared */
	assert_fault_rf();
	assert_int_equal(rip(), RIP0);
}

static void test_trap_dr4_with_de_ud_and_cpl3_gp(void **state)
{
	(void)state;
	guest_cr4(GUEST_CR4 | CR4_DE);
	vm_exit(EXIT_REASON_DR_ACCESS, DRQ(4, 1, GPR_RAX), 3);
	assert_ud();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	guest_cpl(3);
	vm_exit(EXIT_REASON_DR_ACCESS, DRQ(0, 1, GPR_RAX), 3);
	assert_gp0();
}

/* ---- operand addresses and desc ---- */

#define II(scale, asz, seg, index, base) \
	((uint32_t)(scale) | (uint32_t)(asz) << 7 | (uint32_t)(seg) << 15 | (uint32_t)(index) << 18 | (uint32_t)(base) << 23)
#define II_NO_INDEX BIT(22)
#define II_NO_BASE BIT(27)

static void test_operand_address_arithmetic(void **state)
{
	(void)state;
	uint64_t gpr[16] = { 0 }, la;
	struct operand_seg flat = { 0x1000, 0xFFFFFFFF, 0xC093 };
	gpr[GPR_RBX] = 0x10;
	gpr[GPR_RSI] = 0x3;
	/* [rbx + rsi*8 + 0x20], 64-bit: no segment base for DS */
	assert_int_equal(operand_linear(II(3, 2, SEG_DS, GPR_RSI, GPR_RBX), 0x20, gpr, 1, SEG_DS, &flat, 8, 0, &la), 0);
	assert_int_equal(la, 0x48);
	/* FS adds its base in 64-bit mode */
	assert_int_equal(operand_linear(II(3, 2, SEG_FS, GPR_RSI, GPR_RBX), 0x20, gpr, 1, SEG_FS, &flat, 8, 0, &la), 0);
	assert_int_equal(la, 0x1048);
	/* 16-bit addressing wraps the effective address at 64 KiB, then adds the base */
	gpr[GPR_RBX] = 0xFFF0;
	assert_int_equal(operand_linear(II(0, 0, SEG_DS, 0, GPR_RBX) | II_NO_INDEX, 0x20, gpr, 0, SEG_DS, &flat, 2, 0, &la), 0);
	assert_int_equal(la, 0x1010);
	/* the displacement is sign-extended in the qualification */
	gpr[GPR_RBX] = 0x100;
	assert_int_equal(operand_linear(II(0, 2, SEG_DS, 0, GPR_RBX) | II_NO_INDEX, (uint64_t)-8, gpr, 1, SEG_DS, &flat, 2, 0, &la), 0);
	assert_int_equal(la, 0xF8);
}

static void test_operand_segment_checks(void **state)
{
	(void)state;
	uint64_t gpr[16] = { 0 }, la;
	struct operand_seg small = { 0, 0xFFF, 0xC093 }, ro = { 0, 0xFFFFFFFF, 0xC091 };
	struct operand_seg down = { 0, 0xFFF, 0xC097 }, unusable = { 0, 0xFFFFFFFF, AR_UNUSABLE };
	uint32_t abs = II(0, 1, SEG_DS, 0, 0) | II_NO_INDEX | II_NO_BASE;
	assert_int_equal(operand_linear(abs, 0xFFA, gpr, 0, SEG_DS, &small, 6, 0, &la), 0);
	assert_int_equal(operand_linear(abs, 0xFFB, gpr, 0, SEG_DS, &small, 6, 0, &la), VEC_GP);
	assert_int_equal(operand_linear(abs, 0xFFB, gpr, 0, SEG_SS, &small, 6, 0, &la), VEC_SS);
	assert_int_equal(operand_linear(abs, 0x10, gpr, 0, SEG_DS, &ro, 6, 1, &la), VEC_GP);
	assert_int_equal(operand_linear(abs, 0x10, gpr, 0, SEG_DS, &ro, 6, 0, &la), 0);
	assert_int_equal(operand_linear(abs, 0x10, gpr, 0, SEG_DS, &down, 2, 0, &la), VEC_GP);
	assert_int_equal(operand_linear(abs, 0x1000, gpr, 0, SEG_DS, &down, 2, 0, &la), 0);
	assert_int_equal(operand_linear(abs, 0x10, gpr, 0, SEG_ES, &unusable, 2, 0, &la), VEC_GP);
	/* 64-bit: non-canonical is #GP, or #SS for an SS operand */
	uint32_t abs64 = II(0, 2, SEG_DS, 0, 0) | II_NO_INDEX | II_NO_BASE;
	assert_int_equal(operand_linear(abs64, 0x0000800000000000ull, gpr, 1, SEG_DS, &small, 2, 0, &la), VEC_GP);
	assert_int_equal(operand_linear(abs64, 0x00007FFFFFFFFFFFull, gpr, 1, SEG_SS, &small, 2, 0, &la), VEC_SS);
}

static void test_desc_pure_rules(void **state)
{
	(void)state;
	uint8_t m[10] = { 0xFF, 0x0F, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0 };
	uint16_t limit;
	uint64_t base;
	assert_int_equal(desc_dtr_load(m, 0, 0, &limit, &base), 0);
	assert_int_equal(limit, 0xFFF);
	assert_int_equal(base, 0x332211); /* 16-bit operand size: 24 bits */
	assert_int_equal(desc_dtr_load(m, 0, 1, &limit, &base), 0);
	assert_int_equal(base, 0x44332211);
	m[9] = 0x80; /* 0x8000000044332211: not canonical */
	assert_int_equal(desc_dtr_load(m, 1, 0, &limit, &base), 1);
	/* LDT, present, base 0x12345678, limit 0xFF; TSS available */
	uint64_t ldt = 0x12008234567800FFull, tss = 0x12008934567800FFull;
	uint32_t l, ar;
	assert_int_equal(desc_system_load(ldt, 0, 1, 0, &base, &l, &ar), 0);
	assert_int_equal(base, 0x12345678);
	assert_int_equal(l, 0xFF);
	assert_int_equal(ar, 0x82);
	assert_int_equal(desc_system_load(ldt, 0, 1, 1, &base, &l, &ar), VEC_GP); /* LTR of an LDT */
	assert_int_equal(desc_system_load(tss, 1, 1, 1, &base, &l, &ar), 0);
	assert_int_equal(base, 0x112345678ull);
	assert_int_equal(ar, 0x8B); /* loaded busy */
	assert_int_equal(desc_system_load(tss & ~(1ull << 47), 0, 1, 1, &base, &l, &ar), VEC_NP);
	assert_int_equal(desc_system_load(tss, 1ull << 40, 1, 1, &base, &l, &ar), VEC_GP); /* upper type */
	static const uint8_t sldt_ax[] = { 0x66, 0x0F, 0x00, 0xC0 }, sldt_rax[] = { 0x66, 0x48, 0x0F, 0x00, 0xC0 };
	static const uint8_t rex_then_66[] = { 0x48, 0x66, 0x0F, 0x00, 0xC0 };
	assert_int_equal(insn_operand_size(sldt_ax, 4, 1, 0), 2);
	assert_int_equal(insn_operand_size(sldt_ax + 1, 3, 1, 0), 4);
	assert_int_equal(insn_operand_size(sldt_rax, 5, 1, 0), 8);
	assert_int_equal(insn_operand_size(rex_then_66, 5, 1, 0), 2); /* the REX is not last: ignored */
	assert_int_equal(insn_operand_size(sldt_ax + 1, 3, 0, 0), 2);
}

/* The paging fixture's data page: [GUEST_TEXT_GVA, +4 KiB), writable, at host address pages+2048. */
static uint8_t *data_page(unsigned off) { return (uint8_t *)(pages + 2048) + off; }
#define II_ABS64 (II(0, 2, SEG_DS, 0, 0) | II_NO_INDEX | II_NO_BASE)

static void test_sgdt_stores_ten_bytes(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, 0xFFFF800012345678ull);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, 0x7F);
	vmcs_write32(VMCS_EXIT_INSTR_INFO, II_ABS64 | 0u << 28);
	vm_exit(EXIT_REASON_GDTR_IDTR, GUEST_TEXT_GVA + 0x100, 7);
	assert_completed(7);
	static const uint8_t want[10] = { 0x7F, 0, 0x78, 0x56, 0x34, 0x12, 0x00, 0x80, 0xFF, 0xFF };
	assert_memory_equal(data_page(0x100), want, 10);
}

/* The guest's PTE for GUEST_TEXT_GVA in the paging fixture. */
static uint64_t *text_pte(void) { return pages + 1536 + ((GUEST_TEXT_GVA >> 12) & 511); }

static void sgdt_at(uint64_t gva)
{
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vmcs_write32(VMCS_EXIT_INSTR_INFO, II_ABS64 | 0u << 28);
	vm_exit(EXIT_REASON_GDTR_IDTR, gva, 7);
}

/* keel remembers its last walk (struct guest_walk_cache) but must see every change the guest makes
 * to its entries, with no INVLPG in between (keel sees none under EPT): a PTE moved to another
 * frame, then made read-only (with CR0.WP), then not present. */
static void test_guest_walk_sees_pte_changes_without_invalidation(void **state)
{
	(void)state;
	uint8_t *other = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	assert_true(other != MAP_FAILED);
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, 0x1122334455667788ull);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, 0x7F);
	sgdt_at(GUEST_TEXT_GVA + 0x100);
	assert_completed(7);
	assert_int_equal(data_page(0x100)[2], 0x88);
	sgdt_at(GUEST_TEXT_GVA + 0x100); /* the same page again: the cached walk */
	assert_completed(7);

	*text_pte() = (uint64_t)(uintptr_t)other | 3;
	sgdt_at(GUEST_TEXT_GVA + 0x100);
	assert_completed(7);
	assert_int_equal(other[0x100], 0x7F);
	assert_int_equal(other[0x102], 0x88);

	*text_pte() = (uint64_t)(uintptr_t)other | 1; /* read-only; the fixture's CR0 has WP */
	sgdt_at(GUEST_TEXT_GVA + 0x100);
	assert_pf(GUEST_TEXT_GVA + 0x100, 3); /* present, write */

	*text_pte() = 0;
	sgdt_at(GUEST_TEXT_GVA + 0x100);
	assert_pf(GUEST_TEXT_GVA + 0x100, 2); /* not present, write */
	munmap(other, 4096);
}

/* A cached walk whose rights do not cover the access: the fault is the CPU's, as from a new walk
 * (a supervisor page read at CPL 0, then written to at CPL 3). */
static void test_guest_walk_cached_rights_checked_per_access(void **state)
{
	(void)state;
	sgdt_at(GUEST_TEXT_GVA + 0x100);
	assert_completed(7);
	guest_cpl(3);
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vmcs_write32(VMCS_EXIT_INSTR_INFO, II_ABS64 | 1u << 28); /* SIDT: allowed at CPL 3 without UMIP */
	vm_exit(EXIT_REASON_GDTR_IDTR, GUEST_TEXT_GVA + 0x100, 7);
	assert_pf(GUEST_TEXT_GVA + 0x100, 7); /* present, write, user */
}

static void test_sidt_umip_cpl3_gp_and_unmapped_pf(void **state)
{
	(void)state;
	guest_cr4(GUEST_CR4 | CR4_UMIP);
	guest_cpl(3);
	vmcs_write32(VMCS_EXIT_INSTR_INFO, II_ABS64 | 1u << 28);
	vm_exit(EXIT_REASON_GDTR_IDTR, GUEST_TEXT_GVA + 0x100, 7);
	assert_gp0();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	guest_cpl(0);
	vm_exit(EXIT_REASON_GDTR_IDTR, GUEST_TEXT_GVA + 4096 - 4, 7); /* crosses into an unmapped page */
	assert_pf(GUEST_TEXT_GVA + 4096, 2);                      /* not present, write */
}

static void test_lidt_loads_and_noncanonical_gp(void **state)
{
	(void)state;
	static const uint8_t m[10] = { 0xFF, 0x0F, 0, 0x10, 0, 0, 0, 0x80, 0xFF, 0xFF };
	memcpy(data_page(0x200), m, 10);
	vmcs_write32(VMCS_EXIT_INSTR_INFO, II_ABS64 | 3u << 28);
	vm_exit(EXIT_REASON_GDTR_IDTR, GUEST_TEXT_GVA + 0x200, 7);
	assert_completed(7);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_IDTR_BASE), 0xFFFF800000001000ull);
	assert_int_equal(vmcs_read32(VMCS_GUEST_IDTR_LIMIT), 0xFFF);
	data_page(0x200)[8] = 0; /* 0x00FF800000001000 */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_GDTR_IDTR, GUEST_TEXT_GVA + 0x200, 7);
	assert_gp0();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_IDTR_BASE), 0xFFFF800000001000ull);
}

static void test_sldt_register_operand_size_from_prefix(void **state)
{
	(void)state;
	static const uint8_t sldt_ax[] = { 0x66, 0x0F, 0x00, 0xC0 };
	memcpy(data_page(0x300), sldt_ax, sizeof(sldt_ax));
	vmcs_writenat(VMCS_GUEST_RIP, GUEST_TEXT_GVA + 0x300);
	vmcs_write16(VMCS_GUEST_LDTR_SEL, 0x28);
	regs.gpr[GPR_RAX] = 0x1111222233334444ull;
	vmcs_write32(VMCS_EXIT_INSTR_INFO, BIT(10) | GPR_RAX << 3 | 0u << 28);
	vm_exit(EXIT_REASON_LDTR_TR, 0, 4);
	assert_int_equal(regs.gpr[GPR_RAX], 0x1111222233330028ull); /* 16 bits: the rest stays */
	memmove(data_page(0x300), sldt_ax + 1, 3);                   /* sldt eax */
	vmcs_writenat(VMCS_GUEST_RIP, GUEST_TEXT_GVA + 0x300);
	vm_exit(EXIT_REASON_LDTR_TR, 0, 3);
	assert_int_equal(regs.gpr[GPR_RAX], 0x28); /* 32 bits zero-extend */
}

static void test_str_to_memory(void **state)
{
	(void)state;
	vmcs_write16(VMCS_GUEST_TR_SEL, 0x40);
	memset(data_page(0x400), 0xAA, 4);
	vmcs_write32(VMCS_EXIT_INSTR_INFO, II_ABS64 | 1u << 28);
	vm_exit(EXIT_REASON_LDTR_TR, GUEST_TEXT_GVA + 0x400, 4);
	assert_completed(4);
	static const uint8_t want[4] = { 0x40, 0, 0xAA, 0xAA };
	assert_memory_equal(data_page(0x400), want, 4);
}

/* A GDT in the data page: 0x40 a 64-bit available TSS (16 bytes), 0x50 an LDT, 0x60 a data segment. */
static void gdt_in_data_page(void)
{
	uint64_t *gdt = (uint64_t *)data_page(0x800);
	gdt[8] = 0x12008934567800FFull;
	gdt[9] = 0x1;
	gdt[10] = 0x12008234567800FFull;
	gdt[11] = 0;
	gdt[12] = 0x00CF93000000FFFFull;
	gdt[13] = 0;
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, GUEST_TEXT_GVA + 0x800);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, 0x6F);
}

static void test_ltr_loads_busy_tss_and_marks_gdt(void **state)
{
	(void)state;
	gdt_in_data_page();
	regs.gpr[GPR_RCX] = 0x40;
	vmcs_write32(VMCS_EXIT_INSTR_INFO, BIT(10) | GPR_RCX << 3 | 3u << 28);
	vm_exit(EXIT_REASON_LDTR_TR, 0, 3);
	assert_completed(3);
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), 0x40);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_TR_BASE), 0x112345678ull);
	assert_int_equal(vmcs_read32(VMCS_GUEST_TR_AR), 0x8B);
	assert_int_equal(data_page(0x800 + 0x40)[5], 0x8B); /* busy in the GDT */
}

static void test_lldt_checks_selector(void **state)
{
	(void)state;
	gdt_in_data_page();
	vmcs_write32(VMCS_EXIT_INSTR_INFO, BIT(10) | GPR_RCX << 3 | 2u << 28);
	regs.gpr[GPR_RCX] = 0x60; /* a data segment */
	vm_exit(EXIT_REASON_LDTR_TR, 0, 3);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_GP);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), 0x60);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	regs.gpr[GPR_RCX] = 0x70 | 4; /* TI: the LDT */
	vm_exit(EXIT_REASON_LDTR_TR, 0, 3);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), 0x74);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	regs.gpr[GPR_RCX] = 0x50;
	vm_exit(EXIT_REASON_LDTR_TR, 0, 3);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	assert_int_equal(rip(), RIP0 + 3);
	assert_int_equal(vmcs_read16(VMCS_GUEST_LDTR_SEL), 0x50);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_LDTR_BASE), 0x12345678);
	assert_int_equal(vmcs_read32(VMCS_GUEST_LDTR_AR), 0x82);
	regs.gpr[GPR_RCX] = 0; /* null: LDTR unusable */
	vm_exit(EXIT_REASON_LDTR_TR, 0, 3);
	assert_int_equal(vmcs_read32(VMCS_GUEST_LDTR_AR), AR_UNUSABLE);
}

/* ---- invlpg, invpcid, wbinvd ---- */

/* MONITOR: ECX must be 0; DS:RAX must translate (#PF otherwise); nothing is armed. */
static void test_trap_monitor_checks(void **state)
{
	(void)state;
	regs.gpr[GPR_RAX] = GUEST_TEXT_GVA + 0x40;
	regs.gpr[GPR_RCX] = 1;
	vm_exit(EXIT_REASON_MONITOR, 0, 3);
	assert_gp0();
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	regs.gpr[GPR_RCX] = 0;
	regs.gpr[GPR_RAX] = GUEST_TEXT_GVA + 4096;
	vm_exit(EXIT_REASON_MONITOR, 0, 3);
	assert_pf(GUEST_TEXT_GVA + 4096, 0);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	regs.gpr[GPR_RAX] = GUEST_TEXT_GVA + 0x40;
	vm_exit(EXIT_REASON_MONITOR, 0, 3);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	assert_int_equal(rip(), RIP0 + 3);
}

static void test_trap_invlpg_individual_address(void **state)
{
	(void)state;
	cpu0.vpid = 1;
	keel_vm.caps.ept_vpid = VPID_CAP_INVVPID | VPID_CAP_INDIVIDUAL_ADDR | VPID_CAP_SINGLE_CONTEXT;
	vm_exit(EXIT_REASON_INVLPG, 0xFFFF800000123000ull, 3);
	assert_completed(3);
	assert_int_equal(ninvalidations, 1);
	assert_int_equal(cpu_fake_inv_gva, 0xFFFF800000123000ull);
	vm_exit(EXIT_REASON_INVLPG, 0x0000800000000000ull, 3); /* non-canonical: a no-op */
	assert_int_equal(ninvalidations, 1);
	assert_int_equal(rip(), RIP0 + 6);
}

static void test_trap_invpcid_rules(void **state)
{
	(void)state;
	assert_false(invpcid_faults(0, 5, 0x1000, 1));
	assert_true(invpcid_faults(0, 5, 0x1000, 0));       /* PCID without CR4.PCIDE */
	assert_true(invpcid_faults(0, 0, 1ull << 47, 1));   /* non-canonical address */
	assert_true(invpcid_faults(1, 1ull << 12, 0, 1));   /* reserved descriptor bits */
	assert_false(invpcid_faults(2, 5, 1ull << 47, 0));  /* types 2 and 3 ignore the descriptor's PCID */
	assert_true(invpcid_faults(4, 0, 0, 1));
}

static void test_trap_invpcid_type_from_register(void **state)
{
	(void)state;
	memset(data_page(0x500), 0, 16);
	cpu0.vpid = 1;
	keel_vm.caps.ept_vpid = VPID_CAP_INVVPID | VPID_CAP_SINGLE_CONTEXT;
	regs.gpr[GPR_RDX] = 4;
	vmcs_write32(VMCS_EXIT_INSTR_INFO, II_ABS64 | (uint32_t)GPR_RDX << 28);
	vm_exit(EXIT_REASON_INVPCID, GUEST_TEXT_GVA + 0x500, 5);
	assert_gp0();
	assert_int_equal(ninvalidations, 0);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	regs.gpr[GPR_RDX] = 2;
	vm_exit(EXIT_REASON_INVPCID, GUEST_TEXT_GVA + 0x500, 5);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	assert_int_equal(rip(), RIP0 + 5);
	assert_int_equal(ninvalidations, 1);
}

static void test_trap_wbinvd_executes(void **state)
{
	(void)state;
	cpu_fake_wbinvds = 0;
	vm_exit(EXIT_REASON_WBINVD, 0, 2);
	assert_completed(2);
	assert_int_equal(cpu_fake_wbinvds, 1);
}

/* The simple trap classes complete in the fast path (EXIT_FAST_DONE, 0) with the fast path open;
 * a faulting one goes to the slow path untouched (no WBINVD executed, no register written). RDPMC's
 * counters are the host CPU's here (its CPUID leaf 0xA): TB(test_trap_rdpmc_*) cover it. */
static void test_trap_simple_classes_complete_in_fast_path(void **state)
{
	(void)state;
	static const struct {
		uint32_t reason;
		uint64_t qual;
	} simple[] = { { EXIT_REASON_PAUSE, 0 }, { EXIT_REASON_RDTSC, 0 }, { EXIT_REASON_RDTSCP, 0 },
		       { EXIT_REASON_WBINVD, 0 }, { EXIT_REASON_INVLPG, 0x1000 },
		       { EXIT_REASON_IO_INSTRUCTION, (0x60ull << 16) | BIT(3) | 1 },
		       { EXIT_REASON_DR_ACCESS, DRQ(0, 1, GPR_RAX) } /* MOV RAX, DR0 */ };
	rdmsr_fake.allowed = 1;
	cpu0.fast = 1;
	for (unsigned i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		vmcs_writenat(VMCS_EXIT_QUALIFICATION, simple[i].qual);
		if (vmx_exit_fast(&cpu0, &regs, simple[i].reason) != 0)
			fail_msg("exit reason %u left the fast path", simple[i].reason);
	}
	assert_int_equal(cpu0.in_root, 0);
	guest_cpl(3);
	cpu_fake_wbinvds = 0;
	regs.gpr[GPR_RAX] = regs.gpr[GPR_RDX] = 0x55;
	assert_int_not_equal(vmx_exit_fast(&cpu0, &regs, EXIT_REASON_WBINVD), 0);
	assert_int_equal(cpu_fake_wbinvds, 0);
	guest_cr4(GUEST_CR4 | CR4_TSD);
	assert_int_not_equal(vmx_exit_fast(&cpu0, &regs, EXIT_REASON_RDTSC), 0);
	assert_int_equal(regs.gpr[GPR_RAX], 0x55);
	assert_int_equal(regs.gpr[GPR_RDX], 0x55);
	assert_int_not_equal(vmx_exit_fast(&cpu0, &regs, EXIT_REASON_INVLPG), 0);
	assert_no_event(); /* the slow path injects the #GP */
}

/* ---- io and msr: every port and MSR ---- */

static void test_trap_io_and_msr_bitmaps_all_ones(void **state)
{
	(void)state;
	static uint8_t msr_bm[4096], io_bm[8192];
	memset(msr_bm, 0, sizeof(msr_bm));
	memset(io_bm, 0, sizeof(io_bm));
	keel_vm.msr_bitmap = msr_bm;
	keel_vm.io_bitmap = io_bm;
	keel_vm.trap = TRAP_IO | TRAP_MSR;
	vmx_traps_init(&keel_vm);
	for (unsigned i = 0; i < sizeof(msr_bm); i++)
		assert_int_equal(msr_bm[i], 0xFF);
	for (unsigned i = 0; i < sizeof(io_bm); i++)
		assert_int_equal(io_bm[i], 0xFF);
}

static void test_trap_io_any_port_width_exact(void **state)
{
	(void)state;
	port_in_value = 0xA5A5;
	regs.gpr[GPR_RAX] = 0x1122334455667788ull;
	vm_exit(EXIT_REASON_IO_INSTRUCTION, (0x60ull << 16) | BIT(3) | 1, 1); /* in ax, 0x60 */
	assert_completed(1);
	assert_int_equal(regs.gpr[GPR_RAX], 0x112233445566A5A5ull);
	assert_int_equal(port_ops[0].port, 0x60);
	assert_int_equal(port_ops[0].size, 2);
}

static void test_trap_msr_vmcs_held_msrs(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_FS_BASE, 0x123456789A0ull);
	msr_exit(EXIT_REASON_MSR_READ, MSR_FS_BASE, ~0ull, ~0ull);
	assert_completed(2);
	assert_int_equal(regs.gpr[GPR_RAX], 0x456789A0);
	assert_int_equal(regs.gpr[GPR_RDX], 0x123);
	msr_exit(EXIT_REASON_MSR_WRITE, MSR_IA32_PAT, 0x00070406, 0x00070406);
	assert_int_equal(vmcs_read64(VMCS_GUEST_PAT), 0x0007040600070406ull);
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	msr_exit(EXIT_REASON_MSR_WRITE, MSR_EFER, 0, EFER_SCE | EFER_NXE); /* LME off with paging on */
	assert_gp0();
	assert_int_equal(vmcs_read64(VMCS_GUEST_EFER), GUEST_EFER);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	msr_exit(EXIT_REASON_MSR_WRITE, MSR_EFER, 0, EFER_SCE | EFER_LME); /* LMA kept, NXE cleared */
	assert_int_equal(vmcs_read64(VMCS_GUEST_EFER), EFER_SCE | EFER_LME | EFER_LMA);
	assert_int_equal(wrmsr_fake.calls + rdmsr_fake.calls, 0); /* never the host's registers */
}

/* ---- exceptions ---- */

static void exception_exit_info(uint32_t info, uint32_t error, uint64_t qual, uint32_t len)
{
	vmcs_write32(VMCS_EXIT_INTR_INFO, info);
	vmcs_write32(VMCS_EXIT_INTR_ERROR, error);
	vmcs_write32(VMCS_IDT_VECTORING_INFO, 0);
	vm_exit(EXIT_REASON_EXCEPTION_NMI, qual, len);
}

/* Which exception exits the fast path reflects itself (EXIT_FAST_EVENT: RIP stays) and which it
 * leaves to the slow path untouched. */
static void test_trap_exception_fast_path_split(void **state)
{
	(void)state;
	static const struct {
		uint32_t info, vectoring;
		int shadow, result;
	} cases[] = {
		{ 0x80000B0Du, 0, 0, EXIT_FAST_EVENT },          /* #GP(error code) */
		{ 0x80000603u, 0, 0, EXIT_FAST_EVENT },          /* INT3 */
		{ 0x80000B0Eu, 0, 0, EXIT_FAST_EVENT },          /* #PF under EPT */
		{ 0x80000B0Eu, 0, 1, EXIT_FAST_SLOW },           /* #PF under shadow paging */
		{ 0x80000301u, 0, 0, EXIT_FAST_SLOW },           /* #DB: DR6 and DR7 */
		{ 0x80001B0Du, 0, 0, EXIT_FAST_SLOW },           /* #GP in an IRET that unblocked NMIs */
		{ 0x80000B0Du, 0x80000020u, 0, EXIT_FAST_SLOW }, /* #GP delivering vector 0x20 */
		{ 0x80000202u, 0, 0, EXIT_FAST_SLOW },           /* an NMI */
	};
	cpu0.fast = 1;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vmcs_write32(VMCS_EXIT_INTR_INFO, cases[i].info);
		vmcs_write32(VMCS_IDT_VECTORING_INFO, cases[i].vectoring);
		vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
		cpu0.shadow = cases[i].shadow ? (struct shadow_mmu *)&cpu0 : 0; /* only tested for NULL */
		int got = vmx_exit_fast(&cpu0, &regs, EXIT_REASON_EXCEPTION_NMI);
		if (got != cases[i].result)
			fail_msg("case %u (info 0x%x): fast path gave %d, expected %d", i, cases[i].info, got, cases[i].result);
		if (got == EXIT_FAST_SLOW && vmcs_read32(VMCS_ENTRY_INTR_INFO))
			fail_msg("case %u: the fast path queued an event before handing the exit on", i);
	}
	cpu0.shadow = 0;
	assert_int_equal(rip(), RIP0);
}

static void test_trap_exception_pf_reflected_with_cr2(void **state)
{
	(void)state;
	exception_exit_info(0x80000B0Eu, 0x7, 0xDEAD000, 0);
	assert_pf(0xDEAD000, 7);
	assert_fault_rf();
}

/* ---- mmu=shadow: the exit-side glue of vmm/shadow_exit.c on setup_paging's 4-level tables ---- */

#define SHADOW_TEST_POOL 600 /* struct shadow_mmu + SHADOW_VCPU_PAGES tables, and a little more */
static uint8_t *shadow_pool;
static uint8_t *shadow_ones, *shadow_sink;

static int setup_shadow(void **state)
{
	if (setup_paging(state))
		return -1;
	shadow_pool = mmap(0, (SHADOW_TEST_POOL + 2) * 4096, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (shadow_pool == MAP_FAILED)
		return -1;
	shadow_ones = shadow_pool + SHADOW_TEST_POOL * 4096;
	shadow_sink = shadow_ones + 4096;
	pool_init((uint64_t)(uintptr_t)shadow_pool, SHADOW_TEST_POOL);
	keel_vm.shadow = 1;
	keel_vm.ones_page = shadow_ones;
	keel_vm.sink_page = shadow_sink;
	if (shadow_vcpu_init(&cpu0))
		return -1;
	/* As at launch: the firmware's CR3 becomes the guest's own, the real one a shadow root. */
	vmcs_writenat(VMCS_CR0_MASK, CR0_MASK | CR0_PE | CR0_PG | CR0_WP);
	vmcs_writenat(VMCS_CR4_MASK, CR4_MASK | CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP | CR4_SMAP | CR4_PCIDE);
	shadow_vcpu_launch_state(&cpu0);
	return 0;
}

static int teardown_shadow(void **state)
{
	munmap(shadow_pool, (SHADOW_TEST_POOL + 2) * 4096);
	return teardown_paging(state);
}

static void test_shadow_launch_loads_a_root(void **state)
{
	(void)state;
	assert_int_equal(cpu0.guest_cr3, (uint64_t)(uintptr_t)pages);
	uint64_t root = vmcs_readnat(VMCS_GUEST_CR3);
	assert_true(root != (uint64_t)(uintptr_t)pages);
	assert_true(root >= (uint64_t)(uintptr_t)shadow_pool && root < (uint64_t)(uintptr_t)shadow_ones);
	assert_true(vmcs_readnat(VMCS_GUEST_CR0) & CR0_WP);
	assert_true(vmcs_readnat(VMCS_GUEST_CR4) & CR4_PAE);
}

static void test_shadow_pf_filled_resumes_at_same_rip(void **state)
{
	(void)state;
	uint64_t *pt = pages + 1536;
	exception_exit_info(0x80000B0Eu, 0 /* read, not present */, GUEST_TEXT_GVA + 0x10, 0);
	assert_no_event();
	assert_int_equal(rip(), RIP0);
	uint64_t size = 0, leaf = shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, &size);
	assert_int_equal(leaf & 0x000FFFFFFFFFF000ull, (uint64_t)(uintptr_t)(pages + 2048));
	assert_int_equal(size, 4096);
	assert_true(pt[(GUEST_TEXT_GVA >> 12) & 511] & BIT(5)); /* A set in the guest's own PTE */
	assert_int_equal(cpu0.shadow->stats.hidden_faults, 1);
	assert_int_equal(cpu0.shadow->stats.reflected_faults, 0);
}

static void test_shadow_pf_reflected_with_cr2(void **state)
{
	(void)state;
	uint64_t gva = GUEST_TEXT_GVA + 0x5000; /* its PTE is not present in the guest's table */
	exception_exit_info(0x80000B0Eu, 0x2 /* write */, gva, 0);
	assert_pf(gva, 0x2);
	assert_fault_rf();
	assert_int_equal(cpu0.shadow->stats.reflected_faults, 1);
	assert_int_equal(shadow_lookup(cpu0.shadow, gva, 0), 0);
}

static void test_shadow_cr3_load_and_store(void **state)
{
	(void)state;
	uint64_t loads = cpu0.shadow->stats.cr3_loads;
	uint64_t other = (uint64_t)(uintptr_t)(pages + 2048); /* any page: the walk reads it later */
	regs.gpr[GPR_RBX] = other;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_TO, GPR_RBX), 3);
	assert_completed(3);
	assert_int_equal(cpu0.guest_cr3, other);
	assert_true(vmcs_readnat(VMCS_GUEST_CR3) != other); /* the real CR3 is a shadow root */
	assert_int_equal(cpu0.shadow->stats.cr3_loads, loads + 1);
	regs.gpr[GPR_RCX] = 0;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_FROM, GPR_RCX), 3);
	assert_int_equal(regs.gpr[GPR_RCX], other); /* the guest reads its own value back */
	assert_int_equal(rip(), RIP0 + 6);
}

static void test_shadow_invlpg_drops_translation_and_flushes_tlb(void **state)
{
	(void)state;
	cpu0.vpid = 1;
	keel_vm.caps.ept_vpid = VPID_CAP_INVVPID | VPID_CAP_INDIVIDUAL_ADDR | VPID_CAP_SINGLE_CONTEXT;
	exception_exit_info(0x80000B0Eu, 0, GUEST_TEXT_GVA, 0);
	assert_true(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0) != 0);
	ninvalidations = 0;
	vm_exit(EXIT_REASON_INVLPG, GUEST_TEXT_GVA + 0x123, 3);
	assert_completed(3);
	assert_int_equal(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0), 0);
	assert_int_equal(cpu0.shadow->stats.invlpgs, 1);
	assert_true(ninvalidations >= 1); /* INVVPID before the next entry: the CPU may cache it */
	guest_cpl(3);
	vm_exit(EXIT_REASON_INVLPG, GUEST_TEXT_GVA, 3);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_GP); /* INVLPG at CPL 3 */
	assert_int_equal(rip(), RIP0 + 3);
}

/* CR4.PCIDE is emulated: the guest's view has it, the real CR4 not (the real CR3 is keel's root). */
static void test_shadow_cr4_pcide_emulated(void **state)
{
	(void)state;
	regs.gpr[GPR_RAX] = GUEST_CR4 | CR4_PCIDE;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_completed(3);
	assert_true(vmcs_readnat(VMCS_CR4_SHADOW) & CR4_PCIDE);
	assert_false(vmcs_readnat(VMCS_GUEST_CR4) & CR4_PCIDE);
}

/* Setting CR4.PCIDE needs CR3[11:0] = 0 (SDM Vol. 3A 2.5, MOV CR4 #GP); LA57 stays hidden. */
static void test_shadow_cr4_pcide_needs_cr3_low_bits_clear(void **state)
{
	(void)state;
	regs.gpr[GPR_RBX] = (uint64_t)(uintptr_t)pages | 0x8; /* PWT */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_TO, GPR_RBX), 3);
	assert_completed(3);
	regs.gpr[GPR_RAX] = GUEST_CR4 | CR4_PCIDE;
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_gp0();
	regs.gpr[GPR_RAX] = GUEST_CR4 | CR4_LA57;
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_gp0();
}

/* MOV CR3 under PCIDE: bit 63 keeps the PCID's translations and is not stored; without it the
 * PCID's non-global ones go; without PCIDE bit 63 is reserved (SDM Vol. 3A 4.10.4.1). */
static void test_shadow_cr3_pcid_no_flush_bit(void **state)
{
	(void)state;
	uint64_t cr3 = (uint64_t)(uintptr_t)pages;
	regs.gpr[GPR_RAX] = GUEST_CR4 | CR4_PCIDE;
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_completed(3);
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	exception_exit_info(0x80000B0Eu, 0, GUEST_TEXT_GVA, 0);
	assert_true(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0) != 0);
	regs.gpr[GPR_RBX] = cr3 | 1 | BIT(63); /* PCID 1: its own root */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_TO, GPR_RBX), 3);
	assert_completed(3);
	assert_int_equal(cpu0.guest_cr3, cr3 | 1);
	assert_int_equal(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0), 0);
	regs.gpr[GPR_RCX] = 0;
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_FROM, GPR_RCX), 3);
	assert_int_equal(regs.gpr[GPR_RCX], cr3 | 1); /* bit 63 reads 0 */
	regs.gpr[GPR_RBX] = cr3 | BIT(63); /* back to PCID 0, no flush: still there */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_TO, GPR_RBX), 3);
	assert_completed(3);
	assert_true(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0) != 0);
	pages[1536 + ((GUEST_TEXT_GVA >> 12) & 511)] &= ~BIT(5); /* A clear: the flush cannot revalidate it */
	regs.gpr[GPR_RBX] = cr3; /* PCID 0 with a flush */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_TO, GPR_RBX), 3);
	assert_completed(3);
	assert_int_equal(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0), 0);
	regs.gpr[GPR_RAX] = GUEST_CR4; /* PCIDE off: bit 63 is reserved */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_completed(3);
	regs.gpr[GPR_RBX] = cr3 | BIT(63);
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_TO, GPR_RBX), 3);
	assert_gp0();
	assert_int_equal(cpu0.guest_cr3, cr3);
}

static void test_shadow_cr4_pge_change_loads_new_root(void **state)
{
	(void)state;
	exception_exit_info(0x80000B0Eu, 0, GUEST_TEXT_GVA, 0);
	uint64_t flushes = cpu0.shadow->stats.flushes;
	regs.gpr[GPR_RAX] = GUEST_CR4 & ~CR4_PGE;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_completed(3);
	assert_int_equal(vmcs_readnat(VMCS_CR4_SHADOW) & CR4_PGE, 0);
	assert_true(vmcs_readnat(VMCS_GUEST_CR4) & CR4_PAE);
	assert_true(cpu0.shadow->stats.flushes > flushes);
	assert_int_equal(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0), 0);
}

/* ---- mmu=shadow with unpaged phases on the EPT (vm->unpaged_ept) ---- */

/* Where a shadow-mode vCPU runs: shadow tables whenever the guest pages; with paging off on the
 * EPT where the CPU has unrestricted guest, else on PAE identity tables, which cannot run real
 * mode or LME = 1 without paging (refused by name). */
static void test_shadow_phase_rule(void **state)
{
	(void)state;
	static const struct {
		uint64_t cr0, efer;
		int ug;
		enum shadow_phase want;
	} cases[] = {
		{ GUEST_CR0, GUEST_EFER, 1, SHADOW_PHASE_TABLES },
		{ GUEST_CR0, GUEST_EFER, 0, SHADOW_PHASE_TABLES },
		{ CR0_PE | CR0_PG, 0, 1, SHADOW_PHASE_TABLES }, /* 32-bit or PAE paging */
		{ CR0_ET | CR0_CD | CR0_NW, 0, 1, SHADOW_PHASE_EPT }, /* real mode after INIT/SIPI */
		{ CR0_PE | CR0_ET, 0, 1, SHADOW_PHASE_EPT },           /* protected mode, paging off */
		{ CR0_PE | CR0_ET, EFER_LME, 1, SHADOW_PHASE_EPT },    /* on the way into long mode */
		{ CR0_ET | CR0_CD | CR0_NW, 0, 0, SHADOW_PHASE_NO_REAL_MODE },
		{ CR0_PE | CR0_ET, EFER_LME, 0, SHADOW_PHASE_NO_LONG_UNPAGED },
		{ CR0_PE | CR0_ET, 0, 0, SHADOW_PHASE_TABLES }, /* PAE tables: linear = physical */
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (shadow_phase_for(cases[i].cr0, cases[i].efer, cases[i].ug) != cases[i].want)
			fail_msg("case %u: CR0 0x%llx EFER 0x%llx ug %d: phase %d, want %d", i,
				 (unsigned long long)cases[i].cr0, (unsigned long long)cases[i].efer, cases[i].ug,
				 shadow_phase_for(cases[i].cr0, cases[i].efer, cases[i].ug), cases[i].want);
}

#define SHADOW_PROC (PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING | PROC_INVLPG_EXITING)
#define UNPAGED_PROC2 (PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST)

static int setup_shadow_unpaged(void **state)
{
	if (setup_shadow(state))
		return -1;
	keel_vm.unpaged_ept = 1;
	keel_vm.proc_paging = SHADOW_PROC;
	keel_vm.proc2_unpaged = UNPAGED_PROC2;
	vmcs_write32(VMCS_PROC_CONTROLS, PROC_USE_MSR_BITMAPS | PROC_SECONDARY_CONTROLS | SHADOW_PROC);
	vmcs_write32(VMCS_PROC2_CONTROLS, PROC2_ENABLE_VPID);
	return 0;
}

static void assert_on_ept(void)
{
	assert_null(cpu0.shadow);
	assert_int_equal(vmcs_read32(VMCS_PROC2_CONTROLS), PROC2_ENABLE_VPID | UNPAGED_PROC2);
	assert_int_equal(vmcs_read32(VMCS_PROC_CONTROLS), PROC_USE_MSR_BITMAPS | PROC_SECONDARY_CONTROLS);
}

static void assert_on_tables(void)
{
	assert_ptr_equal(cpu0.shadow, cpu0.shadow_mmu);
	assert_int_equal(vmcs_read32(VMCS_PROC2_CONTROLS), PROC2_ENABLE_VPID);
	assert_int_equal(vmcs_read32(VMCS_PROC_CONTROLS), PROC_USE_MSR_BITMAPS | PROC_SECONDARY_CONTROLS | SHADOW_PROC);
	uint64_t root = vmcs_readnat(VMCS_GUEST_CR3);
	assert_true(root >= (uint64_t)(uintptr_t)shadow_pool && root < (uint64_t)(uintptr_t)shadow_ones);
	assert_true(vmcs_readnat(VMCS_GUEST_CR0) & CR0_PG);
}

/* An AP's life under mmu=shadow: INIT puts it on the EPT in the INIT state, SIPI starts it in real
 * mode there, its start-up code enters protected mode and then long mode; the MOV CR0 that sets
 * PG puts it on shadow tables for the CR3 it loaded meanwhile (without a CR3 exit); clearing PG
 * again (32-bit code) puts it back on the EPT with that CR3 as the real one. */
static void test_shadow_unpaged_phase_switches_on_cr0_pg(void **state)
{
	(void)state;
	uint64_t pa = (uint64_t)(uintptr_t)pages;
	assert_on_tables(); /* launched into the firmware's paged state */

	vm_exit(EXIT_REASON_INIT, 0, 0);
	assert_on_ept();
	assert_int_equal(vmcs_read32(VMCS_GUEST_ACTIVITY_STATE), ACTIVITY_WAIT_SIPI);
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), CR0_ET | CR0_CD | CR0_NW);
	assert_false(vmcs_readnat(VMCS_GUEST_CR0) & (CR0_PE | CR0_PG)); /* real mode, unrestricted guest */
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR3), 0);

	vm_exit(EXIT_REASON_SIPI, 0x9A, 0);
	assert_on_ept();
	uint64_t ip = 0; /* the INIT and SIPI wrote the entry fields: RIP tells the instructions done */
	assert_int_equal(vmcs_read16(VMCS_GUEST_CS_SEL), 0x9A00);

	/* Real mode: MOV CR0 with PE (PE is keel's in shadow mode, so it exits). */
	vmcs_write32(VMCS_GUEST_CS_AR, 0x9B);
	regs.gpr[GPR_RAX] = CR0_PE | CR0_ET;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_int_equal(rip(), ip += 3);
	assert_on_ept();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR0), CR0_PE | CR0_ET | CR0_NE);

	/* 32-bit protected mode: PAE (exits, keel's bit), CR3 and EFER.LME (the guest's own here). */
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32);
	regs.gpr[GPR_RAX] = CR4_PAE;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(4, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_int_equal(rip(), ip += 3);
	assert_on_ept();
	vmcs_writenat(VMCS_GUEST_CR3, pa);
	vmcs_write64(VMCS_GUEST_EFER, EFER_LME);

	regs.gpr[GPR_RAX] = CR0_PE | CR0_ET | CR0_WP | CR0_PG;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_int_equal(rip(), ip += 3);
	assert_on_tables();
	assert_int_equal(cpu0.guest_cr3, pa);
	assert_true(vmcs_read64(VMCS_GUEST_EFER) & EFER_LMA);
	assert_true(vmcs_read32(VMCS_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), CR0_PE | CR0_ET | CR0_WP | CR0_PG);
	/* and the shadow tables work: a first access fills from the guest's tables at that CR3 */
	exception_exit_info(0x80000B0Eu, 0, GUEST_TEXT_GVA + 0x10, 0);
	assert_true(shadow_lookup(cpu0.shadow, GUEST_TEXT_GVA, 0) != 0);
	/* MOV from CR3 exits on the tables and reads the guest's */
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(3, CRQ_TYPE_MOV_FROM, GPR_RBX), 3);
	assert_int_equal(regs.gpr[GPR_RBX], pa);

	/* Paging off again, from 32-bit code in compatibility-free protected mode. */
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32);
	regs.gpr[GPR_RAX] = CR0_PE | CR0_ET;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_on_ept();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR3), pa);
	assert_false(vmcs_read64(VMCS_GUEST_EFER) & EFER_LMA);
	assert_false(vmcs_read32(VMCS_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST);
	assert_false(vmcs_readnat(VMCS_GUEST_CR0) & CR0_PG);
}

/* Without unrestricted guest nothing changes: paging off with PE = 1 stays on (PAE identity)
 * shadow tables, the controls stay shadow mode's. */
static void test_shadow_without_ug_stays_on_tables(void **state)
{
	(void)state;
	keel_vm.unpaged_ept = 0;
	vmcs_write32(VMCS_GUEST_CS_AR, AR_CODE32);
	vmcs_write64(VMCS_GUEST_EFER, 0);
	vmcs_write32(VMCS_ENTRY_CONTROLS, ENTRY_LOAD_EFER);
	regs.gpr[GPR_RAX] = CR0_PE | CR0_ET;
	vm_exit(EXIT_REASON_CR_ACCESS, CRQ(0, CRQ_TYPE_MOV_TO, GPR_RAX), 3);
	assert_completed(3);
	assert_on_tables(); /* real PG = 1 on PAE tables that map linear = physical */
	assert_int_equal(vmcs_readnat(VMCS_CR0_SHADOW), CR0_PE | CR0_ET);
}

/* The accessed and dirty flags go into the guest's entries with a compare-and-exchange against
 * the value the walk read: an entry another CPU changed meanwhile is left as that CPU wrote it
 * (the walk then restarts), and the exchange writes only the entry's own width (4 bytes for
 * 32-bit paging), never its neighbour. A plain store would lose the other CPU's write. */
static void test_shadow_guest_ad_update_is_compare_exchange(void **state)
{
	(void)state;
	const struct shadow_guest_ops *g = &cpu0.shadow_mmu->guest;
	uint64_t *pt = pages + 1536;
	unsigned i = (GUEST_TEXT_GVA >> 12) & 511;
	uint64_t gpa = (uint64_t)(uintptr_t)&pt[i], seen = pt[i];

	pt[i] = 0; /* another CPU unmaps the page between keel's read and its A/D update */
	assert_int_equal(g->cmpxchg(g->opaque, gpa, 8, seen, seen | BIT(5)), 1);
	assert_int_equal(pt[i], 0);
	pt[i] = seen | BIT(6); /* or sets D itself */
	assert_int_equal(g->cmpxchg(g->opaque, gpa, 8, seen, seen | BIT(5)), 1);
	assert_int_equal(pt[i], seen | BIT(6));
	pt[i] = seen;
	assert_int_equal(g->cmpxchg(g->opaque, gpa, 8, seen, seen | BIT(5)), 0);
	assert_int_equal(pt[i], seen | BIT(5));

	uint32_t *pair = (uint32_t *)&pt[i + 1]; /* two 32-bit PTEs */
	pair[0] = 0x5003;
	pair[1] = 0x6003;
	uint64_t gpa32 = (uint64_t)(uintptr_t)pair;
	assert_int_equal(g->cmpxchg(g->opaque, gpa32, 4, 0x5003, 0x5023), 0);
	assert_int_equal(pair[0], 0x5023);
	assert_int_equal(pair[1], 0x6003);
	pair[1] = 0x7003; /* the neighbour changing is no conflict */
	assert_int_equal(g->cmpxchg(g->opaque, gpa32, 4, 0x5023, 0x5063), 0);
	assert_int_equal(pair[0], 0x5063);
	assert_int_equal(pair[1], 0x7003);
}

/* On shadow tables the xAPIC page is mapped read-only (struct shadow_mmu.write_trap): a guest
 * store to it is a write #PF that keel emulates as it does the EPT violation, here OVMF's
 * ExitBootServices SIPI to all APs, sent to each AP on its own. */
static void test_shadow_apic_write_trapped_on_tables(void **state)
{
	(void)state;
	four_cpus();
	cpu0.shadow_mmu->write_trap = FAKE_APIC_GPA; /* as shadow_vcpu_init takes vm->apic_page */
	uint64_t *pt = pages + 1536, apic_gva = GUEST_TEXT_GVA + 0x1000;
	pt[(apic_gva >> 12) & 511] = FAKE_APIC_GPA | 0x63; /* P, RW, A, D */
	for (unsigned i = 0; i < 3; i++)
		sipi_note_init(&ap[i]);
	uint8_t *text = (uint8_t *)(pages + 2048);
	memcpy(text + 0x40, "\x89\x02", 2); /* mov %eax,(%rdx) */
	vmcs_writenat(VMCS_GUEST_RIP, GUEST_TEXT_GVA + 0x40);
	regs.gpr[GPR_RAX] = 0x000C4687;
	regs.gpr[GPR_RDX] = apic_gva + 0x300;
	exception_exit_info(0x80000B0Eu, 0x2 /* write, not present */, apic_gva + 0x300, 0);
	assert_int_equal(rip(), GUEST_TEXT_GVA + 0x42);
	assert_int_equal(fake_apic[0x300 / 4], 0x00004687); /* the last per-AP SIPI, to APIC 3 */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(ap[i].sipi_pending, (uint64_t)ap[i].init_gen << 32 | 0x100 | 0x87);
	assert_no_event();
	assert_false(shadow_lookup(cpu0.shadow, apic_gva, 0) & 2); /* never writable */
}

static void test_trap_exception_gp_error_code(void **state)
{
	(void)state;
	exception_exit_info(0x80000B0Du, 0x18, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), ENTRY_GP);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), 0x18);
}

static void test_trap_exception_int3_software_with_length(void **state)
{
	(void)state;
	exception_exit_info(0x80000603u, 0, 0, 1); /* type 6, vector 3 */
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000603u);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INSTR_LEN), 1);
	assert_int_equal(rip(), RIP0);
}

static void test_trap_exception_db_sets_dr6(void **state)
{
	(void)state;
	cpu_fake_dr[6] = 0xFFFF0FF1; /* B0 left from an earlier #DB */
	exception_exit_info(0x80000301u, 0, DBQ_BS | 2, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000301u);
	assert_int_equal(cpu_fake_dr[6], 0xFFFF4FF2);
	assert_false(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_RF); /* a trap */
	vmcs_writenat(VMCS_GUEST_DR7, 0x402); /* breakpoint 0 enabled (G0), R/W0 = 00: execution */
	exception_exit_info(0x80000301u, 0, 1, 0);
	assert_true(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_RF); /* a fault */
}

static void test_trap_exception_during_delivery_lets_cpu_decide(void **state)
{
	(void)state;
	keel_vm.exception_bitmap = 0xFFFFFFFF;
	keel_vm.caps.pinbased = 0xFFFFFFFFull << 32;
	vmcs_write32(VMCS_EXCEPTION_BITMAP, 0xFFFFFFFF);
	vmcs_write32(VMCS_EXIT_INTR_INFO, 0x80000B0Eu); /* #PF while delivering ... */
	vmcs_write32(VMCS_EXIT_INTR_ERROR, 2);
	vmcs_write32(VMCS_IDT_VECTORING_INFO, 0x80000020u); /* ... external interrupt 0x20 */
	vm_exit(EXIT_REASON_EXCEPTION_NMI, 0x5000, 0);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0x80000020u); /* the interrupt again */
	assert_int_equal(vmcs_read32(VMCS_EXCEPTION_BITMAP), 0xFFFFBFFF);  /* #PF let through once */
	assert_int_equal(vmcs_read32(VMCS_PREEMPTION_TIMER), 0);
	assert_true(vmcs_read32(VMCS_PIN_CONTROLS) & PIN_PREEMPTION_TIMER);
	vmcs_write32(VMCS_IDT_VECTORING_INFO, 0);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
	vm_exit(EXIT_REASON_PREEMPTION_TIMER, 0, 0);
	assert_int_equal(vmcs_read32(VMCS_EXCEPTION_BITMAP), 0xFFFFFFFF);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_INTR_INFO), 0);
	assert_int_equal(cpu0.exc_unmasked, 0);
}

static void test_trap_exception_iret_nmi_unblocking(void **state)
{
	(void)state;
	exception_exit_info(0x80001B0Du, 0, 0, 0); /* #GP in an IRET that unblocked NMIs */
	assert_true(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) & INTERRUPTIBILITY_NMI);
}

/* ---- controls ---- */

static void test_trap_all_controls_on_bochs(void **state)
{
	(void)state;
	memset(&keel_vm, 0, sizeof(keel_vm));
	keel_vm.caps = caps_bochs_skylake_x;
	keel_vm.trap = TRAP_ALL;
	assert_null(vmx_compute_controls(&keel_vm));
	uint32_t want = PROC_HLT_EXITING | PROC_PAUSE_EXITING | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING |
			PROC_RDTSC_EXITING | PROC_RDPMC_EXITING | PROC_CR3_LOAD_EXITING | PROC_CR3_STORE_EXITING |
			PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING | PROC_MOV_DR_EXITING | PROC_INVLPG_EXITING;
	assert_int_equal(keel_vm.proc & want, want);
	assert_true(keel_vm.proc2 & PROC2_DESC_TABLE_EXITING);
	assert_true(keel_vm.proc2 & PROC2_WBINVD_EXITING);
	assert_int_equal(keel_vm.exception_bitmap, 0xFFFFFFFF);
	assert_int_equal(keel_vm.trap_missing, 0);
	assert_int_equal(keel_vm.trap, TRAP_ALL);
}

static void test_trap_missing_class_named_and_left_out(void **state)
{
	(void)state;
	memset(&keel_vm, 0, sizeof(keel_vm));
	keel_vm.caps = caps_bochs_skylake_x;
	keel_vm.caps.procbased2 &= ~((uint64_t)PROC2_DESC_TABLE_EXITING << 32);
	keel_vm.caps.misc &= ~VMX_MISC_ACTIVITY_HLT;
	keel_vm.trap = TRAP_ALL;
	assert_null(vmx_compute_controls(&keel_vm));
	assert_int_equal(keel_vm.trap_missing, TRAP_DESC | TRAP_HLT);
	assert_false(keel_vm.proc2 & PROC2_DESC_TABLE_EXITING);
	assert_false(keel_vm.proc & PROC_HLT_EXITING);
	vmx_report_traps(&keel_vm);
	assert_contains(log_text, "trap=hlt left out: this CPU has no HLT exiting or no HLT activity state");
	assert_contains(log_text, "trap=desc left out: this CPU has no descriptor-table exiting");
	assert_contains(log_text, "trap: intercepting pause,mwait,");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
/* A trap case on both paths: as T, and again with the fast path open ("fast:" in its name). */
#define TB(f) T(f), { "fast:" #f, f, setup_fast, teardown, NULL }
#define P(f) cmocka_unit_test_setup_teardown(f, setup_paging, teardown_paging)
#define PB(f) P(f), { "fast:" #f, f, setup_paging_fast, teardown_paging, NULL }
#define SH(f) cmocka_unit_test_setup_teardown(f, setup_shadow, teardown_shadow)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_next_rip_no_carry_asks_nothing),
		T(test_next_rip_wraps_at_4g_outside_64bit_mode),
		T(test_next_rip_carries_in_64bit_mode),
		T(test_fault_class),
		T(test_registered_handler_gets_decoded_exit),
		T(test_handler_runs_in_root_with_regs),
		T(test_unregistered_reason_injects_ud),
		T(test_unregistering_falls_back_to_unhandled),
		T(test_reason_beyond_table_injects_ud),
		T(test_unhandled_exit_dumps_guest_state),
		T(test_exit_counters_per_reason_and_total),
		T(test_non_init_exit_forgets_sipi_vector),
		T(test_vectoring_hw_exception_reinjected_with_error_code),
		T(test_vectoring_software_interrupt_gets_instruction_length),
		T(test_vectoring_software_exceptions_get_instruction_length),
		T(test_vectoring_external_interrupt_reinjected_without_length),
		T(test_vectoring_nmi_drops_bit_12),
		T(test_vectoring_invalid_info_not_reinjected),
		T(test_skip_advances_rip_by_exit_length),
		T(test_skip_clears_sti_and_mov_ss_blocking_keeps_nmi),
		T(test_skip_with_tf_sets_pending_single_step),
		T(test_skip_wraps_eip_outside_64bit_mode),
		T(test_skip_wraps_eip_in_compatibility_mode),
		T(test_skip_does_not_wrap_in_64bit_mode),
		T(test_instruction_exit_skips_through_dispatcher),
		T(test_cpuid_keel_signature),
		T(test_cpuid_keel_version_leaf),
		T(test_cpuid_other_keel_leaves_are_zero),
		T(test_cpuid_leaf1_sets_hypervisor_hides_vmx),
		T(test_cpuid_hypervisor_range_above_keel_is_zero),
		T(test_cpuid_osxsave_set_with_guest_cr4),
		T(test_cpuid_osxsave_clear_without_guest_cr4),
		T(test_cpuid_leaf7_ospke_follows_guest_cr4),
		T(test_rdmsr_feature_control_locked_vmx_off), /* the fast path reads the cache: test_fast_rdmsr_feature_control_from_cache */
		T(test_rdmsr_feature_control_read_fault_still_locked), /* likewise */
		TB(test_rdmsr_vmx_capability_msrs_gp),
		TB(test_rdmsr_next_to_vmx_range_passes_through),
		TB(test_rdmsr_passthrough_splits_value_into_edx_eax),
		T(test_rdmsr_fault_injects_gp), /* fast: it repeats the faulting RDMSR in the slow path; test_fast_path_hands_faults_to_slow_path */
		TB(test_wrmsr_feature_control_gp),
		TB(test_wrmsr_vmx_capability_msrs_gp),
		TB(test_wrmsr_passthrough_reaches_safe_wrmsr),
		TB(test_wrmsr_noncanonical_lstar_gp),
		T(test_wrmsr_fault_injects_gp), /* slow path only: see test_fast_path_hands_faults_to_slow_path */
		T(test_mov_cr4_setting_vmxe_gp),
		T(test_mov_cr4_valid_keeps_vmxe_in_real_only),
		T(test_mov_cr0_clearing_ne_changes_shadow_only),
		T(test_mov_cr0_invalid_value_gp),
		T(test_mov_cr0_enabling_paging_enters_ia32e_mode),
		T(test_clts_clears_ts),
		T(test_lmsw_cannot_clear_pe),
		T(test_xsetbv_xcr0_zero_gp),
		T(test_xsetbv_without_guest_osxsave_ud),
		T(test_xsetbv_from_cpl3_gp),
		T(test_xsetbv_other_xcr_gp),
		T(test_xsetbv_x87_only_reaches_safe_xsetbv),
		T(test_xsetbv_fault_injects_gp),
		T(test_vmx_instructions_ud),
		T(test_vmcall_seal_from_cpl3_ud),
		T(test_vmcall_version_from_cpl3_allowed),
		T(test_vmcall_version_from_cpl0),
		T(test_vmcall_stats_counts_the_call_itself),
		P(test_mov_cr0_enabling_pae_paging_loads_pdptes),
		P(test_mov_cr0_pae_reserved_pdpte_gp),
		P(test_vmcall_log_reads_guest_virtual_memory),
		P(test_vmcall_log_unmapped_address_efault),
		P(test_vmcall_log_from_keel_hidden_page_efault),
		P(test_vmcall_log_hidden_page_table_efault),
		P(test_vmcall_log_beyond_ept_map_efault),
		P(test_vmcall_log_from_cpl3_ud),
		TB(test_rep_outs_with_zero_count_completes_without_access),
		T(test_pending_nmi_injected_at_exit_end),
		T(test_pending_nmi_waits_for_guest_iret),
		T(test_pending_nmi_after_mov_ss_shadow),
		T(test_pending_nmi_retried_by_preemption_timer),
		T(test_pending_nmi_waits_behind_injected_fault),
		PB(test_outs_from_unmapped_memory_pf),
		PB(test_rep_outsb_writes_each_byte_and_completes),
		PB(test_rep_outsb_faults_mid_string_after_the_first_bytes),
		PB(test_rep_outsw_run_stops_before_the_word_that_crosses_the_page),
		PB(test_rep_outsb_backward_stops_at_the_page_start),
		PB(test_rep_outsb_backward_sends_in_reverse),
		PB(test_rep_outsb_16bit_index_wraps_to_the_segment_start),
		PB(test_ins_into_read_only_page_pf),
		PB(test_ins_writes_guest_memory),
		PB(test_outs_at_cpl3_from_supervisor_page_pf),
		PB(test_outs_at_cpl3_from_user_page_completes),
		PB(test_outs_smap),
		PB(test_outs_from_keel_hidden_page_gp),
		PB(test_outs_32bit_paging),
		PB(test_outs_32bit_paging_4m_page),
		PB(test_outs_pae_paging),
		T(test_sipi_starts_real_mode_at_vector),
		TB(test_wrmsr_fault_in_real_mode_gp_without_error_code),
		T(test_init_parks_in_wait_for_sipi),
		T(test_pending_nmi_injected_into_hlt),
		T(test_init_drops_pending_nmi),
		T(test_fast_path_opens_after_a_clean_slow_exit),
		T(test_fast_path_closed_while_work_is_pending),
		T(test_fast_rdmsr_feature_control_from_cache),
		T(test_fast_path_keeps_shadow_and_single_step_rules),
		T(test_fast_path_hands_faults_to_slow_path),
		T(test_machine_check_in_root_goes_to_guest),
		T(test_machine_check_during_entry_reflected),
		T(test_init_right_after_sipi_ignored),
		T(test_init_after_started_cpu_ran_parks_it),
		T(test_sipi_during_init_handler_not_lost),
		T(test_sipi_to_running_cpu_not_recorded),
		T(test_recorded_sipi_belongs_to_its_init),
		T(test_decode_apic_stores),
		T(test_icr_targets),
		P(test_broadcast_sipi_sent_per_ap),
		T(test_x2apic_broadcast_sipi_sent_per_ap),
		T(test_x2apic_icr_in_xapic_mode_gp),
		P(test_apic_writes_pass_through),
		P(test_undecodable_apic_write_lifts_trap),
		T(test_preemption_timer_prints_stats_and_rearms),
		T(test_trap_hlt_completes_and_halts),
		T(test_trap_hlt_at_cpl3_gp),
		T(test_trap_hlt_pending_nmi_injected),
		TB(test_trap_pause_completes),
		T(test_trap_mwait_reserved_ecx_gp),
		TB(test_trap_rdtsc_splits_and_grows),
		TB(test_trap_rdtsc_adds_tsc_offset),
		TB(test_trap_rdtsc_tsd_at_cpl3_gp),
		TB(test_trap_rdtscp_loads_tsc_aux),
		TB(test_trap_rdpmc_index_rules),
		TB(test_trap_rdpmc_cpl3_without_pce_gp),
		T(test_trap_cr3_store_reads_guest_cr3),
		T(test_trap_cr3_load_beyond_maxphyaddr_gp),
		T(test_trap_cr8_tpr),
		TB(test_trap_dr_rules),
		TB(test_trap_dr_round_trip),
		TB(test_trap_dr_general_detect_db),
		TB(test_trap_dr4_with_de_ud_and_cpl3_gp),
		T(test_operand_address_arithmetic),
		T(test_operand_segment_checks),
		T(test_desc_pure_rules),
		PB(test_sgdt_stores_ten_bytes),
		PB(test_guest_walk_sees_pte_changes_without_invalidation),
		PB(test_guest_walk_cached_rights_checked_per_access),
		PB(test_sidt_umip_cpl3_gp_and_unmapped_pf),
		PB(test_lidt_loads_and_noncanonical_gp),
		P(test_sldt_register_operand_size_from_prefix),
		P(test_str_to_memory),
		P(test_ltr_loads_busy_tss_and_marks_gdt),
		P(test_lldt_checks_selector),
		P(test_trap_monitor_checks),
		TB(test_trap_invlpg_individual_address),
		T(test_trap_invpcid_rules),
		P(test_trap_invpcid_type_from_register),
		TB(test_trap_wbinvd_executes),
		T(test_trap_simple_classes_complete_in_fast_path),
		T(test_trap_io_and_msr_bitmaps_all_ones),
		TB(test_trap_io_any_port_width_exact),
		TB(test_trap_msr_vmcs_held_msrs),
		T(test_trap_exception_fast_path_split),
		TB(test_trap_exception_pf_reflected_with_cr2),
		SH(test_shadow_launch_loads_a_root),
		SH(test_shadow_pf_filled_resumes_at_same_rip),
		SH(test_shadow_pf_reflected_with_cr2),
		SH(test_shadow_cr3_load_and_store),
		SH(test_shadow_invlpg_drops_translation_and_flushes_tlb),
		SH(test_shadow_cr4_pcide_emulated),
		SH(test_shadow_cr4_pcide_needs_cr3_low_bits_clear),
		SH(test_shadow_cr3_pcid_no_flush_bit),
		SH(test_shadow_cr4_pge_change_loads_new_root),
		T(test_shadow_phase_rule),
		cmocka_unit_test_setup_teardown(test_shadow_unpaged_phase_switches_on_cr0_pg, setup_shadow_unpaged,
						teardown_shadow),
		cmocka_unit_test_setup_teardown(test_shadow_without_ug_stays_on_tables, setup_shadow_unpaged,
						teardown_shadow),
		SH(test_shadow_guest_ad_update_is_compare_exchange),
		SH(test_shadow_apic_write_trapped_on_tables),
		TB(test_trap_exception_gp_error_code),
		TB(test_trap_exception_int3_software_with_length),
		TB(test_trap_exception_db_sets_dr6),
		TB(test_trap_exception_during_delivery_lets_cpu_decide),
		TB(test_trap_exception_iret_nmi_unblocking),
		T(test_trap_all_controls_on_bochs),
		T(test_trap_missing_class_named_and_left_out),
	};
	return cmocka_run_group_tests_name("exit", tests, NULL, NULL);
}
