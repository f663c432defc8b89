/* Port I/O exits: keel's trapped debug port, performed for the guest with the instruction's width
 * and, for INS/OUTS, its string semantics through guest memory. VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../mm/phys.h"
#include "handlers.h"
#include "io.h"
#include "vmcs.h"

#define IO_REP_BATCH 4096

/* One element of 1, 2 or 4 bytes: constant-size copies, which the compiler makes moves. */
static inline void elem_move(void *dst, const void *src, unsigned size)
{
	if (size == 1)
		__builtin_memcpy(dst, src, 1);
	else if (size == 2)
		__builtin_memcpy(dst, src, 2);
	else
		__builtin_memcpy(dst, src, 4);
}

/*
 * INS/OUTS: one element per RCX through guest memory, as the CPU moves them. Address size from the
 * instruction information (SDM table 27-8, bits 9:7), segment base outside 64-bit mode (INS always
 * uses ES; OUTS DS, overrides aside). At most IO_REP_BATCH elements per exit: a REP with a huge
 * count then resumes where it left off, as an interrupted REP does, instead of holding the CPU in
 * root. rcx and ridx point at the guest's RCX and RSI (OUTS) or RDI (INS), wherever the exit saved
 * them. Returns IO_STRING_DONE, IO_STRING_MORE (RIP stays) or IO_STRING_FAULT: injected with
 * inject, else nothing done for the faulting element (elements before it are done, with RCX and
 * the index register advanced past them, as when the CPU faults in the middle of a REP).
 *
 * The elements go in runs: one walk (vcpu_guest_page) for the first element of a run, then every
 * following element that lies wholly in the same page, before the index wraps, moved by keel's own
 * REP OUTS / REP INS through that page with no fault possible; RCX and the index advance once per
 * run. An element that crosses a page,
 * or a page keel holds part of, goes alone through vcpu_copy_guest.
 */
int io_string(struct vcpu *v, uint64_t q, uint64_t *rcx, uint64_t *ridx, int inject)
{
	unsigned size = IOQ_SIZE(q), port = IOQ_PORT(q);
	uint32_t info = vmcs_read32(VMCS_EXIT_INSTR_INFO);
	unsigned asz = (info >> 7) & 7;
	uint64_t amask = asz == 0 ? 0xFFFF : asz == 1 ? 0xFFFFFFFF : ~0ULL;
	int in = IOQ_IN(q), down = !!(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_DF);
	int lm = (guest_efer() & EFER_LMA) && (vmcs_read32(VMCS_GUEST_CS_AR) & AR_L);
	uint64_t seg = lm ? 0 : in ? vmcs_readnat(VMCS_GUEST_ES_BASE) : vmcs_readnat(VMCS_GUEST_DS_BASE);
	uint64_t count = IOQ_REP(q) ? *rcx & amask : 1;
	int64_t step = down ? -(int64_t)size : (int64_t)size;
	uint64_t batch = IO_REP_BATCH;
	while (count) {
		uint32_t val = 0;
		struct guest_fault pf;
		uint8_t *page = 0;
		if (!batch)
			return IO_STRING_MORE;
		if (in)
			val = io_port_in(port, size);
		uint64_t idx = *ridx & amask, addr = seg + idx, off = addr & 0xFFF, n = 0;
		int rc = off <= 4096 - size ? vcpu_guest_page(v, addr, in, &page, &pf) : GUEST_REFUSED;
		if (rc == GUEST_REFUSED) { /* crossing a page, or keel's in part: this element alone */
			page = 0;
			rc = vcpu_copy_guest(v, addr, &val, size, in, &pf);
		}
		if (rc) {
			if (!inject)
				return IO_STRING_FAULT;
			if (rc == GUEST_PAGE_FAULT)
				vcpu_inject_page_fault(v, &pf);
			else
				vcpu_inject_gp(v); /* keel's own memory or beyond its map: refused */
			return IO_STRING_FAULT;
		}
		if (page) {
			/* the run: elements 1..n after this one, bounded by the bytes free past it (up) or
			 * before it (down) in the page and in the index, by RCX and by the batch */
			uint64_t page_room = down ? off : 4096 - size - off;
			uint64_t idx_room = down ? idx : amask - idx >= size - 1 ? amask - idx - (size - 1) : 0;
			n = (page_room < idx_room ? page_room : idx_room) / size;
			if (n > count - 1)
				n = count - 1;
			if (n > batch - 1)
				n = batch - 1;
			if (in) {
				elem_move(page + off, &val, size);
				ins((uint16_t)port, size, page + off + step, n, down);
			} else {
				outs((uint16_t)port, size, page + off, n + 1, down);
			}
		} else if (!in) {
			io_port_out(port, size, val);
		}
		*ridx = (*ridx & ~amask) | ((*ridx + (n + 1) * (uint64_t)step) & amask);
		if (IOQ_REP(q))
			*rcx = (*rcx & ~amask) | ((*rcx - (n + 1)) & amask);
		count -= n + 1;
		batch -= n + 1;
	}
	return IO_STRING_DONE;
}

/*
 * keel traps one port, the 0xE9 debug console (so the guest's debug output and keel's own stay in
 * order, and so benchmarks have an I/O exit to measure), and under trap=io every port; it performs
 * the access for the guest.
 */
void io_exit(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	uint64_t q = e->qualification;
	if (!IOQ_STRING(q))
		io_single(r, q);
	else if (io_string(v, q, &r->gpr[GPR_RCX], &r->gpr[IOQ_IN(q) ? GPR_RDI : GPR_RSI], 1) != IO_STRING_DONE)
		return; /* a fault, or the rest of a long REP on the next exit */
	vcpu_skip_instruction(v);
}
