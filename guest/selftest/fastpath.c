/* Cases for the exits keel completes on its fast paths: each instruction single-stepped (#DB after
 * it, DR6.BS), an emulated instruction in a MOV-SS shadow and in an STI shadow, and an NMI sent to
 * self while the guest loops on CPUID. Natively they are the baseline. UEFI boot services, CPL 0, BSP. */
#include "fastpath.h"

#include "trap.h"

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../vmm/hypercall_abi.h"

#define DR6_BS BIT(14)
#define DR6_INIT 0xFFFF0FF0ULL
#define APIC_BASE_X2APIC BIT(10)
#define MSR_X2APIC_ICR 0x830
#define ICR_NMI_ASSERT 0x4400u /* delivery mode NMI (100b), level assert, no shorthand */

struct step_probe {
	uint64_t rip; /* the instruction after the stepped one: where the #DB must report */
};

/*
 * POPF sets TF, so the single-step trap follows the instruction after it: the one under test,
 * which keel completes on a fast path and for which it must deliver the #DB itself (SDM Vol. 3B
 * 17.3.1.4). SETUP loads its operands before TF goes on; the stepped instruction is OP alone.
 */
#define STEP_CASE(name, setup, op, clobbers...)                                                   \
	static void do_step_##name(void *p)                                                        \
	{                                                                                          \
		struct step_probe *o = p;                                                          \
		__asm__ volatile("lea 1f(%%rip), %%r11\n\t"                                        \
				 "mov %%r11, %0\n\t" setup "\n\t"                                   \
				 "pushfq\n\t"                                                       \
				 "orq $0x100, (%%rsp)\n\t"                                          \
				 "popfq\n\t" op "\n"                                                \
				 "1:\n\t"                                                           \
				 "pushfq\n\t"                                                       \
				 "andq $~0x100, (%%rsp)\n\t"                                        \
				 "popfq"                                                            \
				 : "=m"(o->rip)                                                     \
				 :                                                                  \
				 : "r11", "cc", "memory", clobbers);                                \
	}

STEP_CASE(cpuid_cached, "xor %%eax, %%eax\n\txor %%ecx, %%ecx", "cpuid", "rax", "rbx", "rcx", "rdx")
STEP_CASE(cpuid_leaf1, "mov $1, %%eax\n\txor %%ecx, %%ecx", "cpuid", "rax", "rbx", "rcx", "rdx")
STEP_CASE(rdmsr_feature_control, "mov $0x3a, %%ecx", "rdmsr", "rax", "rcx", "rdx")
STEP_CASE(wrmsr_misc_enable, "mov $0x1a0, %%ecx\n\trdmsr", "wrmsr", "rax", "rcx", "rdx")
STEP_CASE(in_port, "xor %%eax, %%eax", "inb $0xe9, %%al", "rax")
STEP_CASE(out_port, "xor %%eax, %%eax", "outb %%al, $0xe9", "rax")
STEP_CASE(vmcall_nop, "mov $0, %%eax", "vmcall", "rax", "rbx", "rcx", "rdx")

static void expect_step(struct result *r, const char *what, void (*fn)(void *))
{
	struct step_probe o;
	write_dr6(DR6_INIT);
	struct fault f = trap_catch(fn, &o);
	if (f.vector != VEC_DB) {
		char got[32];
		trap_describe(&f, got, sizeof(got));
		result_fail(r, "single-step over %s: expected #DB, got %s at rip 0x%lx", what, got, (unsigned long)f.rip);
	} else if (f.rip != o.rip) {
		result_fail(r, "single-step over %s: #DB at rip 0x%lx, expected 0x%lx", what, (unsigned long)f.rip,
			    (unsigned long)o.rip);
	} else if (!(f.dr6 & DR6_BS)) {
		result_fail(r, "single-step over %s: DR6 = 0x%lx without BS", what, (unsigned long)f.dr6);
	}
}

static int has_feature_control(void)
{
	struct cpuid_regs c;
	cpuid(1, 0, &c);
	return platform.keel || (c.ecx & (CPUID1_ECX_VMX | CPUID1_ECX_SMX));
}

void fast_step_cpuid_cached(struct result *r) { expect_step(r, "cpuid leaf 0", do_step_cpuid_cached); }
void fast_step_cpuid_leaf1(struct result *r) { expect_step(r, "cpuid leaf 1", do_step_cpuid_leaf1); }

