/* Cases for the trap= classes (docs/trap-and-emulate.md): each states what the hardware does and
 * checks it, natively, under trap=minimal and under trap=all alike. UEFI boot services, CPL 0, BSP. */
#include "trapcases.h"

#include "insn.h"
#include "trap.h"

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../lib/string.h"

#define NONCANONICAL 0x8000000000000000ULL
#define RFLAGS_IF_BIT BIT(9)
#define DR6_INIT 0xFFFF0FF0ULL
#define DR6_B0 BIT(0)
#define DR6_BD BIT(13)
#define DR7_FIXED1 BIT(10)
#define DR7_L0 BIT(0)
#define DR7_GD BIT(13)
#define PF_W BIT(1)
#define PF_ID BIT(4)
#define PTE_P BIT(0)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL
#define CPUID1_ECX_MONITOR BIT(3)

/* ---- helpers ---- */

/* Fails r unless f is vector (with error, for vectors that push one). Returns 1 on a match. */
static int want(struct result *r, const char *what, const struct fault *f, int vector, uint64_t error)
{
	if (f->vector == vector && f->error == error)
		return 1;
	char w[32], g[32];
	struct fault wf = { .vector = vector, .error = error };
	trap_describe(&wf, w, sizeof(w));
	trap_describe(f, g, sizeof(g));
	result_fail(r, "%s: expected %s, got %s at rip 0x%lx", what, w, g, (unsigned long)f->rip);
	return 0;
}

static int want_rip(struct result *r, const char *what, const struct fault *f, uint64_t rip)
{
	if (f->rip == rip)
		return 1;
	result_fail(r, "%s: rip 0x%lx, expected 0x%lx", what, (unsigned long)f->rip, (unsigned long)rip);
	return 0;
}

enum tc_reg { TC_EAX, TC_EBX, TC_ECX, TC_EDX };

static int has_cpuid(uint32_t leaf, enum tc_reg reg, uint32_t bit)
{
	struct cpuid_regs c;
	cpuid(leaf & 0x80000000u, 0, &c);
	if (c.eax < leaf)
		return 0;
	cpuid(leaf, 0, &c);
	uint32_t v[4] = { c.eax, c.ebx, c.ecx, c.edx };
	return !!(v[reg] & bit);
}

static void write_dr7(uint64_t v) { __asm__ volatile("mov %0, %%dr7" ::"r"(v)); }

/* A linear address whose PML4 entry is not present (OVMF maps only the low part of the lower
 * half), found by reading the firmware's page tables; 0 if every lower-half entry is present. */
static uint64_t not_present_address(void)
{
	if (!(read_cr0() & CR0_PG) || (read_cr4() & CR4_LA57))
		return 0;
	const volatile uint64_t *pml4 = (const volatile uint64_t *)(uintptr_t)(read_cr3() & PTE_ADDR);
	for (unsigned i = 1; i < 256; i++)
		if (!(pml4[i] & PTE_P))
			return (uint64_t)i << 39;
	return 0;
}

static uint64_t need_not_present(struct result *r)
{
	uint64_t a = not_present_address();
	if (!a)
		result_skip(r, "every lower-half PML4 entry is present");
	return a;
}

/* ---- hlt, pause, mwait, monitor ---- */

/* HLT with IF=1 waits for the next interrupt (the firmware's timer) and the CPU goes on after it
 * (SDM Vol. 2A HLT). With trap=hlt keel puts the vCPU in the HLT activity state instead. */
void tc_hlt_wakes(struct result *r)
{
	uint64_t flags = read_rflags();
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = rdtsc();
		__asm__ volatile("sti; hlt" ::: "memory");
		uint64_t t1 = rdtsc();
		if (t1 <= t0)
			result_fail(r, "hlt %d: TSC 0x%lx, then 0x%lx", i, (unsigned long)t0, (unsigned long)t1);
	}
	write_rflags(flags);
}

/* PAUSE is a hint: it changes no register and no flag. */
void tc_pause_keeps_registers(struct result *r)
{
	uint64_t a = 0x1122334455667788ULL, b = 0x8877665544332211ULL, n = 1000, flags;
	__asm__ volatile("stc\n"
			 "1:\tpause\n\t"
			 "lea -1(%2), %2\n\t" /* LEA leaves CF alone */
			 "jrcxz 2f\n\t"
			 "jmp 1b\n"
			 "2:\tpushfq\n\t"
			 "pop %3"
			 : "+a"(a), "+b"(b), "+c"(n), "=r"(flags)
			 :
			 : "cc", "memory");
	if (a != 0x1122334455667788ULL || b != 0x8877665544332211ULL || n != 0)
		result_fail(r, "after 1000 pause: rax 0x%lx rbx 0x%lx rcx %lu", (unsigned long)a,
			    (unsigned long)b, (unsigned long)n);
	if (!(flags & 1))
		result_fail(r, "pause cleared CF");
}

static volatile uint64_t monitor_line[8] __attribute__((aligned(64)));

struct mwait_op {
	uint32_t eax, ecx;
};

