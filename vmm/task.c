/* Emulates the hardware task switch a 32-bit guest starts (far JMP/CALL to a TSS or task gate,
 * IRET with NT set, an event through a task gate), SDM Vol. 3A 7.3. VMX root, exit reason 9. */
#include "task.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../lib/string.h"
#include "../mm/phys.h"
#include "shadow_exit.h"
#include "vmcs.h"

/*
 * The VMCS guest segment fields of ES, CS, SS, DS, FS, GS, LDTR and TR sit two encodings apart in
 * each group (SDM Vol. 3D appendix B), so an index picks one. These computed encodings bypass the
 * compile-time width check of vmcs_read16 and friends: selectors are 16-bit, limits and access
 * rights 32-bit, bases natural width.
 */
enum { SEG_LDTR = SEG_GS + 1, SEG_TR }; /* after SEG_ES..SEG_GS (arch/x86/vmx.h), in the VMCS order */
#define SEG_SEL(i) (VMCS_GUEST_ES_SEL + 2u * (i))
#define SEG_LIMIT(i) (VMCS_GUEST_ES_LIMIT + 2u * (i))
#define SEG_AR(i) (VMCS_GUEST_ES_AR + 2u * (i))
#define SEG_BASE(i) (VMCS_GUEST_ES_BASE + 2u * (i))

/* Selector: bits 15:3 index, 2 table indicator (LDT), 1:0 RPL (SDM Vol. 3A 3.4.2). */
#define SEL_TI BIT(2)
#define SEL_RPL(s) ((unsigned)(s) & 3)
#define SEL_IS_NULL(s) (((s) & 0xFFFC) == 0)
#define SEL_ERROR(s, ext) (((uint32_t)(s) & 0xFFFC) | (ext)) /* selector error code (SDM 6.13) */

/* Code/data type bits (SDM Vol. 3A 3.4.5.1) */
#define TYPE_CODE 8
#define TYPE_CONFORMING 4 /* code; for data: expand-down */
#define TYPE_EXPAND_DOWN 4
#define TYPE_RW 2 /* code: readable; data: writable */

#define AR_DPL_SHIFT 5
#define AR_V86_DATA 0xF3u /* present, DPL 3, read/write accessed data: every segment in V8086 */

/* Fault-class exceptions (SDM Vol. 3A 6.15 table 6-1), whose delivery sets RF in the saved EFLAGS
 * image (17.3.1.1). #DB is left out: only its instruction-breakpoint form is a fault. */
#define FAULT_VECTORS (BIT(0) | BIT(5) | BIT(6) | BIT(7) | BIT(10) | BIT(11) | BIT(12) | BIT(13) | BIT(14) | \
		       BIT(16) | BIT(17) | BIT(19) | BIT(20) | BIT(21))

static struct task_fault task_fault_make(int vector, uint32_t error) { return (struct task_fault){ vector, error }; }

#define NO_FAULT task_fault_make(TASK_NO_FAULT, 0)

/* ---- pure rules ---- */

/*
 * A descriptor (SDM Vol. 3A 3.4.5 figure 3-8):
 *   63..56 base 31:24 | 55 G | 54 D/B | 53 L | 52 AVL | 51..48 limit 19:16 |
 *   47 P | 46..45 DPL | 44 S | 43..40 type | 39..16 base 23:0 | 15..0 limit 15:0
 */
void task_decode_descriptor(uint64_t raw, struct task_desc *d)
{
	uint32_t limit = (uint32_t)(raw & 0xFFFF) | (uint32_t)((raw >> 32) & 0xF0000);
	d->ar = (uint32_t)(raw >> 40) & 0xF0FF;
	d->limit = (d->ar & AR_G) ? limit << 12 | 0xFFF : limit;
	d->base = (uint32_t)((raw >> 16) & 0xFFFFFF) | (uint32_t)((raw >> 32) & 0xFF000000);
}

