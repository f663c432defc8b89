/* Ring-3 harness: runs one VMCALL at CPL 3 with a private GDT, TSS and page tables, so a case can
 * check what keel (or the bare CPU) does with hypercalls from user mode. UEFI boot services, BSP,
 * inside trap_enter/trap_leave. */
#ifndef SELFTEST_RING3_H
#define SELFTEST_RING3_H

#include <stdint.h>

#include "trap.h"

struct ring3_vmcall {
	uint64_t rax, rbx, rcx;  /* in: the call; out: as VMCALL left them (when it completed) */
	struct fault fault;      /* what ended ring 3: #UD at ring3_vmcall_insn when VMCALL did not
				    complete, else #UD at ring3_ud2_insn (the harness's way back) */
	int completed;           /* VMCALL completed: fault.rip is ring3_ud2_insn */
};

/* Runs VMCALL at CPL 3 with h's RAX/RBX/RCX. Returns NULL, or why it cannot run here (then h is
 * untouched): SMEP/SMAP or 5-level paging on, or the selftest image above 4 GiB. */
const char *ring3_run_vmcall(struct ring3_vmcall *h);

/* The ring-3 code (stubs.asm): VMCALL, then store RAX/RBX/RCX, then UD2. */
extern const char ring3_vmcall_insn[], ring3_ud2_insn[];

#endif
