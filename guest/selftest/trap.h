/* Exception harness: a private copy of the IDT per CPU and a catch/resume pair, so that a case can
 * state "expect #GP(0)". UEFI boot services, BSP or an AP inside an MP-services procedure. */
#ifndef SELFTEST_TRAP_H
#define SELFTEST_TRAP_H

#include <stddef.h>
#include <stdint.h>

#include "../../arch/x86/cpu.h"

#define VEC_DE 0
#define VEC_DB 1
#define VEC_NMI 2
#define VEC_BP 3
#define VEC_UD 6
#define VEC_DF 8
#define VEC_GP 13
#define VEC_PF 14
#define VEC_AC 17
#define TRAP_VECTORS 32 /* 0-31: the exceptions; higher vectors stay the firmware's */

/* What the CPU delivered. vector is TRAP_NONE when the code ran to its end. */
#define TRAP_NONE (-1)
struct fault {
	int vector;
	uint64_t error; /* error code; 0 for vectors that push none */
	uint64_t rip;   /* RIP in the exception frame: the faulting insn, or the next one for traps */
	uint64_t dr6;   /* #DB only */
};

struct idt_gate {
	uint16_t offset_lo, selector;
	uint8_t ist, type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi, reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "SDM Vol. 3A 6.14.1: 64-bit IDT gate descriptor");

struct trap_jmp;

/* One per CPU, 16-byte aligned. The IDT comes first: the handler finds the block with SIDT. */
struct trap_cpu {
	struct idt_gate idt[256];
	struct dtr firmware_idt;
	struct trap_jmp *jmp; /* innermost trap_catch, or 0 */
	struct fault last;
};

/* Loads a copy of this CPU's IDT whose vectors 0-31 lead to the harness. c stays in use (and on
 * this CPU) until trap_leave. */
void trap_enter(struct trap_cpu *c);
/* Reloads the IDT that trap_enter found. */
void trap_leave(struct trap_cpu *c);

/* Runs fn(arg). An exception ends fn at once: execution resumes here with the callee-saved
 * registers, RSP and RFLAGS (so IF, TF, AC) of the call, and the fault is returned. Nests.
 * Only between trap_enter and trap_leave. */
struct fault trap_catch(void (*fn)(void *), void *arg);

/* "no exception", "#UD", "#GP(0x0)": for messages. */
void trap_describe(const struct fault *f, char *buf, size_t size);

#endif