struct task_fault task_check_tss(const struct task_desc *d, uint16_t sel, unsigned source, unsigned ext)
{
	uint32_t err = SEL_ERROR(sel, ext);
	int iret = source == TSQ_SOURCE_IRET;
	/* IRET's TSS comes from the back link, and a bad link is #TS; JMP, CALL and task gates answer a
	 * bad or busy descriptor with #GP (SDM Vol. 2 IRET TASK-RETURN, JMP/CALL TASK-STATE-SEGMENT,
	 * INT n TASK-GATE pseudocode). A TSS descriptor lives in the GDT only. */
	struct task_fault bad = task_fault_make(iret ? VEC_TS : VEC_GP, err);
	if (!d || (sel & SEL_TI))
		return bad;
	unsigned type = AR_TYPE(d->ar);
	if ((d->ar & AR_S) || (type & ~(unsigned)(TYPE_CODE | DESC_TYPE_TSS_BUSY_BIT)) != DESC_TYPE_TSS16_AVAIL)
		return bad; /* not one of types 1, 3, 9, 11 */
	/* Busy rules: a task never nests into itself; IRET returns only to a busy (suspended) task. */
	if (!!(type & DESC_TYPE_TSS_BUSY_BIT) != iret)
		return bad;
	if (!(d->ar & AR_P))
		return task_fault_make(VEC_NP, err);
	if (d->limit < ((type & TYPE_CODE) ? TSS32_MIN_LIMIT : TSS16_MIN_LIMIT))
		return task_fault_make(VEC_TS, err);
	return NO_FAULT;
}

struct task_fault task_check_segment(enum task_seg kind, uint16_t sel, const struct task_desc *d, unsigned cpl,
				     unsigned ext)
{
	uint32_t err = SEL_ERROR(sel, ext);
	struct task_fault ts = task_fault_make(VEC_TS, err);

	if (SEL_IS_NULL(sel) && (kind == TASK_SEG_LDT || kind == TASK_SEG_DATA))
		return NO_FAULT; /* a null LDTR or data register is loaded unusable */
	if (!d || SEL_IS_NULL(sel))
		return ts; /* beyond the table, or a null CS/SS */
	unsigned type = AR_TYPE(d->ar), dpl = AR_DPL(d->ar), rpl = SEL_RPL(sel);
	int sys = !(d->ar & AR_S), code = !sys && (type & TYPE_CODE), data = !sys && !(type & TYPE_CODE);
	int present = !!(d->ar & AR_P);

	switch (kind) {
	case TASK_SEG_LDT: /* table 7-1 rows 5 and 10: #TS for a bad or absent LDT */
		if ((sel & SEL_TI) || !sys || type != DESC_TYPE_LDT || !present)
			return ts;
		return NO_FAULT;
	case TASK_SEG_CS: /* rows 6, 11, 12 */
		if (!code)
			return ts;
		if ((type & TYPE_CONFORMING) ? dpl > rpl : dpl != rpl)
			return ts;
		return present ? NO_FAULT : task_fault_make(VEC_NP, err);
	case TASK_SEG_SS: /* rows 7, 8, 9, 13: a writable data segment at exactly the CPL */
		if (!data || !(type & TYPE_RW) || rpl != cpl || dpl != cpl)
			return ts;
		return present ? NO_FAULT : task_fault_make(VEC_SS, err);
	case TASK_SEG_DATA: /* rows 14-17: data or readable code; DPL >= CPL and RPL unless conforming */
		if (!data && !(code && (type & TYPE_RW)))
			return ts;
		if ((data || !(type & TYPE_CONFORMING)) && (dpl < cpl || dpl < rpl))
			return ts;
		return present ? NO_FAULT : task_fault_make(VEC_NP, err);
	}
	return ts;
}

/* ---- the switch ---- */

/* A task's dynamic state as its TSS holds it (both formats). */
struct task_state {
	uint32_t eip, eflags, cr3, gpr[8];
	uint16_t seg[6], ldt, trap;
	int wide; /* 32-bit TSS: also CR3, FS, GS and the T bit */
};

union tss_image {
	struct tss32 w;
	struct tss16 n;
	uint8_t b[sizeof(struct tss32)];
};

/* The part of each TSS format a task switch writes back: EIP (IP) through the last selector. */
#define TSS32_SAVE_FROM offsetof(struct tss32, eip)
#define TSS32_SAVE_TO offsetof(struct tss32, ldt)
#define TSS16_SAVE_FROM offsetof(struct tss16, ip)
#define TSS16_SAVE_TO offsetof(struct tss16, ldt)

