/* The timed operations, one inline-asm window each, so that no compiler-chosen instruction lands
 * between the two TSC reads. CPL 0, any CPU; which op may run where is in ops.h. */
#include "ops.h"

#include "../../arch/x86/cpu.h"
#include "../../arch/x86/msr.h"
#include "../../lib/string.h"
#include "../../vmm/hypercall_abi.h"

/*
 * LFENCE;RDTSC ... op ... RDTSCP;LFENCE (Intel, "How to Benchmark Code Execution Times on Intel
 * IA-32 and IA-64 Instruction Set Architectures", 2010; SDM Vol. 2B, RDTSC and RDTSCP): the first
 * LFENCE lets earlier instructions finish before the start is read, RDTSCP waits for the op, and
 * the last LFENCE keeps later instructions from starting before the end is read. The start is kept
 * in R8/R9; RDTSC overwrites EDX:EAX, so an op's EAX/EDX operands are loaded inside the window (at
 * most one instruction, present in both the native and the keel run). Result in RAX: end - start.
 */
#define TIMED(op)                                                                                  \
	"lfence\n\t"                                                                               \
	"rdtsc\n\t"                                                                                \
	"mov %%eax, %%r8d\n\t"                                                                     \
	"mov %%edx, %%r9d\n\t" op "\n\t"                                                           \
	"rdtscp\n\t"                                                                               \
	"lfence\n\t"                                                                               \
	"shl $32, %%rdx\n\t"                                                                       \
	"or %%rdx, %%rax\n\t"                                                                      \
	"shl $32, %%r9\n\t"                                                                        \
	"or %%r9, %%r8\n\t"                                                                        \
	"sub %%r8, %%rax"
#define TIMED_CLOBBERS "rdx", "r8", "r9", "cc", "memory"

