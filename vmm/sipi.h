/* INIT and SIPI as keel forwards them: the sender's trapped ICR writes, the target's pending SIPI
 * (vmm/sipi.c). VMX root; sipi_decode_apic_store and sipi_icr_targets are pure. */
#ifndef KEEL_VMM_SIPI_H
#define KEEL_VMM_SIPI_H

#include <stdint.h>

#include "vcpu.h"

/* A decoded 32-bit store to the APIC page. */
struct apic_store {
	unsigned len; /* instruction bytes */
	int src;      /* source GPR (0 RAX ... 15 R15), or -1 for the immediate */
	uint32_t imm;
	int xchg;     /* XCHG: src receives the register's old value */
};
int sipi_decode_apic_store(const uint8_t *b, unsigned n, int mode64, struct apic_store *out);

/* Write-protects the xAPIC page in EPT when there are APs to start (setup, on the BSP). */
void sipi_trap_apic_page(struct vm *vm);
/* An EPT violation at gpa on vm->apic_page (vmm/ept_fault.c). */
void sipi_exit_apic_write(struct vcpu *v, struct guest_regs *r, uint64_t gpa);
/* The guest's write of ICR low lo with destination dest (ICR high's, or the x2APIC one). */
void sipi_icr_write(struct vcpu *v, uint32_t lo, uint32_t dest, int x2apic);
/* The vCPUs other than self an INIT or SIPI with this ICR reaches (physical or shorthand). */
unsigned sipi_icr_targets(const struct vm *vm, const struct vcpu *self, uint32_t lo, uint32_t dest, int x2apic,
			  struct vcpu **out, unsigned max);
/* An INIT sent to t / a SIPI with vector sent to t: what t's INIT handler looks at. */
void sipi_note_init(struct vcpu *t);
void sipi_note_pending(struct vcpu *t, unsigned vector);

#endif
