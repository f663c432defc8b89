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

/*
 * Where a shadow-mode vCPU runs with the guest's CR0 and EFER (docs/memory-virtualization.md,
 * "Unpaged phases"): on its shadow tables whenever CR0.PG = 1; with PG = 0 on the EPT identity
 * map with unrestricted guest where the CPU has them (unpaged_ept), else on PAE shadow tables
 * mapping linear = physical, which cannot express real mode or LME = 1 without paging.
 */
enum shadow_phase {
	SHADOW_PHASE_TABLES,          /* shadow tables (the guest's paging, or PAE identity tables) */
	SHADOW_PHASE_EPT,             /* the EPT, unrestricted guest, no CR3/INVLPG exits */
	SHADOW_PHASE_NO_REAL_MODE,    /* CR0.PE = 0 without unrestricted guest: the vCPU is stopped */
	SHADOW_PHASE_NO_LONG_UNPAGED  /* PG = 0 with EFER.LME without unrestricted guest: stopped */
};
enum shadow_phase shadow_phase_for(uint64_t cr0, uint64_t efer, int unpaged_ept);

/* A MOV to CR0/CR4 (LMSW, CLTS) that vmm/emulate.c accepted: replaces the real values in *s by
 * the ones the new phase runs on (shadow_phase_for). Returns 1 when the write must raise #GP(0)
 * after all (LA57: hidden; PCIDE is emulated by the shadow MMU, the real one stays 0). A phase
 * keel cannot run stops the vCPU with the reason. */
int shadow_cr_write(struct vcpu *v, struct cr_state *s);

/* After a CR0/CR4 write that changes translations (the new values in the VMCS): a change of
 * CR0.PG under unpaged_ept switches the vCPU between the EPT and its shadow tables (controls,
 * real CR3, v->shadow); otherwise a new shadow root with every translation dropped (tables), or
 * a VPID flush (EPT). */
void shadow_paging_update(struct vcpu *v);

/* The guest's paging state changed (task switch, EFER): the real CR3 becomes the shadow root for
 * the new state. Only while v->shadow is set. */
void shadow_load_root(struct vcpu *v);

/* A task switch loaded cr3 (and, with PAE paging, these PDPTEs): as MOV CR3 (vmm/task.c). */
void shadow_task_cr3(struct vcpu *v, uint64_t cr3, const uint64_t *pdpte);

/* A #PF exit (exception bitmap bit 14): fill the shadow and retry, or reflect the fault. */
void shadow_exit_page_fault(struct vcpu *v, uint64_t gva, uint32_t error);

/* The xAPIC write trap was lifted (vmm/sipi.c): this vCPU's shadow maps that page as the guest
 * does from now on. */
void shadow_write_trap_lift(struct vcpu *v);

/* Before every VM entry of a shadow-mode vCPU: keel's memory hidden once sealed, and the TLB
 * invalidation the shadow MMU asked for (INVVPID; nothing to do without VPID). */
void shadow_before_entry(struct vcpu *v);

/* The guest's PDPTE i (PAE paging): the VMCS's under EPT, keel's copy under shadow paging. */
uint64_t vcpu_guest_pdpte(const struct vcpu *v, unsigned i);

#endif
