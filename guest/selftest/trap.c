/* Exception harness: per-CPU IDT copies whose vectors 0-31 record the fault and resume at the
 * innermost trap_catch. UEFI boot services, CPL 0; BSP or AP, each with its own struct trap_cpu. */
#include "trap.h"

#include "../common/efi_io.h"
#include "insn.h"

#include "../../arch/x86/cr.h"
#include "../../lib/fmt.h"
#include "../../lib/string.h"

/* The stack as trap_common (stubs.asm) leaves it: GPRs pushed RAX first, so R15 sits lowest. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU (SDM Vol. 3A 6.14.2) */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "must match the pushes in stubs.asm");

/* A catch point: trap_catch_asm stores RSP; the rest is C's. */
struct trap_jmp {
	uint64_t rsp;
	uint64_t rflags;
	uint16_t cs, ss; /* the catch point's: a fault at CPL 3 (ring3.c) comes back to them */
	struct trap_jmp *outer;
};

extern const uint64_t trap_stub_table[TRAP_VECTORS];
int trap_catch_asm(void (*fn)(void *), void *arg, uint64_t *saved_rsp);
void trap_resume(void);
void trap_dispatch(struct trap_frame *f);

#define GATE_INTERRUPT_P_DPL0 0x8E /* present, DPL 0, 64-bit interrupt gate: IF cleared on entry */

static struct trap_cpu *trap_this_cpu(void)
{
	struct dtr d;
	sidt(&d);
	return (struct trap_cpu *)(uintptr_t)d.base;
}

void trap_enter(struct trap_cpu *c)
{
	sidt(&c->firmware_idt);
	size_t fw_bytes = (size_t)c->firmware_idt.limit + 1;
	memset(c->idt, 0, sizeof(c->idt));
	memcpy(c->idt, (void *)(uintptr_t)c->firmware_idt.base,
	       fw_bytes < sizeof(c->idt) ? fw_bytes : sizeof(c->idt));

	uint16_t cs = read_cs();
	for (unsigned v = 0; v < TRAP_VECTORS; v++) {
		uint64_t a = trap_stub_table[v];
		c->idt[v] = (struct idt_gate){
			.offset_lo = (uint16_t)a,
			.selector = cs,
			.type_attr = GATE_INTERRUPT_P_DPL0,
			.offset_mid = (uint16_t)(a >> 16),
			.offset_hi = (uint32_t)(a >> 32),
		};
	}
	c->jmp = 0;
	struct dtr mine = { sizeof(c->idt) - 1, (uint64_t)(uintptr_t)c->idt };
	lidt(&mine);
}

void trap_leave(struct trap_cpu *c) { lidt(&c->firmware_idt); }

struct fault trap_catch(void (*fn)(void *), void *arg)
{
	struct trap_cpu *c = trap_this_cpu();
	struct trap_jmp j = { .rflags = read_rflags(), .cs = read_cs(), .ss = read_ss(), .outer = c->jmp };

	c->jmp = &j;
	int faulted = trap_catch_asm(fn, arg, &j.rsp);
	c->jmp = j.outer;
	if (faulted)
		return c->last;
	return (struct fault){ .vector = TRAP_NONE };
}

static __attribute__((noreturn)) void trap_die(const struct trap_frame *f)
{
	char msg[128];
	fmt_snprintf(msg, sizeof(msg), "selftest: exception %lu at rip 0x%lx outside any case; halting",
		     (unsigned long)f->vector, (unsigned long)f->rip);
	io_raw(msg);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Called by trap_common with interrupts off. Records the fault, then rewrites the frame so that
 * IRETQ lands in trap_resume on the catch point's stack with RAX = 1: a longjmp through IRETQ. The
 * catch point's RFLAGS come back too, which clears a single-step TF (and AC) set by the case. */
void trap_dispatch(struct trap_frame *f)
{
	struct trap_cpu *c = trap_this_cpu();
	struct trap_jmp *j = c->jmp;

	c->last = (struct fault){
		.vector = (int)f->vector,
		.error = f->error,
		.rip = f->rip,
		.dr6 = f->vector == VEC_DB ? read_dr6() : 0,
	};
	if (!j)
		trap_die(f);
	f->rip = (uint64_t)(uintptr_t)trap_resume;
	f->cs = j->cs;
	f->rsp = j->rsp;
	f->ss = j->ss;
	f->rflags = j->rflags & ~RFLAGS_TF;
	f->rax = 1;
}

static const char *const vector_names[TRAP_VECTORS] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "vector 9", "#TS", "#NP",
	"#SS", "#GP", "#PF", "vector 15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "vector 22",
	"vector 23", "vector 24", "vector 25", "vector 26", "vector 27", "#HV", "#VC", "#SX",
	"vector 31",
};

void trap_describe(const struct fault *f, char *buf, size_t size)
{
	if (f->vector == TRAP_NONE)
		fmt_snprintf(buf, size, "no exception");
	else if (f->vector < 0 || f->vector >= TRAP_VECTORS)
		fmt_snprintf(buf, size, "vector %d", f->vector);
	else if (f->vector == VEC_DF || (f->vector >= 10 && f->vector <= 14) || f->vector == VEC_AC ||
		 f->vector == 21 || f->vector == 29 || f->vector == 30)
		fmt_snprintf(buf, size, f->error ? "%s(0x%lx)" : "%s(%lu)", vector_names[f->vector],
			     (unsigned long)f->error);
	else
		fmt_snprintf(buf, size, "%s", vector_names[f->vector]);
}
