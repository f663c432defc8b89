/* Host unit tests for keel's task-switch emulation (vmm/task.c): exits of reason 9 run through
 * the real dispatcher against the array-backed VMCS and a fake 32-bit guest. Host program (cmocka).
 *
 * Guest-physical memory is a 4 MiB buffer at phys_host_base; without paging, linear addresses
 * are guest-physical ones. The machine: a 32-bit protected-mode guest at CPL 0 running the task
 * whose TSS is at OLD_TSS (selector 0x18), a GDT at GDT_PA, and a second task at NEW_TSS
 * (selector 0x20). Each case states what the CPU does (SDM Vol. 3A 7.3). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "unit.h"

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../arch/x86/vmx.h"
#include "../../lib/log.h"
#include "../../vmm/exit.h"
#include "../../vmm/host.h"
#include "../../vmm/task.h"
#include "../../vmm/vmcs.h"
#include "cpu_fakes.h"
#include "vmcs_fake.h"

void vmx_exit_handler(struct guest_regs *r, struct vcpu *v);

/* ---- fakes for what the exit path links against (as test_exit.c provides them) ---- */

struct vm keel_vm;
uintptr_t phys_host_base;

int safe_rdmsr(uint32_t msr, uint64_t *value)
{
	fail_msg("unexpected RDMSR 0x%x", msr);
	*value = 0;
	return 1;
}

int safe_wrmsr(uint32_t msr, uint64_t value)
{
	(void)value;
	fail_msg("unexpected WRMSR 0x%x", msr);
	return 1;
}

int safe_xsetbv(uint32_t index, uint64_t value)
{
	(void)value;
	fail_msg("unexpected XSETBV %u", index);
	return 1;
}

void vmx_launch_unwind(struct unwind_ctx *ctx)
{
	(void)ctx;
	fail_msg("unexpected call to %s", __func__);
	abort();
}

static void fake_halt(void) { fail_msg("vcpu_stop parked the CPU (HLT) in a host test"); }
static void fake_unexpected(const char *insn) { fail_msg("%s executed in an exit handler", insn); }
static uint32_t fake_port_in(uint16_t port, unsigned size)
{
	fail_msg("unexpected IN 0x%x/%u", port, size);
	return 0;
}
static void fake_port_out(uint16_t port, unsigned size, uint32_t value)
{
	(void)value;
	fail_msg("unexpected OUT 0x%x/%u", port, size);
}
static unsigned ninvvpid;
static void fake_invalidate(const char *insn, uint64_t type, uint64_t operand)
{
	(void)type, (void)operand;
	if (!strcmp(insn, "INVVPID"))
		ninvvpid++;
}

static void capture(const char *s, size_t n)
{
	(void)n;
	if (strstr(s, " stopped: "))
		printf("test_task: unexpected vcpu_stop: %s", s);
}

/* ---- the guest ---- */

#define MEM_SIZE (4u << 20)
static uint8_t *mem;
static struct vcpu cpu0;
static struct guest_regs regs;

#define GDT_PA 0x1000u
#define GDT_LIMIT 0xFFu
#define OLD_TSS 0x2000u
#define NEW_TSS 0x3000u
#define LDT_PA 0x4000u
#define TSS16_PA 0x5000u
#define PDPT_PA 0x6000u /* PAE: the tables both tasks use */
#define PD_PA 0x7000u
#define NEW_STACK 0x8000u

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_OLD 0x18
#define SEL_NEW 0x20
#define SEL_LDT 0x28
#define SEL_CODE3 0x33 /* RPL 3 */
#define SEL_DATA3 0x3B
#define SEL_TSS16 0x40
#define SEL_ABSENT 0x48 /* a data segment, not present */
#define SEL_LDT_DATA 0x0C /* LDT entry 1, TI */

/* Selector slots of a TSS, in the VMCS order */
enum { SEG_ES_I, SEG_CS_I, SEG_SS_I, SEG_DS_I, SEG_FS_I, SEG_GS_I };

#define RIP0 0x100000u
#define RSP0 0x9000u
#define NEW_EIP 0x200000u
#define LEN 7u /* a far JMP/CALL ptr16:32 */

/* Access bytes: P | DPL | S | type (SDM Vol. 3A 3.4.5) */
#define ACC_CODE0 0x9A /* execute/read, not yet accessed */
#define ACC_DATA0 0x92
#define ACC_CODE3 0xFA
#define ACC_DATA3 0xF2
#define ACC_TSS32 0x89
#define ACC_TSS32_BUSY 0x8B
#define ACC_TSS16 0x81
#define ACC_LDT 0x82
#define FLAGS_4G 0xC /* G, D/B */

static uint64_t desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	return (limit & 0xFFFF) | (uint64_t)(base & 0xFFFFFF) << 16 | (uint64_t)access << 40 |
	       (uint64_t)((limit >> 16) & 0xF) << 48 | (uint64_t)(flags & 0xF) << 52 | (uint64_t)(base >> 24) << 56;
}

static uint64_t *gdt(unsigned sel) { return (uint64_t *)(mem + GDT_PA + (sel & ~7u)); }
static uint8_t gdt_access(unsigned sel) { return (uint8_t)(*gdt(sel) >> 40); }
static struct tss32 *tss32_at(uint32_t pa) { return (struct tss32 *)(mem + pa); }
static struct tss32 *new_tss(void) { return tss32_at(NEW_TSS); }
static struct tss32 *old_tss(void) { return tss32_at(OLD_TSS); }

