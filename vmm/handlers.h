/* The exit handlers the table in vmm/exit.c names, one file per instruction class. Each follows the
 * handler contract written above that table. VMX root, interrupts off. */
#ifndef KEEL_VMM_HANDLERS_H
#define KEEL_VMM_HANDLERS_H

#include "../arch/x86/msr.h"
#include "emulate.h"
#include "exit.h"
#include "host.h"

#define EXIT_HANDLER(name) void name(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)

EXIT_HANDLER(cpuid_exit);              /* vmm/cpuid.c */
EXIT_HANDLER(msr_exit_read);           /* vmm/msr.c */
EXIT_HANDLER(msr_exit_write);
EXIT_HANDLER(cr_exit);                 /* vmm/cr.c: MOV CR, CLTS, LMSW */
EXIT_HANDLER(xsetbv_exit);
EXIT_HANDLER(io_exit);                 /* vmm/io.c */
EXIT_HANDLER(ept_exit_violation);      /* vmm/ept_fault.c */
EXIT_HANDLER(ept_exit_misconfig);
EXIT_HANDLER(sipi_exit_init);          /* vmm/sipi.c */
EXIT_HANDLER(sipi_exit_sipi);
EXIT_HANDLER(events_exit_triple_fault); /* vmm/events.c */
EXIT_HANDLER(events_exit_preemption_timer);
EXIT_HANDLER(insn_exit_invd);          /* vmm/insn.c */
EXIT_HANDLER(insn_exit_vmx);
EXIT_HANDLER(hypercall_handle);        /* vmm/hypercall.c */

/* The trap= classes (vmm/trap.h, docs/trap-and-emulate.md). */
EXIT_HANDLER(idle_exit_hlt);           /* vmm/idle.c */
EXIT_HANDLER(idle_exit_pause);
EXIT_HANDLER(idle_exit_mwait);
EXIT_HANDLER(idle_exit_monitor);
EXIT_HANDLER(tsc_exit_rdtsc);          /* vmm/tsc.c */
EXIT_HANDLER(tsc_exit_rdtscp);
EXIT_HANDLER(pmc_exit_rdpmc);          /* vmm/pmc.c */
EXIT_HANDLER(dr_exit);                 /* vmm/dr.c */
EXIT_HANDLER(desc_exit_gdtr_idtr);     /* vmm/desc.c */
EXIT_HANDLER(desc_exit_ldtr_tr);
EXIT_HANDLER(tlb_exit_invlpg);         /* vmm/tlb.c */
EXIT_HANDLER(tlb_exit_invpcid);
EXIT_HANDLER(shadow_exit_invlpg);       /* vmm/shadow_exit.c: mmu=shadow, else tlb_exit_invlpg */
EXIT_HANDLER(cache_exit_wbinvd);       /* vmm/cache.c */
EXIT_HANDLER(exception_exit);          /* vmm/exception.c */

/* The effects of the simplest trapped instructions, shared by their handlers and the fast path
 * (vmm/exit.c): each does what the instruction does to the guest's registers and the CPU and
 * returns 0, or returns 1 with nothing changed when the instruction faults (#GP(0)); RIP is the
 * caller's. They read and write only RAX, RCX and RDX of *r. */
int tsc_emulate(struct guest_regs *r, int rdtscp);  /* vmm/tsc.c: RDTSC, RDTSCP */
int pmc_emulate(struct guest_regs *r);              /* vmm/pmc.c: RDPMC */
int cache_wbinvd_emulate(void);                     /* vmm/cache.c: WBINVD */
int tlb_invlpg_emulate(struct vcpu *v, uint64_t la); /* vmm/tlb.c: INVLPG under EPT */
/* vmm/dr.c: MOV to or from DRn as exit qualification q describes; 0 done, else the vector of the
 * fault it raises (#GP, #UD, or #DB for general detect), nothing changed. */
int dr_emulate(struct guest_regs *r, uint64_t q);
/* The fast path's MOV DR (vmm/exit.c): EXIT_FAST_DONE, or EXIT_FAST_SLOW for a fault or a GPR the
 * fast frame does not hold. */
int dr_fast(struct guest_regs *r);
/* vmm/desc.c: SGDT, SIDT, LGDT or LIDT as the VM-exit instruction information info describes, its
 * memory operand through operand_access_ex; 0 done (RIP is the caller's), 1 when it faults: with
 * inject the fault is queued, without it nothing is changed (the fast path's test). */
int desc_gdtr_idtr_emulate(struct vcpu *v, struct guest_regs *r, uint32_t info, uint64_t qualification,
			   int inject);
/* vmm/exception.c: an exception exit reflected as the CPU would deliver it (same vector, type,
 * error code; CR2 for #PF; the instruction length for INT3/INTO/INT1); 1 for a type it does not
 * reflect. exception_fast: the fast path's share, EXIT_FAST_EVENT or EXIT_FAST_SLOW. */
int exception_reflect(struct vcpu *v, uint32_t info);
int exception_fast(struct vcpu *v);

/* vmm/msr.c: RDMSR and WRMSR as the guest sees them (the MSRs keel virtualizes, and under
 * trap=msr every other one executed for the guest); 1 when the instruction raises #GP(0). */
int msr_read_emulate(struct vcpu *v, uint32_t msr, uint64_t *val);
int msr_write_emulate(struct vcpu *v, uint32_t msr, uint64_t val);
/* WRMSR of IA32_MISC_ENABLE (XD disable kept), inline for the fast path: the MSR exists on every
 * CPU with VMX (SDM Vol. 4 table 2-2), so only the write can fault. */
static inline int msr_misc_enable_emulate(uint64_t val)
{
	return safe_wrmsr(MSR_IA32_MISC_ENABLE, msr_misc_enable_write(rdmsr(MSR_IA32_MISC_ENABLE), val)); /* 0 or 1 */
}

/* vmm/msr_guest.c, for those: the MSRs the VMCS holds. Returns 1 for such an MSR (read into *val;
 * written unless *fault is set), or 0 for any other MSR. */
int msr_guest_state_read(uint32_t msr, uint64_t *val);
int msr_guest_state_write(uint32_t msr, uint64_t val, int *fault);

#endif