static void do_monitor_mwait(void *p)
{
	struct mwait_op *o = p;
	__asm__ volatile("monitor" ::"a"(monitor_line), "c"(0), "d"(0));
	__asm__ volatile("sti; mwait" ::"a"(o->eax), "c"(o->ecx) : "memory");
}

static void do_monitor(void *p)
{
	struct mwait_op *o = p;
	__asm__ volatile("monitor" ::"a"(monitor_line), "c"(o->ecx), "d"(0));
}

static int need_monitor(struct result *r)
{
	if (has_cpuid(1, TC_ECX, CPUID1_ECX_MONITOR))
		return 1;
	result_skip(r, "not advertised (CPUID.1:ECX[3] MONITOR is 0)");
	return 0;
}

/* MONITOR then MWAIT (hint C1, no extensions) with IF=1: MWAIT ends on the next interrupt at the
 * latest (SDM Vol. 2B MWAIT). keel's trap=mwait ends it at once, which a CPU may also do. */
void tc_mwait_completes(struct result *r)
{
	if (!need_monitor(r))
		return;
	uint64_t flags = read_rflags();
	struct mwait_op o = { 0, 0 };
	struct fault f = trap_catch(do_monitor_mwait, &o);
	write_rflags(flags);
	want(r, "monitor+mwait", &f, TRAP_NONE, 0);
}

/* MWAIT with ECX bits 31:1 set (reserved): #GP(0). */
void tc_mwait_reserved_ecx_gp(struct result *r)
{
	if (!need_monitor(r))
		return;
	uint64_t flags = read_rflags();
	struct mwait_op o = { 0, 2 };
	struct fault f = trap_catch(do_monitor_mwait, &o);
	write_rflags(flags);
	want(r, "mwait ecx=2", &f, VEC_GP, 0);
}

/* MONITOR with ECX != 0 (no extensions are defined): #GP(0). */
void tc_monitor_ecx_gp(struct result *r)
{
	if (!need_monitor(r))
		return;
	struct mwait_op o = { 0, 1 };
	struct fault f = trap_catch(do_monitor, &o);
	want(r, "monitor ecx=1", &f, VEC_GP, 0);
}

/* ---- rdtsc, rdpmc ---- */

/* RDTSC loads EDX:EAX and clears bits 63:32 of RAX and RDX; successive reads on one CPU increase
 * (the TSC counts at a constant rate, and a read takes more than one count). */
void tc_rdtsc_monotonic(struct result *r)
{
	uint64_t prev = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t a, d;
		__asm__ volatile("mov $-1, %%rax\n\tmov $-1, %%rdx\n\trdtsc" : "=a"(a), "=d"(d));
		if ((a >> 32) || (d >> 32)) {
			result_fail(r, "read %d: rax 0x%lx rdx 0x%lx, upper halves not cleared", i,
				    (unsigned long)a, (unsigned long)d);
			return;
		}
		uint64_t t = d << 32 | a;
		if (t <= prev) {
			result_fail(r, "read %d: 0x%lx after 0x%lx", i, (unsigned long)t, (unsigned long)prev);
			return;
		}
		prev = t;
	}
}

/* RDTSCP: the TSC, not behind the RDTSC before it nor ahead of the one after it (RDTSCP waits for
 * the instructions before it; Bochs 2.7 may give it and the next RDTSC the same count), and
 * IA32_TSC_AUX[31:0] in ECX with RCX[63:32] cleared. The case sets TSC_AUX to a value of its own
 * and puts the old one back. */
void tc_rdtscp_aux(struct result *r)
{
	if (!has_cpuid(0x80000001, TC_EDX, CPUID80000001_EDX_RDTSCP)) {
		result_skip(r, "not advertised (CPUID.0x80000001:EDX[27] RDTSCP is 0)");
		return;
	}
	uint64_t old = rdmsr(MSR_IA32_TSC_AUX);
	wrmsr(MSR_IA32_TSC_AUX, 0x5EC0A0E1);
	uint64_t t0 = rdtsc(), a, c, d;
	__asm__ volatile("mov $-1, %%rcx\n\trdtscp" : "=a"(a), "=c"(c), "=d"(d));
	uint64_t t2 = rdtsc();
	wrmsr(MSR_IA32_TSC_AUX, old);
	uint64_t t1 = d << 32 | (uint32_t)a;
	if (c != 0x5EC0A0E1)
		result_fail(r, "rcx 0x%lx, IA32_TSC_AUX was 0x5ec0a0e1", (unsigned long)c);
	if ((a >> 32) || (d >> 32))
		result_fail(r, "rax 0x%lx rdx 0x%lx: upper halves not cleared", (unsigned long)a, (unsigned long)d);
	if (!(t0 <= t1 && t1 <= t2 && t0 < t2))
		result_fail(r, "rdtsc 0x%lx, rdtscp 0x%lx, rdtsc 0x%lx: not increasing", (unsigned long)t0,
			    (unsigned long)t1, (unsigned long)t2);
}

struct pmc_op {
	uint32_t ecx;
	uint64_t v;
};