static void guest_tr(uint16_t sel, uint32_t base, uint32_t limit, uint32_t ar)
{
	vmcs_write16(VMCS_GUEST_TR_SEL, sel);
	vmcs_writenat(VMCS_GUEST_TR_BASE, base);
	vmcs_write32(VMCS_GUEST_TR_LIMIT, limit);
	vmcs_write32(VMCS_GUEST_TR_AR, ar);
}

static int setup(void **state)
{
	vmcs_fake_reset(state);
	memset(&keel_vm, 0, sizeof(keel_vm));
	memset(&cpu0, 0, sizeof(cpu0));
	memset(&regs, 0, sizeof(regs));
	memset(mem, 0, MEM_SIZE);
	memset(cpu_fake_cr, 0, sizeof(cpu_fake_cr));
	cpu_fake_dr6 = 0xFFFF0FF0; /* DR6 at reset */
	ninvvpid = 0;
	cpu_fake_hooks = (struct cpu_fake_hooks){ fake_halt, fake_unexpected, fake_port_in, fake_port_out,
						 fake_invalidate };
	phys_host_base = (uintptr_t)mem;
	keel_vm.ept.map_top = MEM_SIZE;
	keel_vm.caps.max_phys_bits = 36;
	cpu0.vm = &keel_vm;
	cpu0.launched = 1;
	cpu0.sipi_vector = -1;
	cpu0.cr0_fixed0 = CR0_PE | CR0_NE | CR0_PG;
	cpu0.cr0_fixed1 = 0xFFFFFFFF;
	keel_vm.vcpus[0] = &cpu0;
	keel_vm.ncpus = keel_vm.nvirt = 1;

	*gdt(SEL_CODE) = desc(0, 0xFFFFF, ACC_CODE0, FLAGS_4G);
	*gdt(SEL_DATA) = desc(0, 0xFFFFF, ACC_DATA0, FLAGS_4G);
	*gdt(SEL_OLD) = desc(OLD_TSS, 0x67, ACC_TSS32_BUSY, 0);
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32, 0);
	*gdt(SEL_LDT) = desc(LDT_PA, 0x0F, ACC_LDT, 0);
	*gdt(SEL_CODE3) = desc(0, 0xFFFFF, ACC_CODE3, FLAGS_4G);
	*gdt(SEL_DATA3) = desc(0, 0xFFFFF, ACC_DATA3, FLAGS_4G);
	*gdt(SEL_TSS16) = desc(TSS16_PA, 0x2B, ACC_TSS16, 0);
	*gdt(SEL_ABSENT) = desc(0, 0xFFFFF, ACC_DATA0 & 0x7F, FLAGS_4G);
	((uint64_t *)(mem + LDT_PA))[1] = desc(0x10000, 0xFFFF, ACC_DATA0, 0x4);

	struct tss32 *t = new_tss();
	t->eip = NEW_EIP;
	t->eflags = RFLAGS_FIXED1 | RFLAGS_CF;
	t->cr3 = 0x12345000;
	for (unsigned i = 0; i < 8; i++)
		t->gpr[i] = 0x11111111u * (i + 1);
	t->gpr[GPR_RSP] = NEW_STACK;
	t->seg[SEG_ES_I].sel = SEL_DATA;
	t->seg[SEG_CS_I].sel = SEL_CODE;
	t->seg[SEG_SS_I].sel = SEL_DATA;
	t->seg[SEG_DS_I].sel = SEL_DATA;
	t->ldt = SEL_LDT;
	t->iomap_base = 0x68;

	/* The running task: CPL 0, flat segments, TR busy, no LDT, paging off. */
	vmcs_writenat(VMCS_GUEST_RIP, RIP0);
	vmcs_writenat(VMCS_GUEST_RSP, RSP0);
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_IF);
	vmcs_writenat(VMCS_GUEST_CR0, CR0_PE | CR0_MP | CR0_ET | CR0_NE);
	vmcs_writenat(VMCS_CR0_SHADOW, CR0_PE | CR0_MP | CR0_ET | CR0_NE);
	vmcs_writenat(VMCS_CR0_MASK, CR0_NE);
	vmcs_writenat(VMCS_GUEST_CR4, CR4_VMXE);
	vmcs_writenat(VMCS_GUEST_CR3, 0x55555000);
	vmcs_writenat(VMCS_GUEST_DR7, 0x400 | 0xFF); /* L0-L3 and G0-G3 */
	vmcs_write64(VMCS_GUEST_EFER, 0);
	vmcs_write16(VMCS_GUEST_CS_SEL, SEL_CODE);
	vmcs_write32(VMCS_GUEST_CS_AR, 0xC09B);
	vmcs_write32(VMCS_GUEST_CS_LIMIT, 0xFFFFFFFF);
	vmcs_write16(VMCS_GUEST_SS_SEL, SEL_DATA);
	vmcs_write32(VMCS_GUEST_SS_AR, 0xC093);
	vmcs_write16(VMCS_GUEST_DS_SEL, SEL_DATA);
	vmcs_write16(VMCS_GUEST_ES_SEL, SEL_DATA);
	vmcs_write32(VMCS_GUEST_FS_AR, AR_UNUSABLE);
	vmcs_write32(VMCS_GUEST_GS_AR, AR_UNUSABLE);
	vmcs_write32(VMCS_GUEST_LDTR_AR, AR_UNUSABLE);
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, GDT_PA);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, GDT_LIMIT);
	guest_tr(SEL_OLD, OLD_TSS, 0x67, 0x8B);
	for (unsigned i = 0; i < 16; i++)
		regs.gpr[i] = 0xA0A0A0A000000000ull | (0x01010101u * i);


	log_set_level(LOG_INFO);
	return log_add_output(capture) < 0;
}

static int teardown(void **state)
{
	(void)state;
	log_remove_output(capture);
	return 0;
}

