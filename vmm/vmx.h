/* VMX bring-up: control words, host and guest state, and the launch into the firmware's own
 * context on each CPU. Runs under UEFI boot services, on the BSP and on each AP in turn. */
#ifndef KEEL_VMM_VMX_H
#define KEEL_VMM_VMX_H

#include <stdint.h>

#include "trap.h"
#include "vcpu.h"

/* Fills vm->pin/proc/proc2/exit_ctls/entry_ctls; NULL or why the CPU cannot run keel. */
const char *vmx_compute_controls(struct vm *vm);
/* Adds the controls of the trap= classes in vm->trap the CPU offers (part of vmx_compute_controls);
 * the others move to vm->trap_missing. vmx_report_traps logs both sets once. */
void vmx_trap_controls(struct vm *vm);
void vmx_report_traps(const struct vm *vm);

void vmx_msr_bitmap_trap(uint8_t *bitmap, uint32_t msr, int read, int write);
void vmx_io_bitmap_trap(uint8_t *bitmap, uint16_t port);

/* What keel traps, in vm's zeroed bitmaps: IA32_FEATURE_CONTROL and the VMX capability MSRs
 * (VMX is hidden from the guest) and the debug port KEEL_TRAPPED_PORT. */
void vmx_traps_init(struct vm *vm);

/*
 * Enables VMX on this CPU, builds v's VMCS from the current state and launches it, so the caller
 * returns NULL as the guest. On failure returns why, with VMX off again. precheck (may be NULL)
 * runs just before the launch; nonzero aborts it.
 */
const char *vmx_vcpu_launch(struct vcpu *v, int (*precheck)(struct vcpu *v));
/* mmu=shadow: turns the guest state just read from the firmware into shadow paging's (set by
 * vmm_start to shadow_vcpu_launch_state, so that vmx.c needs no shadow MMU of its own). */
extern void (*vmx_shadow_launch_hook)(struct vcpu *v);

/* The VM-entry self-check run before each launch when check=on (NULL when not built in). */
extern int (*vmm_precheck)(struct vcpu *v);

/* The CR0/CR4 guest/host masks of v's VMCS: the bits keel owns (from v's fixed-bit values). */
void vmx_write_cr_masks(const struct vcpu *v);

/* VMXOFF and CR4.VMXE cleared. */
void vmx_disable(void);

#endif
