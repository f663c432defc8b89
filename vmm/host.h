/* keel's own host environment for VMX root: GDT, TSS, IDT, and what root-mode exceptions do.
 * Built at setup on each CPU; used on every VM exit. */
#ifndef KEEL_VMM_HOST_H
#define KEEL_VMM_HOST_H

#include <stdint.h>

#include "vcpu.h"

#define HOST_CS 0x08
#define HOST_DS 0x10
#define HOST_TR 0x18

/* Fills v->gdt and v->tss. */
void host_setup_gdt(struct vcpu *v);
/* Builds the shared root-mode IDT (exception vectors 0-31) in a pool page; 0 or -1. */
int host_setup_idt(struct vm *vm);

/* Fault-tolerant instructions (arch/x86/vmx_entry.asm): 0, or 1 when the CPU raised #GP. */
int safe_rdmsr(uint32_t msr, uint64_t *value);
int safe_wrmsr(uint32_t msr, uint64_t value);
int safe_xsetbv(uint32_t index, uint64_t value);

/* The firmware context to go back to when the first VM entry of a CPU fails. */
struct unwind_ctx {
	uint16_t gdtr_limit;
	uint64_t gdtr_base;
	uint8_t pad0[6];
	uint16_t idtr_limit;
	uint64_t idtr_base;
	uint8_t pad1[6];
	uint64_t cr3, rsp, rflags, fs_base, gs_base;
	uint16_t cs, ss, ds, es, fs, gs;
} __attribute__((packed));

int vmx_launch(uint64_t guest_rsp_field, uint64_t guest_rip_field);
void vmx_launch_unwind(struct unwind_ctx *ctx) __attribute__((noreturn));
void vmx_exit_entry(void);

#endif