/* One task-switch exit: qualification = source (31:30) | TSS selector (15:0), SDM table 27-2. */
static void task_exit(unsigned source, uint16_t sel, uint32_t len)
{
	vmcs_write32(VMCS_EXIT_REASON, EXIT_REASON_TASK_SWITCH);
	vmcs_writenat(VMCS_EXIT_QUALIFICATION, (uint64_t)source << 30 | sel);
	vmcs_write32(VMCS_EXIT_INSTR_LEN, len);
	vmx_exit_handler(&regs, &cpu0);
}

/* An event through a task gate: the IDT-vectoring fields the CPU saved (SDM 24.9.3). */
static void gate_exit(uint32_t vectoring, uint32_t error, uint32_t len)
{
	vmcs_write32(VMCS_IDT_VECTORING_INFO, vectoring);
	vmcs_write32(VMCS_IDT_VECTORING_ERROR, error);
	task_exit(TSQ_SOURCE_TASK_GATE, SEL_NEW, len);
}

#define EVENT_GP_CODE (INTR_INFO_VALID | INTR_INFO_DELIVER_CODE | INTR_TYPE_HW_EXCEPTION << 8 | VEC_GP)

static uint32_t entry_info(void) { return vmcs_read32(VMCS_ENTRY_INTR_INFO); }

static void assert_no_injection(void)
{
	if (entry_info() & INTR_INFO_VALID)
		fail_msg("unexpected event injected: entry interruption info 0x%x", entry_info());
}

/* A hardware exception with an error code queued for entry (SDM 24.8.3). */
static void assert_fault(unsigned vector, uint32_t error)
{
	assert_int_equal(entry_info(), INTR_INFO_VALID | INTR_INFO_DELIVER_CODE | INTR_TYPE_HW_EXCEPTION << 8 | vector);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), error);
}

/* A fault before the commit point: the old task untouched. */
static void assert_not_switched(void)
{
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_OLD);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RIP), RIP0);
	assert_int_equal(vmcs_read32(VMCS_GUEST_SS_AR), 0xC093);
	assert_int_equal(old_tss()->eip, 0);
	assert_int_equal(gdt_access(SEL_OLD), ACC_TSS32_BUSY);
}

static void assert_in_new_task(void)
{
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_NEW);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RIP), NEW_EIP);
	assert_int_equal(regs.gpr[GPR_RAX], 0x11111111u);
	assert_int_equal(regs.gpr[GPR_RDI], 0x88888888u);
	assert_int_equal(vmcs_read16(VMCS_GUEST_CS_SEL), SEL_CODE);
}

/* ---- the basic switch (the case that failed before keel emulated task switches) ---- */

static void test_jmp_to_tss_switches_task(void **state)
{
	(void)state;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_no_injection();
	assert_in_new_task();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RSP), NEW_STACK);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RFLAGS), RFLAGS_FIXED1 | RFLAGS_CF); /* no NT for JMP */
	/* JMP: the old task is no longer busy, the new one is; no back link. */
	assert_int_equal(gdt_access(SEL_OLD), ACC_TSS32);
	assert_int_equal(gdt_access(SEL_NEW), ACC_TSS32_BUSY);
	assert_int_equal(new_tss()->link, 0);
	/* TR: the new TSS, busy 32-bit type in the VMCS */
	assert_int_equal(vmcs_readnat(VMCS_GUEST_TR_BASE), NEW_TSS);
	assert_int_equal(vmcs_read32(VMCS_GUEST_TR_LIMIT), 0x67);
	assert_int_equal(vmcs_read32(VMCS_GUEST_TR_AR), 0x8B);
	/* the old task resumes after the JMP */
	assert_int_equal(old_tss()->eip, RIP0 + LEN);
}

static void test_call_nests_new_task(void **state)
{
	(void)state;
	task_exit(TSQ_SOURCE_CALL, SEL_NEW, LEN);
	assert_no_injection();
	assert_in_new_task();
	assert_int_equal(new_tss()->link, SEL_OLD);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RFLAGS), RFLAGS_FIXED1 | RFLAGS_CF | RFLAGS_NT);
	assert_int_equal(gdt_access(SEL_OLD), ACC_TSS32_BUSY); /* stays busy: it is suspended */
	assert_int_equal(gdt_access(SEL_NEW), ACC_TSS32_BUSY);
	assert_int_equal(old_tss()->eip, RIP0 + LEN);
	assert_int_equal(old_tss()->eflags, RFLAGS_FIXED1 | RFLAGS_IF);
}

/* IRET with NT: back to the task in the back link (SEL_NEW here, busy), leaving the current
 * task not busy and its saved EFLAGS without NT. */
static void test_iret_returns_to_busy_task(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32_BUSY, 0);
	old_tss()->link = SEL_NEW;
	new_tss()->eflags |= RFLAGS_NT;
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_NT);
	task_exit(TSQ_SOURCE_IRET, SEL_NEW, 1);
	assert_no_injection();
	assert_in_new_task();
	assert_int_equal(gdt_access(SEL_OLD), ACC_TSS32);
	assert_int_equal(gdt_access(SEL_NEW), ACC_TSS32_BUSY);
	assert_int_equal(old_tss()->eflags, RFLAGS_FIXED1);
	assert_int_equal(old_tss()->eip, RIP0 + 1);
	assert_int_equal(old_tss()->link, SEL_NEW); /* no new link written anywhere */
	assert_int_equal(new_tss()->link, 0);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RFLAGS), RFLAGS_FIXED1 | RFLAGS_CF | RFLAGS_NT);
}

static void test_iret_unblocks_nmi(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32_BUSY, 0);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, INTERRUPTIBILITY_NMI | INTERRUPTIBILITY_STI);
	task_exit(TSQ_SOURCE_IRET, SEL_NEW, 1);
	assert_int_equal(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY), 0);
}