struct task_switch {
	struct vcpu *v;
	struct guest_regs *r;
	unsigned source, ext;
	uint16_t sel;       /* the new TSS */
	uint32_t vectoring; /* IDT-vectoring information of a task-gate switch, else 0 */
	int committed;      /* past the point where faults belong to the new task */
	int mem_rc;         /* the last failed guest access (GUEST_PAGE_FAULT, GUEST_REFUSED) */
	struct guest_fault pf;
	uint64_t gdt_base, ldt_base;
	uint32_t gdt_limit, ldt_limit;
	int ldt_usable;
	uint32_t ss_ar; /* written to the VMCS last: it sets the CPL vcpu_copy_guest checks at */
};

/*
 * Guest linear memory for the switch. The GDT, the LDT and both TSSs are implicit supervisor
 * accesses whatever the CPL (SDM Vol. 3A 4.6), while vcpu_copy_guest checks at the CPL it reads
 * from SS.DPL: task_switch_handle runs the switch with SS.DPL 0 and puts the real SS back last.
 */
static int task_copy(struct task_switch *c, uint64_t la, void *buf, size_t len, int write)
{
	int rc = vcpu_copy_guest(c->v, la & 0xFFFFFFFF, buf, len, write, &c->pf);
	if (rc)
		c->mem_rc = rc;
	return rc;
}

/*
 * A fault while the switch delivers an exception is a fault during its delivery (SDM Vol. 3A 6.15
 * table 6-5): after a contributory exception (#DE, #TS, #NP, #SS, #GP) another contributory one,
 * and after #PF a contributory one or #PF, become #DF(0). After #DF itself the CPU would shut
 * down; keel raises the fault as it is (docs/task-switch.md).
 */
#define CONTRIBUTORY_VECTORS (BIT(VEC_DE) | BIT(VEC_TS) | BIT(VEC_NP) | BIT(VEC_SS) | BIT(VEC_GP))

static int task_double_fault(const struct task_switch *c, unsigned vector)
{
	if (!c->vectoring || INTR_INFO_TYPE(c->vectoring) != INTR_TYPE_HW_EXCEPTION)
		return 0;
	unsigned first = INTR_INFO_VECTOR(c->vectoring);
	int first_pf = first == VEC_PF, first_contributory = first < 32 && (CONTRIBUTORY_VECTORS & BIT(first));
	if (vector == VEC_PF)
		return first_pf;
	return vector < 32 && (CONTRIBUTORY_VECTORS & BIT(vector)) && (first_pf || first_contributory);
}

static void task_raise(struct task_switch *c, struct task_fault f)
{
	if (task_double_fault(c, (unsigned)f.vector))
		vcpu_inject_exception(c->v, VEC_DF, 1, 0);
	else
		vcpu_inject_exception(c->v, (unsigned)f.vector, 1, f.error);
}

/* A guest access that failed: the #PF the CPU would raise, or #GP(0) where keel refuses the memory
 * (its own, or beyond its map), as keel's other handlers answer. */
static void task_raise_memory(struct task_switch *c)
{
	if (c->mem_rc != GUEST_PAGE_FAULT)
		task_raise(c, task_fault_make(VEC_GP, 0));
	else if (task_double_fault(c, VEC_PF))
		vcpu_inject_exception(c->v, VEC_DF, 1, 0);
	else
		vcpu_inject_page_fault(c->v, &c->pf);
}

/* Reads the descriptor sel names from the GDT or the current LDT: 0 (with *d, *raw and its linear
 * address *la), 1 when sel lies beyond its table, -1 when the memory access failed. */
static int task_read_desc(struct task_switch *c, uint16_t sel, struct task_desc *d, uint64_t *raw, uint64_t *la)
{
	uint64_t base = c->gdt_base;
	uint32_t limit = c->gdt_limit;
	if (sel & SEL_TI) {
		if (!c->ldt_usable)
			return 1;
		base = c->ldt_base;
		limit = c->ldt_limit;
	}
	if ((uint32_t)(sel | 7) > limit)
		return 1;
	*la = base + (sel & ~7u);
	if (task_copy(c, *la, raw, 8, 0))
		return -1;
	task_decode_descriptor(*raw, d);
	return 0;
}

/* The accessed bit the CPU sets in a descriptor it loads (SDM Vol. 3A 3.4.5.1). */
static int task_set_accessed(struct task_switch *c, uint64_t la, uint64_t raw)
{
	uint8_t access = (uint8_t)(raw >> 40);
	if (access & AR_TYPE_ACCESSED)
		return 0;
	access |= AR_TYPE_ACCESSED;
	return task_copy(c, la + 5, &access, 1, 1);
}