void fast_step_rdmsr(struct result *r)
{
	if (!has_feature_control()) {
		result_skip(r, "no IA32_FEATURE_CONTROL (no VMX or SMX)");
		return;
	}
	expect_step(r, "rdmsr 0x3a", do_step_rdmsr_feature_control);
}

static void do_wrmsr_misc_enable(void *p)
{
	(void)p;
	wrmsr(MSR_IA32_MISC_ENABLE, rdmsr(MSR_IA32_MISC_ENABLE));
}

void fast_step_wrmsr(struct result *r)
{
	/* Some emulators refuse the write (Bochs with strict MSRs): then there is nothing to step. */
	struct fault f = trap_catch(do_wrmsr_misc_enable, 0);
	if (f.vector != TRAP_NONE) {
		char got[32];
		trap_describe(&f, got, sizeof(got));
		result_skip(r, "WRMSR IA32_MISC_ENABLE of its own value raises %s here", got);
		return;
	}
	expect_step(r, "wrmsr 0x1a0", do_step_wrmsr_misc_enable);
}
void fast_step_in(struct result *r) { expect_step(r, "in 0xe9", do_step_in_port); }
void fast_step_out(struct result *r) { expect_step(r, "out 0xe9", do_step_out_port); }

void fast_step_vmcall(struct result *r)
{
	if (!platform.keel) {
		result_skip(r, "no keel: VMCALL raises #UD");
		return;
	}
	expect_step(r, "vmcall nop", do_step_vmcall_nop);
}

/*
 * MOV SS blocks debug exceptions until the next instruction ends (SDM Vol. 3A 6.8.3): the
 * single-step trap of the MOV SS that POPF armed comes after the CPUID that follows, once. keel
 * completes that CPUID in a MOV-SS shadow and must consume the shadow exactly: left in place, the
 * #DB would come one instruction late.
 */
static void do_mov_ss_cpuid(void *p)
{
	struct step_probe *o = p;
	__asm__ volatile("lea 1f(%%rip), %%r11\n\t"
			 "mov %%r11, %0\n\t"
			 "mov %%ss, %%r11d\n\t"
			 "xor %%eax, %%eax\n\t"
			 "xor %%ecx, %%ecx\n\t"
			 "pushfq\n\t"
			 "orq $0x100, (%%rsp)\n\t"
			 "popfq\n\t"
			 "mov %%r11d, %%ss\n\t"
			 "cpuid\n"
			 "1:\n\t"
			 "pushfq\n\t"
			 "andq $~0x100, (%%rsp)\n\t"
			 "popfq"
			 : "=m"(o->rip)
			 :
			 : "rax", "rbx", "rcx", "rdx", "r11", "cc", "memory");
}

void fast_mov_ss_shadow_cpuid(struct result *r) { expect_step(r, "mov ss; cpuid", do_mov_ss_cpuid); }

/* ---- an emulated CPUID in an STI shadow ---- */

#define VEC_STI_PROBE 20 /* a fixed IPI on a vector the harness catches (16-31 are deliverable) */
#define ICR_SELF_FIXED (BIT(18) | VEC_STI_PROBE) /* destination shorthand "self", fixed, edge */
#define MSR_X2APIC_EOI 0x80B

static volatile uint32_t *xapic(void)
{
	return (volatile uint32_t *)(uintptr_t)(rdmsr(MSR_IA32_APIC_BASE) & 0xFFFFF000);
}

static int x2apic_on(void) { return !!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC); }

struct sti_probe {
	uint64_t after_cpuid, after_nop;
};

/*
 * With IF = 0 a self-IPI waits; STI opens interrupts only after the instruction that follows it
 * (SDM Vol. 3A 6.8.3), here a CPUID keel completes in the shadow. The interrupt must come right
 * after that CPUID: with the blocking left in place it would come one instruction late.
 */