/* #GP(selector) through a task gate: the re-injection the dispatcher queued is cancelled, the
 * error code is pushed on the new stack, the old task resumes at the faulting instruction with RF
 * set in its saved EFLAGS (SDM Vol. 3A 17.3.1.1), and the new task is nested. */
static void test_task_gate_exception_pushes_error_code(void **state)
{
	(void)state;
	gate_exit(EVENT_GP_CODE, 0x1234, 0);
	assert_false(entry_info() & INTR_INFO_VALID); /* the dispatcher's re-injection is gone */
	assert_in_new_task();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RSP), NEW_STACK - 4);
	assert_int_equal(*(uint32_t *)(mem + NEW_STACK - 4), 0x1234);
	assert_int_equal(old_tss()->eip, RIP0);
	assert_int_equal(old_tss()->eflags, RFLAGS_FIXED1 | RFLAGS_IF | RFLAGS_RF);
	assert_int_equal(new_tss()->link, SEL_OLD);
	assert_true(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_NT);
	assert_int_equal(gdt_access(SEL_OLD), ACC_TSS32_BUSY);
}

/* An external interrupt: no error code, the old task resumes where it was, RF as it was. */
static void test_task_gate_external_interrupt_no_error_code(void **state)
{
	(void)state;
	gate_exit(INTR_INFO_VALID | INTR_TYPE_EXT_INTR << 8 | 0x30, 0, 0);
	assert_false(entry_info() & INTR_INFO_VALID);
	assert_in_new_task();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RSP), NEW_STACK);
	assert_int_equal(old_tss()->eip, RIP0);
	assert_int_equal(old_tss()->eflags, RFLAGS_FIXED1 | RFLAGS_IF);
}

/* INT n through a task gate completes the INT: the old task resumes after it, RF clear. */
static void test_task_gate_int_n_saves_next_eip(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_IF | RFLAGS_RF);
	gate_exit(INTR_INFO_VALID | INTR_TYPE_SW_INTR << 8 | 0x80, 0, 2);
	assert_false(entry_info() & INTR_INFO_VALID);
	assert_in_new_task();
	assert_int_equal(old_tss()->eip, RIP0 + 2);
	assert_int_equal(old_tss()->eflags, RFLAGS_FIXED1 | RFLAGS_IF); /* RF clears with the INT done */
	assert_int_equal(new_tss()->link, SEL_OLD);
}

static void test_task_gate_nmi_blocks_nmis(void **state)
{
	(void)state;
	gate_exit(INTR_INFO_VALID | INTR_TYPE_NMI << 8 | VEC_NMI, 0, 0);
	assert_false(entry_info() & INTR_INFO_VALID);
	assert_in_new_task();
	assert_true(vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) & INTERRUPTIBILITY_NMI);
}

static void setup_pae(void);

/* ---- faults before the commit point: raised in the old task ---- */

static void test_jmp_to_busy_tss_gp(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32_BUSY, 0);
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_GP, SEL_NEW);
	assert_not_switched();
}

static void test_call_to_busy_tss_gp(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32_BUSY, 0);
	task_exit(TSQ_SOURCE_CALL, SEL_NEW | 3, LEN);
	assert_fault(VEC_GP, SEL_NEW); /* the RPL is not part of the error code */
	assert_not_switched();
}

static void test_iret_to_available_tss_ts(void **state)
{
	(void)state;
	task_exit(TSQ_SOURCE_IRET, SEL_NEW, 1);
	assert_fault(VEC_TS, SEL_NEW);
	assert_not_switched();
}

static void test_tss_limit_too_small_ts(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x66, ACC_TSS32, 0);
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_TS, SEL_NEW);
	assert_not_switched();
}

static void test_tss_not_present_np(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32 & 0x7F, 0);
	task_exit(TSQ_SOURCE_CALL, SEL_NEW, LEN);
	assert_fault(VEC_NP, SEL_NEW);
	assert_not_switched();
}

/* An external event sets EXT (bit 0) in the error code (SDM 6.13). */
static void test_task_gate_not_present_np_with_ext(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32 & 0x7F, 0);
	gate_exit(INTR_INFO_VALID | INTR_TYPE_EXT_INTR << 8 | 0x30, 0, 0);
	assert_fault(VEC_NP, SEL_NEW | 1);
	assert_not_switched();
}

/* #GP being delivered, and the switch for it raises #NP: contributory after contributory is
 * #DF(0) (SDM 6.15 table 6-5). */
static void test_fault_while_switching_for_gp_double_faults(void **state)
{
	(void)state;
	*gdt(SEL_NEW) = desc(NEW_TSS, 0x67, ACC_TSS32 & 0x7F, 0);
	gate_exit(EVENT_GP_CODE, 0, 0);
	assert_fault(VEC_DF, 0);
	assert_not_switched();
}

/* #PF being delivered, the new TSS unmapped: #PF after #PF is #DF(0). */
static void test_page_fault_while_switching_for_pf_double_faults(void **state)
{
	(void)state;
	setup_pae();
	*gdt(SEL_NEW) = desc(0x400000, 0x67, ACC_TSS32, 0);
	gate_exit(INTR_INFO_VALID | INTR_INFO_DELIVER_CODE | INTR_TYPE_HW_EXCEPTION << 8 | VEC_PF, 2, 0);
	assert_fault(VEC_DF, 0);
	assert_not_switched();
}

static void test_tss_selector_beyond_gdt_gp(void **state)
{
	(void)state;
	task_exit(TSQ_SOURCE_JMP, 0x100, LEN);
	assert_fault(VEC_GP, 0x100);
	assert_not_switched();
}