static void do_rdpmc(void *p)
{
	struct pmc_op *o = p;
	o->v = rdpmc(o->ecx);
}

/* Architectural performance monitoring (CPUID leaf 0xA): EAX[7:0] version, EAX[15:8] number of
 * general-purpose counters, EDX[4:0] number of fixed counters (version 2 on). */
static int pmc_counts(unsigned *gp, unsigned *fixed)
{
	struct cpuid_regs c;
	cpuid(0, 0, &c);
	if (c.eax < 0xA)
		return 0;
	cpuid(0xA, 0, &c);
	if (!(c.eax & 0xFF))
		return 0;
	*gp = (c.eax >> 8) & 0xFF;
	*fixed = (c.eax & 0xFF) >= 2 ? c.edx & 0x1F : 0;
	return 1;
}

/* RDPMC at CPL 0 of counter 0, which CPUID leaf 0xA says exists: no fault. */
void tc_rdpmc_valid(struct result *r)
{
	unsigned gp, fixed;
	if (!pmc_counts(&gp, &fixed) || !gp) {
		result_skip(r, "CPUID leaf 0xA names no general-purpose counter");
		return;
	}
	struct pmc_op o = { 0, 0 };
	struct fault f = trap_catch(do_rdpmc, &o);
	want(r, "rdpmc 0", &f, TRAP_NONE, 0);
}

/* RDPMC of the first general-purpose counter past the last one, and of the first fixed counter
 * past the last (ECX bit 30 set): #GP(0) (SDM Vol. 2B RDPMC). Bochs 2.7 does not check the
 * counter number (it answers 0), so there the case skips unless a hypervisor raised the #GP. */
void tc_rdpmc_invalid_gp(struct result *r)
{
	unsigned gp, fixed;
	if (!pmc_counts(&gp, &fixed)) {
		result_skip(r, "no architectural performance monitoring (CPUID leaf 0xA)");
		return;
	}
	struct pmc_op o = { gp, 0 };
	struct fault f = trap_catch(do_rdpmc, &o);
	o.ecx = BIT(30) | fixed;
	struct fault g = trap_catch(do_rdpmc, &o);
	if (platform.bochs && (f.vector == TRAP_NONE || g.vector == TRAP_NONE)) {
		result_skip(r, "Bochs does not check RDPMC's counter number (rdpmc %u: %s, rdpmc 0x%x: %s)", gp,
			    f.vector == TRAP_NONE ? "no fault" : "fault", (unsigned)(BIT(30) | fixed),
			    g.vector == TRAP_NONE ? "no fault" : "fault");
		return;
	}
	want(r, "rdpmc past the general-purpose counters", &f, VEC_GP, 0);
	want(r, "rdpmc past the fixed counters", &g, VEC_GP, 0);
}

/* ---- cr3, cr8 ---- */

static volatile uint64_t probe_word = 0x0DDBA11C0FFEEULL;

/* MOV CR3 of CR3's own value flushes the non-global TLB entries: CR3 reads back the same, and
 * memory reads and writes as before. */
void tc_cr3_reload(struct result *r)
{
	uint64_t cr3 = read_cr3();
	write_cr3(cr3);
	uint64_t again = read_cr3();
	if (again != cr3)
		result_fail(r, "cr3 0x%lx after writing 0x%lx", (unsigned long)again, (unsigned long)cr3);
	probe_word ^= ~0ULL;
	probe_word ^= ~0ULL;
	if (probe_word != 0x0DDBA11C0FFEEULL)
		result_fail(r, "memory reads 0x%lx after the reload", (unsigned long)probe_word);
}

/* CR8 is TPR[7:4]: every value 0-15 reads back as written. */
void tc_cr8_roundtrip(struct result *r)
{
	uint64_t old = read_cr8();
	for (uint64_t v = 0; v < 16; v++) {
		write_cr8(v);
		uint64_t got = read_cr8();
		if (got != v) {
			result_fail(r, "wrote %lu, read %lu", (unsigned long)v, (unsigned long)got);
			break;
		}
	}
	write_cr8(old);
}

static void do_write_cr8(void *p) { write_cr8(*(uint64_t *)p); }

/* MOV CR8 with any of bits 63:4 set: #GP(0) (SDM Vol. 3A 10.8.6.1). */
void tc_cr8_reserved_gp(struct result *r)
{
	if (platform.qemu_tcg) { /* QEMU's TCG does not raise this fault (seen natively) */
		result_skip(r, "QEMU TCG does not model this fault");
		return;
	}
	uint64_t old = read_cr8(), v = 0x10;
	struct fault f = trap_catch(do_write_cr8, &v);
	uint64_t now = read_cr8();
	write_cr8(old);
	if (want(r, "mov cr8 = 0x10", &f, VEC_GP, 0) && now != old)
		result_fail(r, "cr8 %lu after the fault, was %lu", (unsigned long)now, (unsigned long)old);
}

/* ---- dr ---- */

/* DR0-DR3 hold any address and DR6/DR7 their defined bits: each reads back as written. DR7 here
 * sets LE, GE and every R/W and LEN field but enables no breakpoint; bit 10 reads 1. */
