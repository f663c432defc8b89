/* The exit handlers the table in vmm/exit.c names, one file per instruction class. Each follows the
 * handler contract written above that table. VMX root, interrupts off. */
#ifndef KEEL_VMM_HANDLERS_H
#define KEEL_VMM_HANDLERS_H

#include "exit.h"

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

#endif