static void test_non_tss_descriptor_gp(void **state)
{
	(void)state;
	task_exit(TSQ_SOURCE_JMP, SEL_LDT, LEN);
	assert_fault(VEC_GP, SEL_LDT);
	assert_not_switched();
}

static void test_tss_in_ldt_iret_ts(void **state)
{
	(void)state;
	task_exit(TSQ_SOURCE_IRET, SEL_NEW | 4, 1);
	assert_fault(VEC_TS, SEL_NEW | 4);
	assert_not_switched();
}

/* ---- the state saved and loaded ---- */

/* The old TSS gets exactly EIP, EFLAGS, the eight GPRs and the six selectors (SDM figure 7-2,
 * offsets 0x20-0x5C); the reserved halves of the selector slots and every other byte stay. */
static void test_old_state_saved_exactly(void **state)
{
	(void)state;
	uint8_t before[0x68], *t = mem + OLD_TSS;
	memset(t, 0xA5, 0x68);
	memcpy(before, t, sizeof(before));
	vmcs_write16(VMCS_GUEST_FS_SEL, 0x0004); /* a null selector with TI: saved as is */
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1 | RFLAGS_IF | RFLAGS_CF | RFLAGS_DF);
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_no_injection();

	static const struct {
		unsigned off, size;
		uint32_t value;
	} want[] = {
		{ 0x20, 4, RIP0 + LEN }, { 0x24, 4, RFLAGS_FIXED1 | RFLAGS_IF | RFLAGS_CF | RFLAGS_DF },
		{ 0x28, 4, 0x00000000 }, { 0x2C, 4, 0x01010101 }, { 0x30, 4, 0x02020202 }, { 0x34, 4, 0x03030303 },
		{ 0x38, 4, RSP0 },       { 0x3C, 4, 0x05050505 }, { 0x40, 4, 0x06060606 }, { 0x44, 4, 0x07070707 },
		{ 0x48, 2, SEL_DATA },   { 0x4C, 2, SEL_CODE },   { 0x50, 2, SEL_DATA },   { 0x54, 2, SEL_DATA },
		{ 0x58, 2, 0x0004 },     { 0x5C, 2, 0 },
	};
	uint8_t expect[0x68];
	memcpy(expect, before, sizeof(expect));
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		memcpy(expect + want[i].off, &want[i].value, want[i].size);
	for (unsigned off = 0; off < sizeof(expect); off++)
		if (t[off] != expect[off])
			fail_msg("old TSS byte 0x%02x: 0x%02x, expected 0x%02x", off, t[off], expect[off]);
}

/* Segments from the new TSS with descriptor checks: accessed bits set in the GDT and in the VMCS
 * format, the LDT loaded and used for a TI selector, a null selector unusable. */
static void test_new_segments_loaded(void **state)
{
	(void)state;
	new_tss()->seg[SEG_FS_I].sel = SEL_LDT_DATA;
	new_tss()->seg[SEG_GS_I].sel = 0;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_no_injection();
	assert_int_equal(gdt_access(SEL_CODE), ACC_CODE0 | 1);
	assert_int_equal(gdt_access(SEL_DATA), ACC_DATA0 | 1);
	assert_int_equal(vmcs_read32(VMCS_GUEST_CS_AR), 0xC09B);
	assert_int_equal(vmcs_read32(VMCS_GUEST_CS_LIMIT), 0xFFFFFFFF);
	assert_int_equal(vmcs_read32(VMCS_GUEST_SS_AR), 0xC093);
	assert_int_equal(vmcs_read32(VMCS_GUEST_DS_AR), 0xC093);
	assert_int_equal(vmcs_read32(VMCS_GUEST_ES_AR), 0xC093);
	assert_int_equal(vmcs_read16(VMCS_GUEST_LDTR_SEL), SEL_LDT);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_LDTR_BASE), LDT_PA);
	assert_int_equal(vmcs_read32(VMCS_GUEST_LDTR_LIMIT), 0x0F);
	assert_int_equal(vmcs_read32(VMCS_GUEST_LDTR_AR), 0x82);
	assert_int_equal(vmcs_read16(VMCS_GUEST_FS_SEL), SEL_LDT_DATA);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_FS_BASE), 0x10000);
	assert_int_equal(vmcs_read32(VMCS_GUEST_FS_LIMIT), 0xFFFF);
	assert_int_equal(vmcs_read32(VMCS_GUEST_FS_AR), 0x4093);
	assert_int_equal(((uint8_t *)(mem + LDT_PA + 8))[5], ACC_DATA0 | 1);
	assert_int_equal(vmcs_read32(VMCS_GUEST_GS_AR), AR_UNUSABLE);
	/* paging is off: CR3 keeps its value */
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR3), 0x55555000);
}

static void test_switch_sets_cr0_ts_and_clears_local_breakpoints(void **state)
{
	(void)state;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_true(vmcs_readnat(VMCS_GUEST_CR0) & CR0_TS);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_DR7), 0x400 | 0xAA);
}

/* A keel that owned CR0.TS would have to show it in the read shadow too. */
static void test_switch_sets_ts_in_shadow_when_owned(void **state)
{
	(void)state;
	vmcs_writenat(VMCS_CR0_MASK, CR0_NE | CR0_TS);
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_true(vmcs_readnat(VMCS_GUEST_CR0) & CR0_TS);
	assert_true(vmcs_readnat(VMCS_CR0_SHADOW) & CR0_TS);
}

/* ---- faults after the commit point: raised in the new task ---- */