void tc_dr_roundtrip(struct result *r)
{
	uint64_t old[4], old6 = read_dr6(), old7 = read_dr7();
	for (unsigned n = 0; n < 4; n++) {
		old[n] = read_dr(n);
		write_dr(n, 0x00007FFF12345000ULL + n * 0x111);
	}
	uint64_t dr7 = DR7_FIXED1 | BIT(8) | BIT(9) | 0xFFFF0000ULL, dr6 = DR6_INIT | 0x5;
	write_dr7(dr7);
	write_dr6(dr6);
	uint64_t got[4], got6 = read_dr6(), got7 = read_dr7();
	for (unsigned n = 0; n < 4; n++)
		got[n] = read_dr(n);
	write_dr7(old7);
	write_dr6(old6);
	for (unsigned n = 0; n < 4; n++) {
		write_dr(n, old[n]);
		if (got[n] != 0x00007FFF12345000ULL + n * 0x111)
			result_fail(r, "dr%u reads 0x%lx", n, (unsigned long)got[n]);
	}
	if (got6 != dr6)
		result_fail(r, "dr6 reads 0x%lx, wrote 0x%lx", (unsigned long)got6, (unsigned long)dr6);
	if (got7 != dr7)
		result_fail(r, "dr7 reads 0x%lx, wrote 0x%lx", (unsigned long)got7, (unsigned long)dr7);
}

static void do_write_dr7(void *p) { write_dr7(*(uint64_t *)p); }

/* MOV to DR7 with a bit of 63:32 set: #GP(0), DR7 unchanged. */
void tc_dr7_high_gp(struct result *r)
{
	uint64_t old = read_dr7(), v = DR7_FIXED1 | BIT(32);
	struct fault f = trap_catch(do_write_dr7, &v);
	uint64_t now = read_dr7();
	write_dr7(old);
	if (want(r, "mov dr7 = 0x100000400", &f, VEC_GP, 0) && now != old)
		result_fail(r, "dr7 0x%lx after the fault, was 0x%lx", (unsigned long)now, (unsigned long)old);
}

static void do_read_dr4(void *p)
{
	uint64_t v;
	__asm__ volatile(".byte 0x0f, 0x21, 0xe0" : "=a"(v)); /* mov %dr4, %rax */
	*(uint64_t *)p = v;
}

/* MOV from DR4: #UD with CR4.DE set; without it DR4 is DR6 (SDM Vol. 3B 17.2.2). */
void tc_dr4_alias(struct result *r)
{
	uint64_t v = 0;
	struct fault f = trap_catch(do_read_dr4, &v);
	if (read_cr4() & CR4_DE) {
		want(r, "mov from dr4 with CR4.DE", &f, VEC_UD, 0);
	} else if (want(r, "mov from dr4 without CR4.DE", &f, TRAP_NONE, 0) && v != read_dr6()) {
		result_fail(r, "dr4 0x%lx, dr6 0x%lx", (unsigned long)v, (unsigned long)read_dr6());
	}
}

struct gd_op {
	uint64_t rip; /* the MOV DR: general detect is a fault */
	uint64_t v;
};

static void do_gd(void *p)
{
	struct gd_op *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n\t"
			 "mov %2, %%dr7\n"
			 "1:\tmov %%dr0, %%rax\n\t"
			 "mov %%rax, %1"
			 : "=m"(o->rip), "=m"(o->v)
			 : "r"(DR7_FIXED1 | DR7_GD)
			 : "rax", "memory");
}

/* With DR7.GD set, the next MOV DR is a fault-class #DB before it executes: DR6.BD set, and the
 * CPU clears DR7.GD so that the handler may use the debug registers (SDM Vol. 3B 17.2.4). */
void tc_dr_gd_db(struct result *r)
{
	if (platform.qemu_tcg) { /* QEMU's TCG does not raise this fault (seen natively) */
		result_skip(r, "QEMU TCG does not model this fault");
		return;
	}
	uint64_t old7 = read_dr7();
	struct gd_op o = { 0, 0 };
	write_dr6(DR6_INIT);
	struct fault f = trap_catch(do_gd, &o);
	uint64_t dr7 = read_dr7();
	write_dr7(old7);
	write_dr6(DR6_INIT);
	if (!want(r, "mov from dr0 with DR7.GD", &f, VEC_DB, 0) || !want_rip(r, "#DB", &f, o.rip))
		return;
	if (!(f.dr6 & DR6_BD))
		result_fail(r, "DR6 = 0x%lx without BD", (unsigned long)f.dr6);
	if (dr7 & DR7_GD)
		result_fail(r, "DR7 = 0x%lx: GD not cleared by the #DB", (unsigned long)dr7);
}

static volatile uint64_t watched;

struct bp_op {
	uint64_t rip; /* the instruction after the store: a data breakpoint is a trap */
};

static void do_store_watched(void *p)
{
	struct bp_op *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n\t"
			 "movq $1, %1\n"
			 "1:"
			 : "=m"(o->rip), "=m"(watched)
			 :
			 : "rax", "memory");
}

