/* The fake CPU behind arch/x86/cpu_fakes.h, for host programs built with KEEL_HOST_FAKES (the
 * exit-path unit tests and the fuzzer): control registers in memory, port I/O and TLB
 * invalidations handed to the program's hooks. Host only. */
#ifndef KEEL_TESTS_UNIT_CPU_FAKES_H
#define KEEL_TESTS_UNIT_CPU_FAKES_H

#include <stdint.h>

struct cpu_fake_hooks {
	void (*halt)(void);                  /* HLT (vcpu_stop parks the CPU): must not return */
	void (*unexpected)(const char *insn); /* an instruction no exit handler may execute: must not return */
	uint32_t (*port_in)(uint16_t port, unsigned size);
	void (*port_out)(uint16_t port, unsigned size, uint32_t value);
	void (*invalidate)(const char *insn, uint64_t type, uint64_t operand); /* INVEPT, INVVPID */
};

extern struct cpu_fake_hooks cpu_fake_hooks;
extern uint64_t cpu_fake_cr[5]; /* CR0, -, CR2, CR3, CR4 as read and written */
extern unsigned cpu_fake_cr2_writes;
extern uint64_t cpu_fake_dr[8];  /* DR0-DR3, -, -, DR6, - as read and written */
extern uint64_t cpu_fake_cr8;
extern unsigned cpu_fake_wbinvds;
extern uint64_t cpu_fake_pmc;     /* what RDPMC returns */
extern uint32_t cpu_fake_pmc_ecx; /* the ECX of the last RDPMC */
extern uint64_t cpu_fake_inv_gva; /* the address of the last individual-address INVVPID */
#define cpu_fake_dr6 cpu_fake_dr[6] /* DR6 as read and written (read_dr6, write_dr6) */

#endif
