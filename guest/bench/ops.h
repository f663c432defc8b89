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

#endif
