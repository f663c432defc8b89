/* Port I/O performed for the guest: the one-port, non-string form both exit paths share (the
 * string forms are in vmm/io.c). VMX root. */
#ifndef KEEL_VMM_IO_H
#define KEEL_VMM_IO_H

#include "../arch/x86/cpu.h"
#include "../arch/x86/vmx.h"
#include "vcpu.h"

static inline uint32_t io_port_in(unsigned port, unsigned size)
{
	return size == 1 ? inb((uint16_t)port) : size == 2 ? inw((uint16_t)port) : inl((uint16_t)port);
}

static inline void io_port_out(unsigned port, unsigned size, uint32_t val)
{
	if (size == 1)
		outb((uint16_t)port, (uint8_t)val);
	else if (size == 2)
		outw((uint16_t)port, (uint16_t)val);
	else
		outl((uint16_t)port, val);
}

/* IN or OUT of AL/AX/EAX as the qualification describes (SDM Vol. 3C table 28-5): IN merges into
 * RAX as the CPU does (a 32-bit result zero-extends). RIP is the caller's. */
static inline void io_single(struct guest_regs *r, uint64_t q)
{
	unsigned size = IOQ_SIZE(q), port = IOQ_PORT(q);
	uint64_t mask = size == 1 ? 0xFF : size == 2 ? 0xFFFF : 0xFFFFFFFF;
	if (IOQ_IN(q)) {
		r->gpr[GPR_RAX] = (r->gpr[GPR_RAX] & ~mask) | (io_port_in(port, size) & mask);
		if (size == 4)
			r->gpr[GPR_RAX] &= 0xFFFFFFFF;
	} else {
		io_port_out(port, size, (uint32_t)(r->gpr[GPR_RAX] & mask));
	}
}

/* vmm/io.c: the string forms (INS/OUTS), shared by io_exit and the fast path. */
enum { IO_STRING_DONE, IO_STRING_MORE, IO_STRING_FAULT };
struct vcpu;
int io_string(struct vcpu *v, uint64_t q, uint64_t *rcx, uint64_t *ridx, int inject);

#endif