/* A write breakpoint on an 8-byte variable (DR0, L0, R/W0 = 01, LEN0 = 10): the store completes,
 * then #DB with RIP after it and DR6.B0 (SDM Vol. 3B 17.3.1.2). */
void tc_dr_data_breakpoint_db(struct result *r)
{
	uint64_t old0 = read_dr(0), old7 = read_dr7();
	struct bp_op o = { 0 };
	watched = 0;
	write_dr6(DR6_INIT);
	write_dr(0, (uint64_t)(uintptr_t)&watched);
	write_dr7(DR7_FIXED1 | DR7_L0 | 1ULL << 16 | 2ULL << 18);
	struct fault f = trap_catch(do_store_watched, &o);
	write_dr7(old7);
	write_dr(0, old0);
	write_dr6(DR6_INIT);
	if (!want(r, "store to the watched word", &f, VEC_DB, 0) || !want_rip(r, "#DB", &f, o.rip))
		return;
	if (!(f.dr6 & DR6_B0))
		result_fail(r, "DR6 = 0x%lx without B0", (unsigned long)f.dr6);
	if (watched != 1)
		result_fail(r, "the store did not complete (0x%lx)", (unsigned long)watched);
}

/* ---- desc ---- */

#define TABLE_COPY 4096
static uint8_t table_copy[TABLE_COPY] __attribute__((aligned(16)));
static uint8_t ldt[16] __attribute__((aligned(8)));

/* SGDT or SIDT into a buffer of 0xCC: 10 bytes in 64-bit mode, the rest untouched. */
static int store_table(struct result *r, int idt, struct dtr *out)
{
	uint8_t buf[16];
	memset(buf, 0xCC, sizeof(buf));
	if (idt)
		__asm__ volatile("sidt (%0)" ::"r"(buf) : "memory");
	else
		__asm__ volatile("sgdt (%0)" ::"r"(buf) : "memory");
	for (unsigned i = 10; i < sizeof(buf); i++)
		if (buf[i] != 0xCC) {
			result_fail(r, "%s wrote byte %u", idt ? "sidt" : "sgdt", i);
			return 0;
		}
	memcpy(out, buf, sizeof(*out));
	return 1;
}

/* LGDT/LIDT of a copy of the current table, then SGDT/SIDT: they store exactly the base and
 * limit loaded; after the original is loaded again they store the original's. Interrupts are off
 * while the copy is loaded (it is identical, but the harness finds itself through the IDT base). */
static void table_loaded(struct result *r, int idt)
{
	struct dtr orig, mine, got, back;
	if (idt)
		sidt(&orig);
	else
		sgdt(&orig);
	if ((size_t)orig.limit + 1 > TABLE_COPY) {
		result_skip(r, "table limit 0x%x beyond the copy", orig.limit);
		return;
	}
	memcpy(table_copy, (const void *)(uintptr_t)orig.base, (size_t)orig.limit + 1);
	mine.limit = orig.limit;
	mine.base = (uint64_t)(uintptr_t)table_copy;
	uint64_t flags = read_rflags();
	cli();
	if (idt)
		lidt(&mine);
	else
		lgdt(&mine);
	int ok = store_table(r, idt, &got);
	if (idt)
		lidt(&orig);
	else
		lgdt(&orig);
	write_rflags(flags);
	if (!ok || !store_table(r, idt, &back))
		return;
	const char *s = idt ? "sidt" : "sgdt";
	if (got.base != mine.base || got.limit != mine.limit)
		result_fail(r, "%s after loading 0x%lx/0x%x stores 0x%lx/0x%x", s, (unsigned long)mine.base,
			    mine.limit, (unsigned long)got.base, got.limit);
	if (back.base != orig.base || back.limit != orig.limit)
		result_fail(r, "%s after reloading 0x%lx/0x%x stores 0x%lx/0x%x", s, (unsigned long)orig.base,
			    orig.limit, (unsigned long)back.base, back.limit);
}

void tc_desc_sgdt_loaded(struct result *r) { table_loaded(r, 0); }
void tc_desc_sidt_loaded(struct result *r) { table_loaded(r, 1); }

static void lldt(uint16_t sel) { __asm__ volatile("lldt %0" ::"r"(sel) : "memory"); }

/* LLDT of a 16-byte LDT descriptor (type 2, present) appended to a copy of the GDT: SLDT then
 * stores that selector; the firmware's LDTR and GDT are loaded again afterwards. */
