/* Shadow paging on the exit path (mmu=shadow): the glue between VM exits and mm/shadow.c.
 * VMX root, except shadow_vcpu_init and shadow_vcpu_launch_state (setup, on the vCPU's CPU). */
#ifndef KEEL_VMM_SHADOW_EXIT_H
#define KEEL_VMM_SHADOW_EXIT_H

#include "emulate.h"
#include "vcpu.h"

/* Gives v its shadow MMU (one page of state, SHADOW_VCPU_PAGES pages of tables, from the pool).
 * Returns 0, or -1 when the pool is short or its pages lie above 4 GiB. */
int shadow_vcpu_init(struct vcpu *v);

/* At launch, after the guest state is written: the firmware's CR3 becomes the guest's own, the
 * real CR3 a shadow root, the real CR0/CR4 what shadow paging needs (read shadows keep the
 * guest's values). */
void shadow_vcpu_launch_state(struct vcpu *v);

/* MOV to/from CR3 under CR3-load/store exiting (type and gpr from the exit qualification). */
void shadow_cr3_exit(struct vcpu *v, struct guest_regs *r, unsigned type, unsigned gpr);

/* A MOV to CR0/CR4 (LMSW, CLTS) that vmm/emulate.c accepted: replaces the real values in *s by
 * the ones shadow paging runs on. Returns 1 when the write must raise #GP(0) after all (LA57:
 * hidden; PCIDE is emulated by the shadow MMU, the real one stays 0). A switch to real mode, or paging off with EFER.LME set, cannot run without
 * unrestricted guest: the vCPU is stopped with the reason. */
int shadow_cr_write(struct vcpu *v, struct cr_state *s);

/* The guest's paging state changed (CR0/CR4 write that changes translations, task switch):
 * the real CR3 becomes the shadow root for the new state. */
void shadow_load_root(struct vcpu *v);

/* A task switch loaded cr3 (and, with PAE paging, these PDPTEs): as MOV CR3 (vmm/task.c). */
void shadow_task_cr3(struct vcpu *v, uint64_t cr3, const uint64_t *pdpte);

/* A #PF exit (exception bitmap bit 14): fill the shadow and retry, or reflect the fault. */
void shadow_exit_page_fault(struct vcpu *v, uint64_t gva, uint32_t error);

/* Before every VM entry of a shadow-mode vCPU: keel's memory hidden once sealed, and the TLB
 * invalidation the shadow MMU asked for (INVVPID; nothing to do without VPID). */
void shadow_before_entry(struct vcpu *v);

/* The guest's PDPTE i (PAE paging): the VMCS's under EPT, keel's copy under shadow paging. */
uint64_t vcpu_guest_pdpte(const struct vcpu *v, unsigned i);

#endif
