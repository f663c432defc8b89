/* keel's own host environment for VMX root: GDT, TSS, IDT, and what root-mode exceptions do.
 * Built at setup on each CPU; used on every VM exit. */
#include "host.h"

#include <stddef.h>

#include "../arch/x86/cpu.h"
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "../mm/pool.h"
#include "events.h"

/* Offsets vmx_entry.asm uses (UW_*): checked here so the two never drift apart. */
_Static_assert(offsetof(struct unwind_ctx, idtr_limit) == 16, "UW_IDTR");
_Static_assert(offsetof(struct unwind_ctx, cr3) == 32, "UW_CR3");
_Static_assert(offsetof(struct unwind_ctx, rsp) == 40, "UW_RSP");
_Static_assert(offsetof(struct unwind_ctx, rflags) == 48, "UW_RFLAGS");
_Static_assert(offsetof(struct unwind_ctx, fs_base) == 56, "UW_FSBASE");
_Static_assert(offsetof(struct unwind_ctx, gs_base) == 64, "UW_GSBASE");
_Static_assert(offsetof(struct unwind_ctx, cs) == 72, "UW_CS");
_Static_assert(offsetof(struct unwind_ctx, gs) == 82, "UW_GS");

/* What exc_common pushes, lowest address first. */
struct exc_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct exc_frame) == 22 * 8, "exc_common frame");

extern uint64_t exc_stub_table[32];
extern uint64_t safe_fixups[];
extern uint64_t safe_fixups_count;

/* Descriptor encodings (SDM Vol. 3A 3.4.5): 64-bit code, data, and a 64-bit available TSS. */
#define GDT_CODE64 0x00AF9B000000FFFFULL
#define GDT_DATA 0x00CF93000000FFFFULL

void host_setup_gdt(struct vcpu *v)
{
	uint64_t base = (uint64_t)(uintptr_t)&v->tss, limit = sizeof(v->tss) - 1;

	v->gdt[0] = 0;
	v->gdt[1] = GDT_CODE64;
	v->gdt[2] = GDT_DATA;
	v->gdt[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40) | ((limit >> 16 & 0xF) << 48) |
		    ((base >> 24 & 0xFF) << 56);
	v->gdt[4] = base >> 32;
	v->tss.iomap_base = sizeof(v->tss);
}

int host_setup_idt(struct vm *vm)
{
	uint64_t *idt = pool_alloc_pages(1);
	if (!idt)
		return -1;
	for (unsigned i = 0; i < 32; i++) {
		uint64_t h = exc_stub_table[i];
		/* Interrupt gate, present, DPL 0, selector HOST_CS (SDM Vol. 3A 6.14.1). */
		idt[2 * i] = (h & 0xFFFF) | ((uint64_t)HOST_CS << 16) | (0x8EULL << 40) | ((h >> 16 & 0xFFFF) << 48);
		idt[2 * i + 1] = h >> 32;
	}
	vm->idt = idt;
	return 0;
}

/* An exception in VMX root is keel's own bug, except #GP on the safe_* instructions and NMIs. */
void host_exception(struct exc_frame *f);
void host_exception(struct exc_frame *f)
{
	if (f->vector == VEC_GP)
		for (uint64_t i = 0; i < safe_fixups_count; i++)
			if (f->rip == safe_fixups[2 * i]) {
				f->rip = safe_fixups[2 * i + 1];
				return;
			}
	if (f->vector == VEC_NMI) {
		/* The guest's NMI, arrived while this CPU ran keel: vmx_exit_handler injects it. Nothing
		 * is logged here: the NMI may have interrupted the logger, which holds its lock. */
		struct vcpu *v = vcpu_in_root();
		if (v)
			events_nmi_in_root(v);
		return;
	}
	if (f->vector == VEC_MC) {
		/* A machine check belongs to the OS that handles them, the guest: queued for it like an
		 * NMI. keel's interrupted work carries on (an uncorrected error that hit keel's own data
		 * is beyond what keel can repair either way). */
		struct vcpu *v = vcpu_in_root();
		if (v) {
			events_mc_in_root(v);
			return;
		}
	}
	log_err("keel: PANIC: exception %llu (error 0x%llx) in VMX root at RIP 0x%llx RSP 0x%llx CR2 0x%llx",
		(unsigned long long)f->vector, (unsigned long long)f->error, (unsigned long long)f->rip,
		(unsigned long long)f->rsp, (unsigned long long)read_cr2());
	log_err("keel: RAX %llx RBX %llx RCX %llx RDX %llx RSI %llx RDI %llx", (unsigned long long)f->rax,
		(unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx,
		(unsigned long long)f->rsi, (unsigned long long)f->rdi);
	const uint64_t *sp = (const uint64_t *)(uintptr_t)f->rsp;
	log_err("keel: stack at RSP: %llx %llx %llx %llx %llx %llx %llx %llx", (unsigned long long)sp[0],
		(unsigned long long)sp[1], (unsigned long long)sp[2], (unsigned long long)sp[3],
		(unsigned long long)sp[4], (unsigned long long)sp[5], (unsigned long long)sp[6],
		(unsigned long long)sp[7]);
	struct vcpu *v = vcpu_in_root();
	if (v)
		vcpu_stop(v, "exception in VMX root");
	for (;;)
		hlt();
}