void tc_desc_lldt_sldt(struct result *r)
{
	struct dtr orig, mine;
	sgdt(&orig);
	uint16_t sel = (uint16_t)((orig.limit + 8) & ~7u), old = sldt();
	if ((size_t)sel + 16 > TABLE_COPY) {
		result_skip(r, "GDT limit 0x%x beyond the copy", orig.limit);
		return;
	}
	memcpy(table_copy, (const void *)(uintptr_t)orig.base, (size_t)orig.limit + 1);
	uint64_t base = (uint64_t)(uintptr_t)ldt, limit = sizeof(ldt) - 1;
	uint64_t lo = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x82ULL << 40 | (base >> 24 & 0xFF) << 56;
	uint64_t hi = base >> 32;
	memcpy(table_copy + sel, &lo, 8);
	memcpy(table_copy + sel + 8, &hi, 8);
	mine.limit = (uint16_t)(sel + 15);
	mine.base = (uint64_t)(uintptr_t)table_copy;

	uint64_t flags = read_rflags();
	cli();
	lgdt(&mine);
	lldt(sel);
	uint16_t got = sldt();
	lldt(old);
	lgdt(&orig);
	write_rflags(flags);
	uint16_t back = sldt();
	if (got != sel)
		result_fail(r, "sldt 0x%x after lldt 0x%x", got, sel);
	if (back != old)
		result_fail(r, "sldt 0x%x after lldt 0x%x", back, old);
}

/* STR/SLDT to a register: a 16-bit operand keeps bits 63:16, 32 and 64 bits zero-extend; to
 * memory they store 16 bits. All forms store the same selector (SDM Vol. 2B STR, SLDT). */
#define SEL_WIDTHS(name, insn)                                                                     \
	void tc_desc_##name##_widths(struct result *r)                                            \
	{                                                                                          \
		uint64_t w = ~0ULL, d = ~0ULL, q = ~0ULL;                                          \
		uint8_t m[4] = { 0xCC, 0xCC, 0xCC, 0xCC };                                         \
		__asm__ volatile(insn " %w0" : "+r"(w));                                           \
		__asm__ volatile(insn " %k0" : "+r"(d));                                           \
		__asm__ volatile(insn " %q0" : "+r"(q));                                           \
		__asm__ volatile(insn " (%0)" ::"r"(m) : "memory");                                \
		uint16_t sel = (uint16_t)w;                                                        \
		if (w >> 16 != 0xFFFFFFFFFFFFULL)                                                 \
			result_fail(r, insn " %%ax: rax 0x%lx, bits 63:16 not kept", (unsigned long)w); \
		if (d != sel || q != sel)                                                          \
			result_fail(r, insn " %%ax 0x%x, %%eax 0x%lx, %%rax 0x%lx", sel,               \
				    (unsigned long)d, (unsigned long)q);                               \
		if ((m[0] | m[1] << 8) != sel || m[2] != 0xCC || m[3] != 0xCC)                     \
			result_fail(r, insn " to memory: %02x %02x %02x %02x", m[0], m[1], m[2], m[3]); \
	}

SEL_WIDTHS(str, "str")
SEL_WIDTHS(sldt, "sldt")

static void do_sgdt_at(void *p) { __asm__ volatile("sgdt (%0)" ::"r"(p) : "memory"); }
static void do_sidt_at(void *p) { __asm__ volatile("sidt (%0)" ::"r"(p) : "memory"); }

/* SGDT to a non-canonical address: #GP(0). */
void tc_desc_sgdt_noncanonical_gp(struct result *r)
{
	struct fault f = trap_catch(do_sgdt_at, (void *)(uintptr_t)NONCANONICAL);
	want(r, "sgdt to 0x8000000000000000", &f, VEC_GP, 0);
}

/* SGDT/SIDT to a page that is not present: #PF, error code W (a supervisor write to a
 * not-present page), CR2 the operand's address. */
static void store_not_present(struct result *r, void (*fn)(void *), const char *what)
{
	uint64_t a = need_not_present(r);
	if (!a)
		return;
	write_cr2(0);
	struct fault f = trap_catch(fn, (void *)(uintptr_t)(a + 0x100));
	uint64_t cr2 = read_cr2();
	if (want(r, what, &f, VEC_PF, PF_W) && cr2 != a + 0x100)
		result_fail(r, "%s: CR2 0x%lx, expected 0x%lx", what, (unsigned long)cr2, (unsigned long)(a + 0x100));
}

void tc_desc_sgdt_not_present_pf(struct result *r) { store_not_present(r, do_sgdt_at, "sgdt"); }
void tc_desc_sidt_not_present_pf(struct result *r) { store_not_present(r, do_sidt_at, "sidt"); }

static void do_lgdt(void *p) { lgdt(p); }

/* LGDT of a non-canonical base in 64-bit mode: #GP(0), GDTR unchanged (SDM Vol. 2A LGDT). */
void tc_desc_lgdt_noncanonical_base_gp(struct result *r)
{
	if (platform.qemu_tcg) { /* QEMU's TCG does not raise this fault (seen natively) */
		result_skip(r, "QEMU TCG does not model this fault");
		return;
	}
	struct dtr orig, bad, now;
	sgdt(&orig);
	bad.limit = orig.limit;
	bad.base = NONCANONICAL;
	struct fault f = trap_catch(do_lgdt, &bad);
	sgdt(&now);
	if (now.base != orig.base || now.limit != orig.limit) {
		lgdt(&orig);
		result_fail(r, "GDTR 0x%lx/0x%x after the lgdt", (unsigned long)now.base, now.limit);
	}
	want(r, "lgdt of base 0x8000000000000000", &f, VEC_GP, 0);
}