/* Sets or clears the busy bit of the TSS descriptor sel names in the GDT. */
static int task_write_busy(struct task_switch *c, uint16_t sel, int busy)
{
	uint8_t access;
	uint64_t la = c->gdt_base + (sel & ~7u) + 5;
	if ((sel & SEL_TI) || (uint32_t)(sel | 7) > c->gdt_limit)
		return 0; /* no descriptor to mark (a TR the guest never loaded from this GDT) */
	if (task_copy(c, la, &access, 1, 0))
		return -1;
	access = busy ? access | DESC_TYPE_TSS_BUSY_BIT : access & ~DESC_TYPE_TSS_BUSY_BIT;
	return task_copy(c, la, &access, 1, 1);
}

/* The switch completes a CALL, JMP, IRET, INT n, INT3, INTO or INT1: the old task resumes after
 * it. Hardware exceptions and interrupts resume at the RIP the exit saved (SDM Vol. 3C 27.2: the
 * VM-exit instruction-length field is valid for a task switch exactly in the first group). */
static int task_completes_instruction(const struct task_switch *c)
{
	if (c->source != TSQ_SOURCE_TASK_GATE)
		return 1;
	unsigned type = INTR_INFO_TYPE(c->vectoring);
	return c->vectoring &&
	       (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION || type == INTR_TYPE_SW_EXCEPTION);
}

/* The outgoing task's state as the switch saves it (SDM Vol. 3A 7.3 steps 6-7). */
static void task_state_current(const struct task_switch *c, struct task_state *s)
{
	uint64_t rip = vmcs_readnat(VMCS_GUEST_RIP);
	uint32_t flags = (uint32_t)vmcs_readnat(VMCS_GUEST_RFLAGS);
	if (task_completes_instruction(c)) {
		rip += vmcs_read32(VMCS_EXIT_INSTR_LEN);
		flags &= ~(uint32_t)RFLAGS_RF; /* RF clears once an instruction completes */
	} else if (INTR_INFO_TYPE(c->vectoring) == INTR_TYPE_HW_EXCEPTION && INTR_INFO_VECTOR(c->vectoring) < 32 &&
		   (FAULT_VECTORS & BIT(INTR_INFO_VECTOR(c->vectoring)))) {
		flags |= RFLAGS_RF; /* a fault restarts its instruction without re-arming breakpoints */
	}
	if (c->source == TSQ_SOURCE_IRET)
		flags &= ~(uint32_t)RFLAGS_NT; /* the returning task leaves its nesting (step 6) */
	s->eip = (uint32_t)rip;
	s->eflags = flags;
	for (unsigned i = 0; i < 8; i++)
		s->gpr[i] = (uint32_t)c->r->gpr[i];
	s->gpr[GPR_RSP] = (uint32_t)vmcs_readnat(VMCS_GUEST_RSP);
	for (unsigned i = 0; i < 6; i++)
		s->seg[i] = (uint16_t)vmcs_read_raw(SEG_SEL(i));
}

static void task_pack(union tss_image *t, const struct task_state *s)
{
	if (s->wide) {
		t->w.eip = s->eip;
		t->w.eflags = s->eflags;
		memcpy(t->w.gpr, s->gpr, sizeof(t->w.gpr));
		for (unsigned i = 0; i < 6; i++)
			t->w.seg[i].sel = s->seg[i];
		return;
	}
	t->n.ip = (uint16_t)s->eip;
	t->n.flags = (uint16_t)s->eflags;
	for (unsigned i = 0; i < 8; i++)
		t->n.gpr[i] = (uint16_t)s->gpr[i];
	for (unsigned i = 0; i < 4; i++)
		t->n.seg[i] = s->seg[i];
}

static void task_unpack(const union tss_image *t, int wide, struct task_state *s)
{
	s->wide = wide;
	if (wide) {
		s->eip = t->w.eip;
		s->eflags = t->w.eflags;
		s->cr3 = t->w.cr3;
		memcpy(s->gpr, t->w.gpr, sizeof(s->gpr));
		for (unsigned i = 0; i < 6; i++)
			s->seg[i] = t->w.seg[i].sel;
		s->ldt = t->w.ldt;
		s->trap = t->w.trap & 1;
		return;
	}
	s->eip = t->n.ip;
	s->eflags = t->n.flags;
	for (unsigned i = 0; i < 8; i++)
		s->gpr[i] = t->n.gpr[i];
	for (unsigned i = 0; i < 4; i++)
		s->seg[i] = t->n.seg[i];
	s->ldt = t->n.ldt;
}

