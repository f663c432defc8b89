/* Memory operands of trapped instructions (see operand.h): address computation with the segment
 * checks, and access through the guest's page tables. VMX root; operand_linear is pure. */
#include "operand.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "emulate.h"
#include "vmcs.h"

/* Segment type bits in the access rights (SDM Vol. 3A 3.4.5.1): data/code bit 3, then for data
 * expand-down (2) and writable (1), for code readable (1). */
#define SEGT_CODE 8u
#define SEGT_DATA_DOWN 4u
#define SEGT_DATA_WRITE 2u
#define SEGT_CODE_READ 2u

/* The linear address from base + index * 2^scale + displacement (ea, not yet truncated). */
static inline __attribute__((always_inline)) int linear(uint32_t info, uint64_t ea, int mode64, unsigned segno,
							const struct operand_seg *seg, unsigned size, int write,
							uint64_t *la)
{
	unsigned asz = II_ASIZE(info);
	uint64_t amask = asz == 0 ? 0xFFFF : asz == 1 ? 0xFFFFFFFF : ~0ULL;
	int vec = segno == SEG_SS ? VEC_SS : VEC_GP;

	ea &= amask;

	if (mode64) {
		uint64_t a = ea + (segno == SEG_FS || segno == SEG_GS ? seg->base : 0);
		if (!is_canonical(a) || !is_canonical(a + size - 1))
			return vec;
		*la = a;
		return 0;
	}
	uint32_t ar = seg->ar, type = AR_TYPE(ar);
	if (ar & AR_UNUSABLE)
		return vec;
	if (write && ((type & SEGT_CODE) || !(type & SEGT_DATA_WRITE)))
		return vec;
	if (!write && (type & SEGT_CODE) && !(type & SEGT_CODE_READ))
		return vec;
	uint64_t last = ea + size - 1;
	if (!(type & SEGT_CODE) && (type & SEGT_DATA_DOWN)) {
		/* expand-down: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF (B flag) */
		uint64_t top = (ar & AR_DB) ? 0xFFFFFFFF : 0xFFFF;
		if (ea <= seg->limit || last > top)
			return vec;
	} else if (last > seg->limit) {
		return vec;
	}
	*la = (seg->base + ea) & 0xFFFFFFFF;
	return 0;
}

int operand_linear(uint32_t info, uint64_t disp, const uint64_t gpr[16], int mode64, unsigned segno,
		   const struct operand_seg *seg, unsigned size, int write, uint64_t *la)
{
	uint64_t ea = disp;
	if (!II_BASE_INVALID(info))
		ea += gpr[II_BASE(info)];
	if (!II_INDEX_INVALID(info))
		ea += gpr[II_INDEX(info)] << II_SCALE(info);
	return linear(info, ea, mode64, segno, seg, size, write, la);
}

static int copy_linear(struct vcpu *v, uint64_t la, void *buf, unsigned len, int write, int inject)
{
	struct guest_fault pf;
	int rc = vcpu_copy_guest(v, la, buf, len, write, &pf);
	if (rc && !inject)
		return -1;
	if (rc == GUEST_PAGE_FAULT) {
		vcpu_inject_page_fault(v, &pf);
		return -1;
	}
	if (rc) {
		vcpu_inject_gp(v); /* keel's own memory, or beyond its map: refused as io.c does */
		return -1;
	}
	return 0;
}

int operand_copy_linear(struct vcpu *v, uint64_t la, void *buf, unsigned len, int write)
{
	return copy_linear(v, la, buf, len, write, 1);
}

int operand_access_ex(struct vcpu *v, const struct guest_regs *r, uint32_t info, uint64_t disp, void *buf,
		      unsigned size, int write, int inject, int mode64)
{
	uint64_t ea = disp, la;
	unsigned segno = II_SEG(info);
	struct operand_seg seg = { 0, 0, AR_UNUSABLE };

	/* operand_linear's sum, from the base and index registers alone */
	if (!II_BASE_INVALID(info))
		ea += operand_gpr(r, II_BASE(info));
	if (!II_INDEX_INVALID(info))
		ea += operand_gpr(r, II_INDEX(info)) << II_SCALE(info);
	/* in 64-bit mode only FS and GS have a base, and no segment a limit or type to check */
	if (segno <= SEG_GS && (!mode64 || segno == SEG_FS || segno == SEG_GS)) {
		/* selector, limit, access rights and base fields are each 2 apart per segment (ES first) */
		seg.base = vmcs_read_raw(VMCS_GUEST_ES_BASE + 2 * segno);
		seg.limit = (uint32_t)vmcs_read_raw(VMCS_GUEST_ES_LIMIT + 2 * segno);
		seg.ar = (uint32_t)vmcs_read_raw(VMCS_GUEST_ES_AR + 2 * segno);
	}
	int vec = linear(info, ea, mode64, segno, &seg, size, write, &la);
	if (vec) {
		if (inject)
			vcpu_inject_exception(v, (unsigned)vec, 1, 0);
		return -1;
	}
	return copy_linear(v, la, buf, size, write, inject);
}

int operand_access(struct vcpu *v, const struct guest_regs *r, uint32_t info, uint64_t disp, void *buf,
		   unsigned size, int write)
{
	return operand_access_ex(v, r, info, disp, buf, size, write, 1, operand_mode64());
}