/* A data segment as CS: #TS(CS) with the switch done (TR, EIP, GPRs, the new selectors). */
static void test_invalid_cs_ts_after_switch(void **state)
{
	(void)state;
	new_tss()->seg[SEG_CS_I].sel = SEL_DATA;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_TS, SEL_DATA);
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_NEW);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RIP), NEW_EIP);
	assert_int_equal(regs.gpr[GPR_RAX], 0x11111111u);
	assert_int_equal(vmcs_read16(VMCS_GUEST_CS_SEL), SEL_DATA);
	assert_int_equal(gdt_access(SEL_OLD), ACC_TSS32);
	assert_int_equal(gdt_access(SEL_NEW), ACC_TSS32_BUSY);
	assert_int_equal(old_tss()->eip, RIP0 + LEN);
	/* the registers not loaded after the failure are unusable (SS keeps the CPL) */
	assert_int_equal(vmcs_read32(VMCS_GUEST_SS_AR), AR_UNUSABLE);
	assert_int_equal(vmcs_read32(VMCS_GUEST_DS_AR), AR_UNUSABLE);
	assert_true(vmcs_read32(VMCS_GUEST_CS_AR) & AR_P); /* CS never unusable for VM entry */
	assert_int_equal(gdt_access(SEL_DATA), ACC_DATA0); /* the failed load set no accessed bit */
}

static void test_cs_dpl_not_rpl_ts(void **state)
{
	(void)state;
	new_tss()->seg[SEG_CS_I].sel = SEL_CODE | 3; /* a DPL-0 nonconforming code segment at RPL 3 */
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_TS, SEL_CODE);
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_NEW);
}

static void test_null_ss_ts(void **state)
{
	(void)state;
	new_tss()->seg[SEG_SS_I].sel = 0;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_TS, 0);
}

static void test_ss_not_present_ss(void **state)
{
	(void)state;
	new_tss()->seg[SEG_SS_I].sel = SEL_ABSENT;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_SS, SEL_ABSENT);
}

static void test_data_not_present_np(void **state)
{
	(void)state;
	new_tss()->seg[SEG_DS_I].sel = SEL_ABSENT;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_NP, SEL_ABSENT);
	assert_int_equal(vmcs_read32(VMCS_GUEST_SS_AR), 0xC093); /* loaded before DS */
	assert_int_equal(vmcs_read32(VMCS_GUEST_DS_AR), AR_UNUSABLE);
}

static void test_bad_ldt_ts(void **state)
{
	(void)state;
	new_tss()->ldt = SEL_DATA;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_TS, SEL_DATA);
	assert_int_equal(vmcs_read32(VMCS_GUEST_LDTR_AR), AR_UNUSABLE);
}

static void test_eip_beyond_cs_limit_gp0(void **state)
{
	(void)state;
	*gdt(SEL_CODE) = desc(0, 0xFFFF, ACC_CODE0, 0x4); /* 64 KiB, byte granular */
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_GP, 0);
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_NEW);
}

/* No room for the error code on the new stack: #SS(EXT). */
static void test_error_code_push_beyond_stack_limit_ss(void **state)
{
	(void)state;
	*gdt(SEL_DATA) = desc(0, NEW_STACK - 2, ACC_DATA0, 0x4);
	new_tss()->gpr[GPR_RSP] = NEW_STACK + 2;
	/* #AC: benign, so the #SS is not turned into #DF */
	gate_exit(INTR_INFO_VALID | INTR_INFO_DELIVER_CODE | INTR_TYPE_HW_EXCEPTION << 8 | VEC_AC, 0, 0);
	assert_fault(VEC_SS, 1);
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_NEW);
}

/* The T bit: #DB after the switch, with DR6.BT. */
static void test_trap_bit_raises_db(void **state)
{
	(void)state;
	new_tss()->trap = 1;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_in_new_task();
	assert_int_equal(entry_info(), INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION << 8 | VEC_DB);
	assert_true(cpu_fake_dr6 & DR6_BT);
}

/* ---- other task kinds ---- */

static void test_ring3_task_with_rpl3_segments(void **state)
{
	(void)state;
	new_tss()->seg[SEG_CS_I].sel = SEL_CODE3;
	new_tss()->seg[SEG_SS_I].sel = SEL_DATA3;
	new_tss()->seg[SEG_DS_I].sel = SEL_DATA3;
	new_tss()->seg[SEG_ES_I].sel = SEL_DATA; /* DPL 0 < CPL 3 */
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_TS, SEL_DATA);
	assert_int_equal(AR_DPL(vmcs_read32(VMCS_GUEST_SS_AR)), 3);
	assert_int_equal(vmcs_read32(VMCS_GUEST_CS_AR), 0xC0FB);
	assert_int_equal(vmcs_read32(VMCS_GUEST_DS_AR), 0xC0F3);
}

static void test_virtual_8086_task(void **state)
{
	(void)state;
	new_tss()->eflags = RFLAGS_FIXED1 | RFLAGS_VM;
	new_tss()->eip = 0x100;
	new_tss()->seg[SEG_CS_I].sel = 0x1234;
	new_tss()->seg[SEG_SS_I].sel = 0x2000;
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_no_injection();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CS_BASE), 0x12340);
	assert_int_equal(vmcs_read32(VMCS_GUEST_CS_LIMIT), 0xFFFF);
	assert_int_equal(vmcs_read32(VMCS_GUEST_CS_AR), 0xF3);
	assert_int_equal(vmcs_read32(VMCS_GUEST_SS_AR), 0xF3);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RIP), 0x100);
	assert_true(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_VM);
}

