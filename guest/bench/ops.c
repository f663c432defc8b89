/* The timed operations, one inline-asm window each, so that no compiler-chosen instruction lands
 * between the two TSC reads. CPL 0, any CPU; which op may run where is in ops.h. */
#include "ops.h"

#include "../../arch/x86/cpu.h"
#include "../../arch/x86/msr.h"
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