static void do_sti_cpuid(void *p)
{
	struct sti_probe *o = p;
	__asm__ volatile("cli" ::: "memory");
	if (x2apic_on())
		wrmsr(MSR_X2APIC_ICR, ICR_SELF_FIXED);
	else
		xapic()[0x300 / 4] = ICR_SELF_FIXED;
	__asm__ volatile("lea 1f(%%rip), %%r11\n\t"
			 "mov %%r11, %0\n\t"
			 "lea 2f(%%rip), %%r11\n\t"
			 "mov %%r11, %1\n\t"
			 "xor %%eax, %%eax\n\t"
			 "xor %%ecx, %%ecx\n\t"
			 "sti\n\t"
			 "cpuid\n"
			 "1:\tnop\n"
			 "2:\tnop\n\t"
			 "cli"
			 : "=m"(o->after_cpuid), "=m"(o->after_nop)
			 :
			 : "rax", "rbx", "rcx", "rdx", "r11", "cc", "memory");
}

void fast_sti_shadow_cpuid(struct result *r)
{
	struct sti_probe o = { 0, 0 };
	struct fault f = trap_catch(do_sti_cpuid, &o);
	if (f.vector == VEC_STI_PROBE) { /* the harness ends the handler without an EOI */
		if (x2apic_on())
			wrmsr(MSR_X2APIC_EOI, 0);
		else
			xapic()[0xB0 / 4] = 0;
	}
	if (f.vector != VEC_STI_PROBE) {
		char got[32];
		trap_describe(&f, got, sizeof(got));
		result_fail(r, "sti; cpuid with a self-IPI pending: expected vector %d, got %s", VEC_STI_PROBE, got);
	} else if (f.rip != o.after_cpuid) {
		result_fail(r, "sti; cpuid: the interrupt came at rip 0x%lx, expected 0x%lx (right after the CPUID)%s",
			    (unsigned long)f.rip, (unsigned long)o.after_cpuid,
			    f.rip == o.after_nop ? ": one instruction late, the STI shadow was left in place" : "");
	}
}

/* ---- an NMI to self while the guest loops on CPUID ---- */

static void send_self_nmi(void)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
	if (base & APIC_BASE_X2APIC) {
		struct cpuid_regs c;
		cpuid(0xB, 0, &c);
		wrmsr(MSR_X2APIC_ICR, ((uint64_t)c.edx << 32) | ICR_NMI_ASSERT);
		return;
	}
	volatile uint32_t *apic = (volatile uint32_t *)(uintptr_t)(base & 0xFFFFF000);
	struct cpuid_regs c;
	cpuid(1, 0, &c);
	apic[0x310 / 4] = (c.ebx >> 24) << 24; /* ICR high: destination APIC ID */
	apic[0x300 / 4] = ICR_NMI_ASSERT;      /* ICR low: sends */
}

struct cpuid_loop {
	int send;
	unsigned done;
};

static void cpuid_loop(void *p)
{
	struct cpuid_loop *l = p;
	if (l->send)
		send_self_nmi();
	for (l->done = 0; l->done < 20000; l->done++) {
		struct cpuid_regs c;
		cpuid(0, 0, &c);
	}
}

/* IRET ends NMI blocking (the harness left the NMI handler without one): a second, duplicated NMI
 * would be delivered right after this. */
static void unblock_nmis(void)
{
	__asm__ volatile("mov %%ss, %%eax\n\t"
			 "push %%rax\n\t"
			 "push %%rsp\n\t"
			 "addq $8, (%%rsp)\n\t"
			 "pushfq\n\t"
			 "mov %%cs, %%eax\n\t"
			 "push %%rax\n\t"
			 "lea 1f(%%rip), %%rax\n\t"
			 "push %%rax\n\t"
			 "iretq\n"
			 "1:"
			 :
			 :
			 : "rax", "cc", "memory");
}

void fast_nmi_self_during_cpuid(struct result *r)
{
	struct cpuid_loop l = { 1, 0 };
	struct fault f = trap_catch(cpuid_loop, &l);
	if (f.vector != VEC_NMI) {
		char got[32];
		trap_describe(&f, got, sizeof(got));
		result_fail(r, "NMI to self: expected the NMI during the CPUID loop, got %s after %u CPUIDs", got, l.done);
		return;
	}
	unblock_nmis();
	l.send = 0;
	f = trap_catch(cpuid_loop, &l);
	if (f.vector != TRAP_NONE) {
		char got[32];
		trap_describe(&f, got, sizeof(got));
		result_fail(r, "NMI to self was delivered more than once (then %s after %u CPUIDs)", got, l.done);
	}
}
