/* Port I/O exits: keel's trapped debug port, performed for the guest with the instruction's width
 * and, for INS/OUTS, its string semantics through guest memory. VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "handlers.h"
#include "io.h"
#include "vmcs.h"

#define IO_REP_BATCH 4096

/*
 * keel traps one port, the 0xE9 debug console (so the guest's debug output and keel's own stay in
 * order, and so benchmarks have an I/O exit to measure); it performs the access for the guest. String
 * forms move one element per RCX through guest memory, as the CPU would.
 */
void io_exit(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	uint64_t q = e->qualification;
	unsigned size = IOQ_SIZE(q), port = IOQ_PORT(q);

	if (IOQ_STRING(q)) {
		/* Address size from the instruction information (SDM table 27-8, bits 9:7), segment
		 * base outside 64-bit mode (INS always uses ES; OUTS DS, overrides aside). At most
		 * IO_REP_BATCH elements per exit: a REP with a huge count then resumes where it left
		 * off, as an interrupted REP does, instead of holding the CPU in root. */
		uint32_t info = vmcs_read32(VMCS_EXIT_INSTR_INFO);
		unsigned asz = (info >> 7) & 7;
		uint64_t amask = asz == 0 ? 0xFFFF : asz == 1 ? 0xFFFFFFFF : ~0ULL;
		int in = IOQ_IN(q), down = !!(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_DF);
		int lm = (guest_efer() & EFER_LMA) && (vmcs_read32(VMCS_GUEST_CS_AR) & AR_L);
		uint64_t seg = lm ? 0 : in ? vmcs_readnat(VMCS_GUEST_ES_BASE) : vmcs_readnat(VMCS_GUEST_DS_BASE);
		unsigned idx = in ? GPR_RDI : GPR_RSI;
		uint64_t count = IOQ_REP(q) ? r->gpr[GPR_RCX] & amask : 1;
		unsigned batch = 0;
		struct guest_tlb tlb = { 0 };
		for (; count; count--) {
			uint32_t val = 0;
			uint64_t addr = seg + (r->gpr[idx] & amask);
			struct guest_fault pf;
			int rc;
			if (batch++ == IO_REP_BATCH)
				return; /* RIP stays: the rest on the next exit */
			if (in)
				val = io_port_in(port, size);
			rc = vcpu_copy_guest(v, &tlb, addr, &val, size, in, &pf);
			if (rc == GUEST_PAGE_FAULT) {
				vcpu_inject_page_fault(v, &pf);
				return;
			}
			if (rc) {
				vcpu_inject_gp(v); /* keel's own memory or beyond its map: refused */
				return;
			}
			if (!in)
				io_port_out(port, size, val);
			uint64_t next = r->gpr[idx] + (down ? -(uint64_t)size : size);
			r->gpr[idx] = (r->gpr[idx] & ~amask) | (next & amask);
			if (IOQ_REP(q))
				r->gpr[GPR_RCX] = (r->gpr[GPR_RCX] & ~amask) | ((r->gpr[GPR_RCX] - 1) & amask);
		}
	} else {
		io_single(r, q);
	}
	vcpu_skip_instruction(v);
}
