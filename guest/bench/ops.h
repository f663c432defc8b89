/* The timed operations: each runs its operation once between serialized TSC reads and returns the
 * ticks in between. CPL 0, any CPU; under keel or natively (see each op for where it may run). */
#ifndef BENCH_OPS_H
#define BENCH_OPS_H

#include <stdint.h>

#define COMPUTE_ITERATIONS 1000

uint64_t time_empty(void);   /* nothing: the measurement's own overhead */
uint64_t time_cpuid(void);   /* CPUID leaf 0 */
uint64_t time_vmcall(void);  /* VMCALL KEEL_HC_NOP: keel only (#UD natively) */
uint64_t time_wrmsr(void);   /* WRMSR IA32_MISC_ENABLE with its own value */
uint64_t time_rdmsr(void);   /* RDMSR IA32_FEATURE_CONTROL: keel, or a CPU with VMX or SMX */
uint64_t time_in(void);      /* IN AL, 0xE9 */
uint64_t time_out(void);     /* OUT 0xE9, AL (a NUL byte) */
uint64_t time_mov_cr0(void); /* MOV CR0 with the value it reads */
uint64_t time_compute(void); /* COMPUTE_ITERATIONS rounds of LEA, IMUL, DEC, JNZ: no exits */

/* The trap= classes (tools/bench-trap.sh runs them natively and under trap=all). */
uint64_t time_rdtsc(void);       /* RDTSC */
uint64_t time_rdpmc(void);       /* RDPMC of general-purpose counter 0 */
uint64_t time_mov_dr(void);      /* MOV RAX, DR0 */
uint64_t time_sgdt(void);        /* SGDT to memory */
uint64_t time_lgdt(void);        /* LGDT of the GDTR that SGDT stored */
uint64_t time_invlpg(void);      /* INVLPG of a mapped address */
uint64_t time_wbinvd(void);      /* WBINVD */
uint64_t time_pause(void);       /* PAUSE */
uint64_t time_in_80(void);       /* IN AL, 0x80 */
uint64_t time_out_80(void);      /* OUT 0x80, AL */
uint64_t time_outsb_80(void);    /* REP OUTSB of 4 bytes to port 0x80 */
uint64_t time_rdmsr_pass(void);  /* RDMSR IA32_KERNEL_GS_BASE: passed through, not in the VMCS */
uint64_t time_int3(void);        /* INT3 to a handler that is one IRETQ (bench_bp_install) */

/* Points vector 3 of a copy of this CPU's IDT at a lone IRETQ and loads the copy; the copy is
 * otherwise the firmware's. bench_bp_remove loads the firmware's IDT again. */
void bench_bp_install(void);
void bench_bp_remove(void);

#endif