/* ---- invlpg, wbinvd ---- */

static void invlpg(const volatile void *p) { __asm__ volatile("invlpg (%0)" ::"r"(p) : "memory"); }

/* INVLPG of a mapped address completes; the page reads and writes as before (the CPU walks the
 * page tables again). INVLPG of a not-present page does not fault either. */
void tc_invlpg_mapped(struct result *r)
{
	invlpg(&probe_word);
	if (probe_word != 0x0DDBA11C0FFEEULL)
		result_fail(r, "reads 0x%lx after invlpg", (unsigned long)probe_word);
	probe_word = 1;
	invlpg(&probe_word);
	if (probe_word != 1)
		result_fail(r, "reads 0x%lx after a write and invlpg", (unsigned long)probe_word);
	probe_word = 0x0DDBA11C0FFEEULL;
	uint64_t a = not_present_address();
	if (a)
		invlpg((const void *)(uintptr_t)a);
}

static void do_invlpg(void *p) { invlpg(p); }

/* INVLPG of a non-canonical address in 64-bit mode is a no-op (SDM Vol. 2A INVLPG). */
void tc_invlpg_noncanonical_nop(struct result *r)
{
	struct fault f = trap_catch(do_invlpg, (void *)(uintptr_t)NONCANONICAL);
	want(r, "invlpg 0x8000000000000000", &f, TRAP_NONE, 0);
}

/* WBINVD writes back and invalidates the caches: memory keeps what was written before it. */
void tc_wbinvd_keeps_memory(struct result *r)
{
	static volatile uint64_t buf[64];
	for (unsigned i = 0; i < 64; i++)
		buf[i] = 0x9E3779B97F4A7C15ULL * (i + 1);
	wbinvd();
	for (unsigned i = 0; i < 64; i++)
		if (buf[i] != 0x9E3779B97F4A7C15ULL * (i + 1)) {
			result_fail(r, "word %u reads 0x%lx after wbinvd", i, (unsigned long)buf[i]);
			return;
		}
}

/* ---- io ---- */

#define PORT_POST 0x80
#define PORT_CMOS_INDEX 0x70
#define PORT_CMOS_DATA 0x71
#define CMOS_STATUS_A 0x0A
#define CMOS_UIP 0x80 /* status A bit 7: update in progress, may change between reads */

/* IN AL/AX from port 0x80 writes only AL/AX: bits 63:8 or 63:16 of RAX are kept. IN EAX writes
 * EAX, which clears bits 63:32 as every 32-bit register write does. */
void tc_io_in_widths(struct result *r)
{
	const uint64_t seed = 0x1122334455667788ULL;
	uint64_t b = seed, w = seed, l = seed;
	__asm__ volatile("inb %1, %%al" : "+a"(b) : "i"(PORT_POST));
	__asm__ volatile("inw %1, %%ax" : "+a"(w) : "i"(PORT_POST));
	__asm__ volatile("inl %1, %%eax" : "+a"(l) : "i"(PORT_POST));
	if ((b & ~0xFFULL) != (seed & ~0xFFULL))
		result_fail(r, "inb: rax 0x%lx, bits 63:8 not kept", (unsigned long)b);
	if ((w & ~0xFFFFULL) != (seed & ~0xFFFFULL))
		result_fail(r, "inw: rax 0x%lx, bits 63:16 not kept", (unsigned long)w);
	if (l >> 32)
		result_fail(r, "inl: rax 0x%lx, bits 63:32 not cleared", (unsigned long)l);
}

struct rep_io {
	uint8_t buf[8];
	uint64_t ptr, count;
};

/* CMOS status register A (RTC rate and divider; bit 7 excepted) reads the same every time. */
static uint8_t cmos_status_a(void)
{
	outb(PORT_CMOS_INDEX, CMOS_STATUS_A);
	return inb(PORT_CMOS_DATA) & (uint8_t)~CMOS_UIP;
}

/* REP INSB from the CMOS data port: RCX bytes to ES:RDI, RDI moving up (DF=0) or down (DF=1) by
 * one per byte, RCX counting to 0 (SDM Vol. 2A INS). */
