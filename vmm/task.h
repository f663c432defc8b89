/* Hardware task switches emulated for 32-bit guests (exit reason 9): the handler and the pure
 * checks it applies to decoded descriptors. VMX root; the checks are pure and run anywhere. */
#ifndef KEEL_VMM_TASK_H
#define KEEL_VMM_TASK_H

#include <stdint.h>

#include "exit.h"

/* 32-bit TSS (SDM Vol. 3A 7.2.1 figure 7-2). Selector slots are 16 bits with 16 reserved. */
struct __attribute__((packed)) tss32 {
	uint16_t link, reserved0;
	struct __attribute__((packed)) {
		uint32_t esp;
		uint16_t ss, reserved;
	} stack[3];
	uint32_t cr3, eip, eflags;
	uint32_t gpr[8]; /* EAX ECX EDX EBX ESP EBP ESI EDI: the guest_regs order */
	struct __attribute__((packed)) {
		uint16_t sel, reserved;
	} seg[6];        /* ES CS SS DS FS GS: the VMCS order */
	uint16_t ldt, reserved1;
	uint16_t trap;   /* bit 0: T, a debug trap on entry to the task */
	uint16_t iomap_base;
};
_Static_assert(sizeof(struct tss32) == 104, "32-bit TSS layout");

/* 16-bit TSS (SDM Vol. 3A 7.6): no CR3, FS, GS or T bit. */
struct __attribute__((packed)) tss16 {
	uint16_t link;
	uint16_t stack[3][2]; /* SP, SS for rings 0-2 */
	uint16_t ip, flags;
	uint16_t gpr[8];      /* AX CX DX BX SP BP SI DI */
	uint16_t seg[4];      /* ES CS SS DS */
	uint16_t ldt;
};
_Static_assert(sizeof(struct tss16) == 44, "16-bit TSS layout");

/* Least TSS limits the CPU accepts (SDM Vol. 3A 7.3, table 7-1 row 3). */
#define TSS32_MIN_LIMIT 0x67
#define TSS16_MIN_LIMIT 0x2B

/* System-descriptor types (SDM Vol. 3A 3.5 table 3-2). */
#define DESC_TYPE_TSS16_AVAIL 1
#define DESC_TYPE_LDT 2
#define DESC_TYPE_TSS16_BUSY 3
#define DESC_TYPE_TSS32_AVAIL 9
#define DESC_TYPE_TSS32_BUSY 11
#define DESC_TYPE_TSS_BUSY_BIT 2

/* A segment descriptor decoded: limit in bytes (granularity applied), access rights in the VMCS
 * format (SDM Vol. 3C 24.4.1 table 24-2: descriptor bits 47:40 and 55:52). */
struct task_desc {
	uint32_t base, limit, ar;
};

void task_decode_descriptor(uint64_t raw, struct task_desc *d);

/* The fault a check raises: vector TASK_NO_FAULT, or vector with its error code. */
#define TASK_NO_FAULT (-1)
struct task_fault {
	int vector;
	uint32_t error;
};

/*
 * The new TSS descriptor against the rules for source (TSQ_SOURCE_*), SDM Vol. 3A 7.3 and the
 * JMP/CALL/IRET/INT pseudocode: d is NULL when sel is beyond the GDT limit. ext is the EXT bit of
 * the error code (1 when an external event caused the switch).
 */
struct task_fault task_check_tss(const struct task_desc *d, uint16_t sel, unsigned source, unsigned ext);

/* The segment registers a task switch loads, in the order keel loads them. */
enum task_seg { TASK_SEG_LDT, TASK_SEG_CS, TASK_SEG_SS, TASK_SEG_DATA };

/*
 * A selector from the new TSS against its descriptor (SDM Vol. 3A 7.3 table 7-1 rows 5-17): d is
 * NULL when sel lies beyond its table's limit (or names an LDT the task does not have). cpl is
 * the new task's CPL (the RPL of its CS selector).
 */
struct task_fault task_check_segment(enum task_seg kind, uint16_t sel, const struct task_desc *d, unsigned cpl,
				     unsigned ext);

/* The exit-reason-9 handler (vmm/exit.c contract). */
void task_switch_handle(struct vcpu *v, struct guest_regs *r, const struct exit_info *e);

#endif