/* Writes the outgoing task's state into its TSS (TR as the VMCS holds it): only the dynamic
 * fields, EIP through the GS slot, are stored (SDM Vol. 3A 7.2.1). */
static int task_save_old(struct task_switch *c)
{
	union tss_image t;
	struct task_state s = { .wide = !!(AR_TYPE(vmcs_read32(VMCS_GUEST_TR_AR)) & TYPE_CODE) };
	size_t from = s.wide ? TSS32_SAVE_FROM : TSS16_SAVE_FROM, to = s.wide ? TSS32_SAVE_TO : TSS16_SAVE_TO;
	uint64_t base = vmcs_readnat(VMCS_GUEST_TR_BASE);

	task_state_current(c, &s);
	if (task_copy(c, base + from, t.b + from, to - from, 0)) /* keeps the reserved halves */
		return -1;
	task_pack(&t, &s);
	return task_copy(c, base + from, t.b + from, to - from, 1);
}

/*
 * PAE paging outside IA-32e mode takes its four PDPTEs from CR3 when CR3 is loaded, and with EPT
 * VM entry loads them from the VMCS (SDM Vol. 3A 4.4.1, Vol. 3C 26.3.2.4): keel loads them as MOV
 * to CR3 would, #GP(0) for a reserved bit in a present entry (bits 2:1, 8:5, above MAXPHYADDR).
 */
static int task_load_pdptes(struct task_switch *c, uint32_t cr3, uint64_t pdpte[4])
{
	const struct ept *e = &c->v->vm->ept;
	unsigned bits = c->v->vm->caps.max_phys_bits;
	uint64_t pa = cr3 & 0xFFFFFFE0, reserved = 0x1E6;
	if (bits && bits < 64)
		reserved |= ~0ULL << bits;
	if (pa + 32 > e->map_top || ept_is_hidden(e, pa)) /* 32 aligned bytes: one page */
		return -1;
	memcpy(pdpte, phys_ptr(pa), 32);
	for (unsigned i = 0; i < 4; i++)
		if ((pdpte[i] & 1) && (pdpte[i] & reserved))
			return -1;
	return 0;
}

static void task_write_seg(struct task_switch *c, unsigned i, uint32_t base, uint32_t limit, uint32_t ar)
{
	vmcs_write_raw(SEG_BASE(i), base);
	vmcs_write_raw(SEG_LIMIT(i), limit);
	if (i == SEG_SS)
		c->ss_ar = ar;
	else
		vmcs_write_raw(SEG_AR(i), ar);
}

/* A register the switch could not load after the commit point keeps its new selector but no
 * descriptor: unusable (SDM Vol. 3C 24.4.1). CS cannot be unusable for VM entry: it keeps its old
 * descriptor at the new CPL until the fault's handler loads another. */
static void task_mark_unloaded(struct task_switch *c, unsigned i, unsigned cpl)
{
	if (i == SEG_CS) {
		uint32_t ar = vmcs_read32(VMCS_GUEST_CS_AR) & ~(3u << AR_DPL_SHIFT);
		vmcs_write32(VMCS_GUEST_CS_AR, ar | cpl << AR_DPL_SHIFT);
		return;
	}
	task_write_seg(c, i, 0, 0, AR_UNUSABLE | (i == SEG_SS ? cpl << AR_DPL_SHIFT : 0));
	if (i == SEG_LDTR)
		c->ldt_usable = 0;
}

/*
 * Loads LDTR, CS, SS, DS, ES, FS, GS of the new task with their descriptor checks (SDM Vol. 3A
 * 7.3 step 12; the selectors are in place first, so a handler of a failure sees them all). A
 * 16-bit TSS has no FS or GS: those stay as they were. Returns 0, 1 with *f, or -1 (memory).
 */