/* A 16-bit TSS (SDM Vol. 3A 7.6): word registers, no CR3, FS, GS; TR type 3. */
static void test_jmp_to_16bit_tss(void **state)
{
	(void)state;
	struct tss16 *t = (struct tss16 *)(mem + TSS16_PA);
	t->ip = 0x1234;
	t->flags = RFLAGS_FIXED1 | RFLAGS_CF;
	for (unsigned i = 0; i < 8; i++)
		t->gpr[i] = (uint16_t)(0x1111 * (i + 1));
	t->seg[SEG_ES_I] = SEL_DATA;
	t->seg[SEG_CS_I] = SEL_CODE;
	t->seg[SEG_SS_I] = SEL_DATA;
	t->seg[SEG_DS_I] = SEL_DATA;
	vmcs_write16(VMCS_GUEST_FS_SEL, 0x77);
	task_exit(TSQ_SOURCE_JMP, SEL_TSS16, LEN);
	assert_no_injection();
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_TSS16);
	assert_int_equal(vmcs_read32(VMCS_GUEST_TR_AR), 0x83);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RIP), 0x1234);
	assert_int_equal(regs.gpr[GPR_RAX], 0x1111);
	assert_int_equal(regs.gpr[GPR_RCX], 0x01012222); /* high word kept */
	assert_int_equal(vmcs_readnat(VMCS_GUEST_RSP), 0x5555);
	assert_int_equal(vmcs_read16(VMCS_GUEST_FS_SEL), 0x77);
	assert_int_equal(gdt_access(SEL_TSS16), 0x83);
}

/* PAE paging: CR3 from the new TSS, its four PDPTEs into the VMCS (entry loads them with EPT).
 * The GDT and TSS pages are supervisor-only and the old task runs at CPL 3 through a task gate:
 * the descriptor and TSS accesses are supervisor accesses all the same. */
#define PDPT2_PA 0x9000u
static void setup_pae(void)
{
	uint64_t *pd = (uint64_t *)(mem + PD_PA);
	pd[0] = 0x83;            /* 2 MiB at 0: present, writable, supervisor */
	pd[1] = 0x200000 | 0x83; /* 2 MiB at 2 MiB */
	((uint64_t *)(mem + PDPT_PA))[0] = PD_PA | 1;
	((uint64_t *)(mem + PDPT2_PA))[0] = PD_PA | 1;
	((uint64_t *)(mem + PDPT2_PA))[3] = 0x300000 | 1;
	vmcs_writenat(VMCS_GUEST_CR0, CR0_PE | CR0_ET | CR0_NE | CR0_PG);
	vmcs_writenat(VMCS_GUEST_CR4, CR4_VMXE | CR4_PAE);
	vmcs_writenat(VMCS_GUEST_CR3, PDPT_PA);
	vmcs_write64(VMCS_GUEST_PDPTE0, PD_PA | 1);
	new_tss()->cr3 = PDPT2_PA;
}

static void test_pae_task_loads_cr3_and_pdptes(void **state)
{
	(void)state;
	setup_pae();
	cpu0.vpid = 1;
	vmcs_write32(VMCS_GUEST_SS_AR, 0xC0F3); /* CPL 3 */
	vmcs_write32(VMCS_GUEST_CS_AR, 0xC0FB);
	gate_exit(INTR_INFO_VALID | INTR_TYPE_EXT_INTR << 8 | 0x30, 0, 0);
	assert_no_injection();
	assert_in_new_task();
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR3), PDPT2_PA);
	assert_int_equal(vmcs_read64(VMCS_GUEST_PDPTE0), PD_PA | 1);
	assert_int_equal(vmcs_read_raw(VMCS_GUEST_PDPTE0 + 6), 0x300000 | 1);
	assert_int_equal(ninvvpid, 1);
	assert_int_equal(vmcs_read32(VMCS_GUEST_SS_AR), 0xC093); /* the new task's CPL 0 */
}

static void test_pae_reserved_pdpte_bit_gp(void **state)
{
	(void)state;
	setup_pae();
	((uint64_t *)(mem + PDPT2_PA))[2] = 0x300000 | 1 | BIT(5);
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_GP, 0);
	assert_int_equal(vmcs_readnat(VMCS_GUEST_CR3), PDPT_PA);
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_OLD);
}

/* The new TSS on a page not mapped: #PF in the old task, nothing loaded. */
static void test_unmapped_new_tss_page_fault(void **state)
{
	(void)state;
	setup_pae();
	*gdt(SEL_NEW) = desc(0x400000, 0x67, ACC_TSS32, 0);
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_int_equal(entry_info(), INTR_INFO_VALID | INTR_INFO_DELIVER_CODE | INTR_TYPE_HW_EXCEPTION << 8 | VEC_PF);
	assert_int_equal(cpu_fake_cr[2], 0x400000);
	assert_int_equal(vmcs_read32(VMCS_ENTRY_EXCEPTION_ERROR), 0); /* supervisor read, not present */
	assert_not_switched();
}

static void test_ia32e_mode_gp(void **state)
{
	(void)state;
	vmcs_write64(VMCS_GUEST_EFER, EFER_LMA | EFER_LME);
	task_exit(TSQ_SOURCE_JMP, SEL_NEW, LEN);
	assert_fault(VEC_GP, 0);
	assert_int_equal(vmcs_read16(VMCS_GUEST_TR_SEL), SEL_OLD);
}

/* ---- the pure rules, directly ---- */

static void test_decode_descriptor(void **state)
{
	(void)state;
	struct task_desc d;
	task_decode_descriptor(0x12CF9A345678FFFFull, &d);
	assert_int_equal(d.base, 0x12345678);
	assert_int_equal(d.limit, 0xFFFFFFFF);
	assert_int_equal(d.ar, 0xC09A);
	task_decode_descriptor(desc(0xABCDEF01, 0x54321, 0x89, 0), &d);
	assert_int_equal(d.base, 0xABCDEF01);
	assert_int_equal(d.limit, 0x54321);
	assert_int_equal(d.ar, 0x89);
}