static void rep_insb(struct result *r, int down)
{
	struct rep_io o;
	memset(o.buf, 0xCC, sizeof(o.buf));
	uint64_t flags = read_rflags();
	cli();
	uint8_t want_a = cmos_status_a();
	uint8_t *start = down ? &o.buf[5] : &o.buf[1];
	o.ptr = (uint64_t)(uintptr_t)start;
	o.count = 4;
	if (down)
		__asm__ volatile("std\n\trep insb\n\tcld"
				 : "+D"(o.ptr), "+c"(o.count)
				 : "d"(PORT_CMOS_DATA)
				 : "memory");
	else
		__asm__ volatile("rep insb" : "+D"(o.ptr), "+c"(o.count) : "d"(PORT_CMOS_DATA) : "memory");
	write_rflags(flags);
	uint64_t end = (uint64_t)(uintptr_t)start + (down ? -4 : 4);
	if (o.count != 0 || o.ptr != end)
		result_fail(r, "rcx %lu, rdi %+ld from the start (expected 0, %+d)", (unsigned long)o.count,
			    (long)(o.ptr - (uint64_t)(uintptr_t)start), down ? -4 : 4);
	unsigned lo = down ? 2 : 1, hi = down ? 5 : 4;
	for (unsigned i = 0; i < sizeof(o.buf); i++) {
		int inside = i >= lo && i <= hi;
		if (inside && (o.buf[i] & (uint8_t)~CMOS_UIP) != want_a)
			result_fail(r, "byte %u 0x%02x, status A reads 0x%02x", i, o.buf[i], want_a);
		if (!inside && o.buf[i] != 0xCC)
			result_fail(r, "byte %u written (0x%02x)", i, o.buf[i]);
	}
}

void tc_io_rep_insb(struct result *r) { rep_insb(r, 0); }
void tc_io_rep_insb_down(struct result *r) { rep_insb(r, 1); }

/* REP OUTSB to port 0x80 (POST codes: nothing reads them back): RSI moves up by the count, RCX
 * ends at 0, memory is untouched. */
void tc_io_rep_outsb(struct result *r)
{
	static const uint8_t codes[3] = { 0x51, 0x52, 0x53 };
	uint64_t src = (uint64_t)(uintptr_t)codes, n = 3;
	__asm__ volatile("rep outsb" : "+S"(src), "+c"(n) : "d"(PORT_POST) : "memory");
	if (n != 0 || src != (uint64_t)(uintptr_t)codes + 3)
		result_fail(r, "rcx %lu, rsi %+ld from the start (expected 0, +3)", (unsigned long)n,
			    (long)(src - (uint64_t)(uintptr_t)codes));
}

/* ---- exceptions ---- */

struct pf_op {
	uint64_t addr, rip;
};

static void do_pf_read(void *p)
{
	struct pf_op *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n"
			 "1:\tmov (%1), %%rax"
			 : "=m"(o->rip)
			 : "r"(o->addr)
			 : "rax", "memory");
}

static void do_pf_write(void *p)
{
	struct pf_op *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n"
			 "1:\tmovq $0, (%1)"
			 : "=m"(o->rip)
			 : "r"(o->addr)
			 : "rax", "memory");
}

static void do_pf_fetch(void *p)
{
	struct pf_op *o = p;
	o->rip = o->addr;
	__asm__ volatile("call *%0" ::"r"(o->addr) : "memory");
}

/* An access to a not-present page: #PF with the error code's P bit clear, W for a write, I/D for
 * a fetch when EFER.NXE (or CR4.SMEP) is set; CR2 the address; RIP the faulting instruction (SDM
 * Vol. 3A 4.7). With trap=exceptions keel reflects it and must load CR2 itself. */
static void pf_case(struct result *r, void (*fn)(void *), uint64_t error, uint64_t offset, const char *what)
{
	uint64_t a = need_not_present(r);
	if (!a)
		return;
	struct pf_op o = { a + offset, 0 };
	write_cr2(0);
	struct fault f = trap_catch(fn, &o);
	uint64_t cr2 = read_cr2();
	if (!want(r, what, &f, VEC_PF, error) || !want_rip(r, what, &f, o.rip))
		return;
	if (cr2 != o.addr)
		result_fail(r, "%s: CR2 0x%lx, expected 0x%lx", what, (unsigned long)cr2, (unsigned long)o.addr);
}

void tc_exceptions_pf_read(struct result *r) { pf_case(r, do_pf_read, 0, 0x238, "read"); }
void tc_exceptions_pf_write(struct result *r) { pf_case(r, do_pf_write, PF_W, 0x1008, "write"); }

void tc_exceptions_pf_fetch(struct result *r)
{
	int id = (rdmsr(MSR_EFER) & EFER_NXE) || (read_cr4() & CR4_SMEP);
	pf_case(r, do_pf_fetch, id ? PF_ID : 0, 0x2000, "fetch");
}

static void do_load_fs(void *p)
{
	uint16_t sel = *(uint16_t *)p;
	__asm__ volatile("mov %0, %%fs" ::"r"(sel) : "memory");
}

/* MOV FS of a selector beyond the GDT limit: #GP with the selector (RPL bits clear) as error code
 * (SDM Vol. 3A 6.13); FS keeps its old value. */
void tc_exceptions_gp_selector(struct result *r)
{
	struct dtr gdt;
	sgdt(&gdt);
	uint16_t sel = (uint16_t)((gdt.limit + 8) & ~7u), fs = read_fs();
	if (sel == 0) {
		result_skip(r, "GDT limit 0x%x leaves no selector beyond it", gdt.limit);
		return;
	}
	struct fault f = trap_catch(do_load_fs, &sel);
	if (want(r, "mov fs of a selector beyond the GDT", &f, VEC_GP, sel) && read_fs() != fs)
		result_fail(r, "fs 0x%x after the fault, was 0x%x", read_fs(), fs);
}