static int task_load_segments(struct task_switch *c, const struct task_state *s, unsigned cpl, struct task_fault *f)
{
	static const unsigned order[] = { SEG_LDTR, SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS };
	unsigned n = s->wide ? 7 : 5, k;
	int v86 = !!(s->eflags & RFLAGS_VM), rc = 0;

	vmcs_write16(VMCS_GUEST_LDTR_SEL, s->ldt);
	for (unsigned i = 0; i < (s->wide ? 6u : 4u); i++)
		vmcs_write_raw(SEG_SEL(i), s->seg[i]);
	for (k = 0; k < n; k++) {
		unsigned i = order[k];
		uint16_t sel = i == SEG_LDTR ? s->ldt : s->seg[i];
		enum task_seg kind = i == SEG_LDTR ? TASK_SEG_LDT : i == SEG_CS ? TASK_SEG_CS
							: i == SEG_SS ? TASK_SEG_SS : TASK_SEG_DATA;
		struct task_desc d;
		uint64_t raw = 0, la = 0;

		if (v86 && i != SEG_LDTR) { /* as VM entry wants them (SDM Vol. 3C 26.3.1.2) */
			task_write_seg(c, i, (uint32_t)sel << 4, 0xFFFF, AR_V86_DATA);
			continue;
		}
		if (SEL_IS_NULL(sel) && kind != TASK_SEG_CS && kind != TASK_SEG_SS) {
			task_mark_unloaded(c, i, cpl);
			continue;
		}
		int found = SEL_IS_NULL(sel) ? 1 : task_read_desc(c, sel, &d, &raw, &la);
		if (found < 0) {
			rc = -1;
			break;
		}
		*f = task_check_segment(kind, sel, found ? 0 : &d, cpl, c->ext);
		if (f->vector != TASK_NO_FAULT) {
			rc = 1;
			break;
		}
		if (kind != TASK_SEG_LDT && task_set_accessed(c, la, raw)) {
			rc = -1;
			break;
		}
		task_write_seg(c, i, d.base, d.limit, kind == TASK_SEG_LDT ? d.ar : d.ar | AR_TYPE_ACCESSED);
		if (i == SEG_LDTR) {
			c->ldt_base = d.base;
			c->ldt_limit = d.limit;
			c->ldt_usable = 1;
		}
	}
	for (; k < n; k++)
		task_mark_unloaded(c, order[k], cpl);
	return rc;
}

/* Pushes the error code of an exception delivered through a task gate onto the new task's stack,
 * a word for a 16-bit TSS (SDM Vol. 3A 7.3 and 6.13), with the stack-limit check #SS(EXT). */
static int task_push_error(struct task_switch *c, int wide, struct task_fault *f)
{
	uint32_t code = vmcs_read32(VMCS_IDT_VECTORING_ERROR), size = wide ? 4 : 2;
	uint32_t ar = c->ss_ar, limit = vmcs_read32(VMCS_GUEST_SS_LIMIT);
	uint32_t top = (ar & AR_DB) ? 0xFFFFFFFF : 0xFFFF;
	uint64_t rsp = vmcs_readnat(VMCS_GUEST_RSP);
	uint32_t sp = ((uint32_t)rsp - size) & top;
	int fits = (ar & AR_S) && !(ar & AR_UNUSABLE) &&
		   ((AR_TYPE(ar) & TYPE_EXPAND_DOWN) ? sp > limit && top - sp >= size - 1
						     : sp <= limit && limit - sp >= size - 1);
	if (!fits) {
		*f = task_fault_make(VEC_SS, c->ext);
		return 1;
	}
	if (task_copy(c, vmcs_readnat(VMCS_GUEST_SS_BASE) + sp, &code, size, 1))
		return -1;
	vmcs_writenat(VMCS_GUEST_RSP, (rsp & ~(uint64_t)top) | sp);
	return 0;
}

/* After the commit point: the new task's registers, then its segments, the error code and the
 * EIP check; a fault from here on is raised in the new task (SDM Vol. 3A 7.3 step 11). */