static void test_check_segment_rules(void **state)
{
	(void)state;
	struct task_desc conforming = { 0, 0xFFFFF, 0xC09E }, code3 = { 0, 0xFFFFF, 0xC0FA };
	struct task_desc exec_only = { 0, 0xFFFFF, 0xC098 }, data0 = { 0, 0xFFFFF, 0xC092 };
	struct task_desc ro_data3 = { 0, 0xFFFFF, 0xC0F0 };
	/* conforming code: DPL <= RPL */
	assert_int_equal(task_check_segment(TASK_SEG_CS, 0x0B, &conforming, 3, 0).vector, TASK_NO_FAULT);
	assert_int_equal(task_check_segment(TASK_SEG_CS, 0x1B, &code3, 0, 0).vector, TASK_NO_FAULT);
	assert_int_equal(task_check_segment(TASK_SEG_CS, 0x18, &code3, 0, 0).vector, VEC_TS);
	/* a conforming or readable code segment may be a data register; execute-only may not */
	assert_int_equal(task_check_segment(TASK_SEG_DATA, 0x08, &conforming, 3, 0).vector, TASK_NO_FAULT);
	struct task_fault f = task_check_segment(TASK_SEG_DATA, 0x0A, &exec_only, 0, 1);
	assert_int_equal(f.vector, VEC_TS);
	assert_int_equal(f.error, 0x09);
	/* SS: writable, DPL = RPL = CPL */
	assert_int_equal(task_check_segment(TASK_SEG_SS, 0x33, &ro_data3, 3, 0).vector, VEC_TS);
	assert_int_equal(task_check_segment(TASK_SEG_SS, 0x10, &data0, 3, 0).vector, VEC_TS);
	assert_int_equal(task_check_segment(TASK_SEG_SS, 0x10, &data0, 0, 0).vector, TASK_NO_FAULT);
	/* data: RPL above DPL */
	assert_int_equal(task_check_segment(TASK_SEG_DATA, 0x13, &data0, 0, 0).vector, VEC_TS);
	/* null: fine for data and LDT; beyond the table: #TS */
	assert_int_equal(task_check_segment(TASK_SEG_DATA, 3, 0, 0, 0).vector, TASK_NO_FAULT);
	assert_int_equal(task_check_segment(TASK_SEG_LDT, 0, 0, 0, 0).vector, TASK_NO_FAULT);
	assert_int_equal(task_check_segment(TASK_SEG_DATA, 0x808, 0, 0, 0).vector, VEC_TS);
	assert_int_equal(task_check_segment(TASK_SEG_LDT, 0x2C, &data0, 0, 0).vector, VEC_TS);
}

static void test_check_tss_16bit_limit(void **state)
{
	(void)state;
	struct task_desc t16 = { 0x5000, 0x2A, 0x81 };
	assert_int_equal(task_check_tss(&t16, 0x40, TSQ_SOURCE_JMP, 0).vector, VEC_TS);
	t16.limit = 0x2B;
	assert_int_equal(task_check_tss(&t16, 0x40, TSQ_SOURCE_JMP, 0).vector, TASK_NO_FAULT);
	assert_int_equal(task_check_tss(&t16, 0x40, TSQ_SOURCE_IRET, 0).vector, VEC_TS);
}

int main(void)
{
	mem = mmap(0, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_jmp_to_tss_switches_task),
		T(test_call_nests_new_task),
		T(test_iret_returns_to_busy_task),
		T(test_iret_unblocks_nmi),
		T(test_task_gate_exception_pushes_error_code),
		T(test_task_gate_external_interrupt_no_error_code),
		T(test_task_gate_int_n_saves_next_eip),
		T(test_task_gate_nmi_blocks_nmis),
		T(test_jmp_to_busy_tss_gp),
		T(test_call_to_busy_tss_gp),
		T(test_iret_to_available_tss_ts),
		T(test_tss_limit_too_small_ts),
		T(test_tss_not_present_np),
		T(test_task_gate_not_present_np_with_ext),
		T(test_fault_while_switching_for_gp_double_faults),
		T(test_page_fault_while_switching_for_pf_double_faults),
		T(test_tss_selector_beyond_gdt_gp),
		T(test_non_tss_descriptor_gp),
		T(test_tss_in_ldt_iret_ts),
		T(test_old_state_saved_exactly),
		T(test_new_segments_loaded),
		T(test_switch_sets_cr0_ts_and_clears_local_breakpoints),
		T(test_switch_sets_ts_in_shadow_when_owned),
		T(test_invalid_cs_ts_after_switch),
		T(test_cs_dpl_not_rpl_ts),
		T(test_null_ss_ts),
		T(test_ss_not_present_ss),
		T(test_data_not_present_np),
		T(test_bad_ldt_ts),
		T(test_eip_beyond_cs_limit_gp0),
		T(test_error_code_push_beyond_stack_limit_ss),
		T(test_trap_bit_raises_db),
		T(test_ring3_task_with_rpl3_segments),
		T(test_virtual_8086_task),
		T(test_jmp_to_16bit_tss),
		T(test_pae_task_loads_cr3_and_pdptes),
		T(test_pae_reserved_pdpte_bit_gp),
		T(test_unmapped_new_tss_page_fault),
		T(test_ia32e_mode_gp),
		T(test_decode_descriptor),
		T(test_check_segment_rules),
		T(test_check_tss_16bit_limit),
	};
	return cmocka_run_group_tests_name("task", tests, NULL, NULL);
}