uint64_t time_empty(void)
{
	uint64_t t;
	__asm__ volatile(TIMED("") : "=a"(t) : : "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_cpuid(void)
{
	uint64_t t;
	__asm__ volatile(TIMED("xor %%eax, %%eax\n\tcpuid") : "=a"(t) : : "rbx", "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_vmcall(void)
{
	uint64_t t;
	/* keel answers in RAX and may write RBX/RCX/RDX (vmm/hypercall_abi.h). */
	__asm__ volatile(TIMED("mov %[nr], %%eax\n\tvmcall")
			 : "=a"(t)
			 : [nr] "i"(KEEL_HC_NOP)
			 : "rbx", "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_rdmsr(void)
{
	uint64_t t, msr = MSR_IA32_FEATURE_CONTROL; /* ECX survives RDTSC; RDTSCP then overwrites it */
	__asm__ volatile(TIMED("rdmsr") : "=a"(t), "+c"(msr) : : TIMED_CLOBBERS);
	return t;
}

uint64_t time_wrmsr(void)
{
	/* IA32_MISC_ENABLE written back with its own value: keel traps the write (it keeps XD disable,
	 * vmm/emulate.c); natively an ordinary WRMSR. EAX/EDX are loaded inside the window, in both runs. */
	uint64_t t, msr = MSR_IA32_MISC_ENABLE, v = rdmsr(MSR_IA32_MISC_ENABLE);
	register uint64_t lo __asm__("r10") = v & 0xFFFFFFFF, hi __asm__("r11") = v >> 32;
	__asm__ volatile(TIMED("mov %%r10d, %%eax\n\tmov %%r11d, %%edx\n\twrmsr")
			 : "=&a"(t), "+c"(msr)
			 : "r"(lo), "r"(hi)
			 : TIMED_CLOBBERS);
	return t;
}

uint64_t time_in(void)
{
	uint64_t t;
	__asm__ volatile(TIMED("inb %[port], %%al")
			 : "=a"(t)
			 : [port] "i"(KEEL_TRAPPED_PORT)
			 : "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_out(void)
{
	uint64_t t;
	__asm__ volatile(TIMED("xor %%eax, %%eax\n\toutb %%al, %[port]")
			 : "=a"(t)
			 : [port] "i"(KEEL_TRAPPED_PORT)
			 : "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_mov_cr0(void)
{
	uint64_t t, cr0 = read_cr0();
	/* "=&a": the compiler must not put cr0 in RAX, which RDTSC overwrites before the MOV. */
	__asm__ volatile(TIMED("mov %[cr0], %%cr0") : "=&a"(t) : [cr0] "r"(cr0) : "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_compute(void)
{
	uint64_t t;
	__asm__ volatile(TIMED("mov %[n], %%ecx\n\t"
			       "xor %%r10d, %%r10d\n"
			       "1:\n\t"
			       "lea 7(%%r10,%%rcx,2), %%r10\n\t"
			       "imul %%rcx, %%r10\n\t"
			       "dec %%ecx\n\t"
			       "jnz 1b")
			 : "=a"(t)
			 : [n] "i"(COMPUTE_ITERATIONS)
			 : "rcx", "r10", TIMED_CLOBBERS);
	return t;
}

/* ---- the trap= classes ---- */

/* Timed ops with no operand: the instruction alone in the window. */
#define TIMED_BARE(fn, insn, clobbers...)                                                          \
	uint64_t fn(void)                                                                          \
	{                                                                                          \
		uint64_t t;                                                                        \
		__asm__ volatile(TIMED(insn) : "=a"(t) : : "rcx", TIMED_CLOBBERS, ##clobbers);     \
		return t;                                                                          \
	}

TIMED_BARE(time_rdtsc, "rdtsc")
TIMED_BARE(time_mov_dr, "mov %%dr0, %%rax")
TIMED_BARE(time_wbinvd, "wbinvd")
TIMED_BARE(time_pause, "pause")
TIMED_BARE(time_in_80, "inb $0x80, %%al")
TIMED_BARE(time_out_80, "outb %%al, $0x80")
TIMED_BARE(time_int3, "int3")

uint64_t time_rdpmc(void)
{
	uint64_t t, ecx = 0; /* ECX survives RDTSC */
	__asm__ volatile(TIMED("rdpmc") : "=a"(t), "+c"(ecx) : : TIMED_CLOBBERS);
	return t;
}

uint64_t time_rdmsr_pass(void)
{
	uint64_t t, msr = MSR_KERNEL_GS_BASE;
	__asm__ volatile(TIMED("rdmsr") : "=a"(t), "+c"(msr) : : TIMED_CLOBBERS);
	return t;
}

static struct dtr gdtr;

uint64_t time_sgdt(void)
{
	uint64_t t;
	__asm__ volatile(TIMED("sgdt %[d]") : "=a"(t), [d] "=m"(gdtr) : : "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_lgdt(void)
{
	uint64_t t;
	if (!gdtr.base)
		sgdt(&gdtr); /* once, in the warm-up: it exits under trap=desc and would count */
	__asm__ volatile(TIMED("lgdt %[d]") : "=a"(t) : [d] "m"(gdtr) : "rcx", TIMED_CLOBBERS);
	return t;
}

static volatile uint64_t invlpg_target;

uint64_t time_invlpg(void)
{
	uint64_t t;
	__asm__ volatile(TIMED("invlpg %[p]") : "=a"(t) : [p] "m"(invlpg_target) : "rcx", TIMED_CLOBBERS);
	return t;
}

uint64_t time_outsb_80(void)
{
	static const uint8_t bytes[4] = { 0xB0, 0xB1, 0xB2, 0xB3 };
	uint64_t t, n = 4, src = (uint64_t)(uintptr_t)bytes;
	/* RDTSC overwrites EDX, so the port is loaded inside the window (in both runs). */
	__asm__ volatile(TIMED("mov $0x80, %%edx\n\trep outsb")
			 : "=a"(t), "+c"(n), "+S"(src)
			 :
			 : TIMED_CLOBBERS);
	return t;
}

/* The #BP handler: INT3 pushes an interrupt-gate frame without error code; IRETQ returns after
 * the INT3. C cannot write a handler that ends in IRETQ. */
void bench_bp_stub(void);
__asm__(".text\n"
	".globl bench_bp_stub\n"
	"bench_bp_stub:\n\t"
	"iretq\n");

static uint8_t idt_copy[256 * 16] __attribute__((aligned(16)));
static struct dtr firmware_idt;

void bench_bp_install(void)
{
	sidt(&firmware_idt);
	size_t n = (size_t)firmware_idt.limit + 1;
	memset(idt_copy, 0, sizeof(idt_copy));
	memcpy(idt_copy, (const void *)(uintptr_t)firmware_idt.base, n < sizeof(idt_copy) ? n : sizeof(idt_copy));
	uint64_t a = (uint64_t)(uintptr_t)bench_bp_stub;
	uint16_t cs = read_cs();
	uint8_t *g = idt_copy + 3 * 16; /* SDM Vol. 3A 6.14.1: 64-bit interrupt gate, P, DPL 0 */
	memset(g, 0, 16);
	memcpy(g, &a, 2);
	memcpy(g + 2, &cs, 2);
	g[5] = 0x8E;
	uint16_t mid = (uint16_t)(a >> 16);
	uint32_t hi = (uint32_t)(a >> 32);
	memcpy(g + 6, &mid, 2);
	memcpy(g + 8, &hi, 4);
	struct dtr mine = { sizeof(idt_copy) - 1, (uint64_t)(uintptr_t)idt_copy };
	lidt(&mine);
}

void bench_bp_remove(void) { lidt(&firmware_idt); }