static void task_enter_new(struct task_switch *c, const struct task_desc *nd, const struct task_state *s,
			   const uint64_t *pdpte)
{
	struct vcpu *v = c->v;
	struct task_fault f = NO_FAULT;
	uint64_t cr0 = vmcs_readnat(VMCS_GUEST_CR0);

	c->committed = 1;
	vmcs_write16(VMCS_GUEST_TR_SEL, c->sel);
	vmcs_writenat(VMCS_GUEST_TR_BASE, nd->base);
	vmcs_write32(VMCS_GUEST_TR_LIMIT, nd->limit);
	vmcs_write32(VMCS_GUEST_TR_AR, nd->ar | DESC_TYPE_TSS_BUSY_BIT);
	/* CR0.TS on every switch (SDM Vol. 3A 2.5): the new task's first x87/SSE use faults #NM. */
	vmcs_writenat(VMCS_GUEST_CR0, cr0 | CR0_TS);
	if (vmcs_readnat(VMCS_CR0_MASK) & CR0_TS)
		vmcs_writenat(VMCS_CR0_SHADOW, vmcs_readnat(VMCS_CR0_SHADOW) | CR0_TS);
	vmcs_writenat(VMCS_GUEST_DR7, vmcs_readnat(VMCS_GUEST_DR7) & ~DR7_LOCAL_ENABLES);
	if (s->wide && (cr0 & CR0_PG)) {
		if (v->shadow) /* the real CR3 is keel's shadow root (vmm/shadow_exit.c) */
			shadow_task_cr3(v, s->cr3, pdpte);
		else
			vmcs_writenat(VMCS_GUEST_CR3, s->cr3);
		if (pdpte && !v->shadow)
			for (unsigned i = 0; i < 4; i++)
				vmcs_write_raw(VMCS_GUEST_PDPTE0 + 2 * i, pdpte[i]); /* 64-bit fields, 2 apart */
		if (v->vpid) /* the old task's non-global translations go, as with MOV to CR3 */
			invvpid(INVVPID_SINGLE_CONTEXT, v->vpid);
	}
	for (unsigned i = 0; i < 8; i++) {
		/* A 16-bit TSS holds only the low words; keel leaves the high words as they were. */
		uint32_t keep = s->wide ? 0 : 0xFFFF0000;
		uint32_t old = i == GPR_RSP ? (uint32_t)vmcs_readnat(VMCS_GUEST_RSP) : (uint32_t)c->r->gpr[i];
		uint32_t val = (old & keep) | s->gpr[i];
		if (i == GPR_RSP)
			vmcs_writenat(VMCS_GUEST_RSP, val);
		else
			c->r->gpr[i] = val;
	}
	vmcs_writenat(VMCS_GUEST_RIP, s->eip);

	unsigned cpl = (s->eflags & RFLAGS_VM) ? 3 : SEL_RPL(s->seg[SEG_CS]);
	int rc = task_load_segments(c, s, cpl, &f);
	/* Only now the new CPL and AC: every descriptor access above was a supervisor one. */
	vmcs_write32(VMCS_GUEST_SS_AR, c->ss_ar);
	vmcs_writenat(VMCS_GUEST_RFLAGS, (s->eflags & RFLAGS_DEFINED) | RFLAGS_FIXED1);

	uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY) & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS);
	if (c->source == TSQ_SOURCE_IRET)
		intr &= ~INTERRUPTIBILITY_NMI; /* IRET unblocks NMIs, task return or not */
	if (c->vectoring && INTR_INFO_TYPE(c->vectoring) == INTR_TYPE_NMI)
		intr |= INTERRUPTIBILITY_NMI; /* the NMI is now delivered: NMIs are blocked (SDM 6.7.1) */
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, intr);

	if (!rc && (c->vectoring & INTR_INFO_DELIVER_CODE))
		rc = task_push_error(c, s->wide, &f);
	if (!rc && s->eip > vmcs_read32(VMCS_GUEST_CS_LIMIT)) {
		f = task_fault_make(VEC_GP, c->ext);
		rc = 1;
	}
	if (rc < 0) {
		task_raise_memory(c);
	} else if (rc) {
		task_raise(c, f);
	} else if (s->trap) {
		/* The T bit: #DB with DR6.BT before the new task's first instruction (SDM Vol. 3A 17.3.1.5).
		 * The pending-debug-exceptions field has no BT bit, and an injected #DB leaves DR6 alone,
		 * so keel sets DR6 (not switched by VM exits) itself. */
		write_dr6(read_dr6() | DR6_BT);
		vcpu_inject_exception(v, VEC_DB, 0, 0);
	}
}

static void task_switch_run(struct task_switch *c)
{
	struct task_desc nd;
	struct task_state s = { 0 };
	union tss_image t;
	uint64_t raw, la, pdpte[4];

	/* 1. The new TSS descriptor. The CPU checked it before exiting (SDM Vol. 3C 26.4.2 steps
	 * 1-4); another vCPU may have changed the GDT since, so keel checks it again. */
	int found = (c->sel & SEL_TI) ? 1 : task_read_desc(c, c->sel, &nd, &raw, &la);
	if (found < 0) {
		task_raise_memory(c);
		return;
	}
	struct task_fault f = task_check_tss(found ? 0 : &nd, c->sel, c->source, c->ext);
	if (f.vector != TASK_NO_FAULT) {
		task_raise(c, f);
		return;
	}
	/* 2. The incoming TSS read first, so that a page fault leaves the old task as it was (the
	 * CPU checks both TSSs are mapped before it saves anything, SDM Vol. 3A 7.3 step 4); then the
	 * outgoing task's state into its TSS, and the incoming one read again if the two overlap. */
	int wide = !!(AR_TYPE(nd.ar) & TYPE_CODE);
	size_t size = wide ? sizeof(struct tss32) : sizeof(struct tss16);
	uint64_t old_base = vmcs_readnat(VMCS_GUEST_TR_BASE);
	if (task_copy(c, nd.base, t.b, size, 0) || task_save_old(c) ||
	    (nd.base < old_base + sizeof(struct tss32) && old_base < nd.base + size &&
	     task_copy(c, nd.base, t.b, size, 0))) {
		task_raise_memory(c);
		return;
	}
	task_unpack(&t, wide, &s);
	uint64_t cr4 = vmcs_readnat(VMCS_GUEST_CR4), cr0 = vmcs_readnat(VMCS_GUEST_CR0);
	int pae = wide && (cr0 & CR0_PG) && (cr4 & CR4_PAE);
	if (pae && task_load_pdptes(c, s.cr3, pdpte)) {
		task_raise(c, task_fault_make(VEC_GP, 0));
		return;
	}
	/* 3. Busy bits and the back link (SDM Vol. 3A 7.3 steps 5, 8, 9; 7.4): JMP and IRET leave the
	 * old task; CALL and task gates nest the new one under it. */
	uint16_t old_tr = vmcs_read16(VMCS_GUEST_TR_SEL);
	int nest = c->source == TSQ_SOURCE_CALL || c->source == TSQ_SOURCE_TASK_GATE;
	if ((c->source == TSQ_SOURCE_JMP || c->source == TSQ_SOURCE_IRET) && task_write_busy(c, old_tr, 0)) {
		task_raise_memory(c);
		return;
	}
	if (nest) {
		s.eflags |= RFLAGS_NT;
		if (task_copy(c, nd.base, &old_tr, sizeof(old_tr), 1)) {
			task_raise_memory(c);
			return;
		}
	}
	if (c->source != TSQ_SOURCE_IRET && task_write_busy(c, c->sel, 1)) {
		task_raise_memory(c);
		return;
	}
	task_enter_new(c, &nd, &s, pae ? pdpte : 0);
}

void task_switch_handle(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	struct task_switch c = {
		.v = v,
		.r = r,
		.sel = TSQ_SELECTOR(e->qualification),
		.source = TSQ_SOURCE(e->qualification),
		.gdt_base = vmcs_readnat(VMCS_GUEST_GDTR_BASE),
		.gdt_limit = vmcs_read32(VMCS_GUEST_GDTR_LIMIT),
	};
	if (c.source == TSQ_SOURCE_TASK_GATE) {
		uint32_t info = vmcs_read32(VMCS_IDT_VECTORING_INFO);
		if (info & INTR_INFO_VALID) {
			unsigned type = INTR_INFO_TYPE(info);
			c.vectoring = info;
			/* An event the guest raised itself (INT n, INT3, INTO) has EXT 0 (SDM 6.13). */
			c.ext = type != INTR_TYPE_SW_INTR && type != INTR_TYPE_SW_EXCEPTION;
			/* The dispatcher queued this event again; keel completes its delivery instead. */
			vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
		}
	}
	/* In IA-32e mode the CPU raises #GP before any task-switch exit (SDM Vol. 3C 26.4.2). */
	if (guest_efer() & EFER_LMA) {
		vcpu_inject_gp(v);
		return;
	}
	uint32_t ss_ar = vmcs_read32(VMCS_GUEST_SS_AR);
	vmcs_write32(VMCS_GUEST_SS_AR, ss_ar & ~(3u << AR_DPL_SHIFT)); /* see task_copy */
	task_switch_run(&c);
	if (!c.committed)
		vmcs_write32(VMCS_GUEST_SS_AR, ss_ar);
}
