/* trap=desc: LGDT, LIDT, SGDT, SIDT, LLDT, LTR, SLDT and STR under descriptor-table exiting,
 * decoded from the VM-exit instruction information and emulated on the VMCS's guest state. VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "emulate.h"
#include "handlers.h"
#include "operand.h"
#include "trap_emulate.h"
#include "vmcs.h"

enum { DT_SGDT, DT_SIDT, DT_LGDT, DT_LIDT };
enum { DT_SLDT, DT_STR, DT_LLDT, DT_LTR };

#define SYS_TYPE_LDT 2
#define SYS_TYPE_TSS16 1
#define SYS_TYPE_TSS_AVAIL 9
#define SYS_TYPE_BUSY 2 /* the busy bit of a TSS type */

inline __attribute__((always_inline)) int desc_dtr_load(const uint8_t *m, int mode64, int osize32, uint16_t *limit,
							 uint64_t *base)
{
	uint64_t b = 0;
	if (mode64) /* little-endian, as the CPU reads it; constant sizes, so the copies are moves */
		__builtin_memcpy(&b, m + 2, 8);
	else
		__builtin_memcpy(&b, m + 2, 4);
	if (mode64 && !is_canonical(b))
		return 1;
	if (!mode64 && !osize32)
		b &= 0xFFFFFF; /* a 16-bit operand size loads 24 bits of base */
	*limit = (uint16_t)(m[0] | (m[1] << 8));
	*base = b;
	return 0;
}

/* SGDT/SIDT store the full 32-bit base outside 64-bit mode, whatever the operand size. */
inline __attribute__((always_inline)) void desc_dtr_store(uint8_t *m, int mode64, uint16_t limit, uint64_t base)
{
	m[0] = (uint8_t)limit;
	m[1] = (uint8_t)(limit >> 8);
	if (mode64)
		__builtin_memcpy(m + 2, &base, 8);
	else
		__builtin_memcpy(m + 2, &base, 4);
}

int desc_system_load(uint64_t lo, uint64_t hi, int ia32e, int ltr, uint64_t *base, uint32_t *limit, uint32_t *ar)
{
	uint32_t a = (uint32_t)(lo >> 40) & 0xF0FF;
	unsigned type = AR_TYPE(a);
	int type_ok = ltr ? type == SYS_TYPE_TSS_AVAIL || (!ia32e && type == SYS_TYPE_TSS16) : type == SYS_TYPE_LDT;
	if ((a & AR_S) || !type_ok)
		return VEC_GP;
	if (!(a & AR_P))
		return VEC_NP;
	uint64_t b = ((lo >> 16) & 0xFFFFFF) | ((lo >> 32) & 0xFF000000);
	if (ia32e) {
		/* the upper half's type field must be 0 and the base canonical (SDM Vol. 3A 8.2.3) */
		if (((hi >> 40) & 0x1F) || !is_canonical(b | (hi << 32)))
			return VEC_GP;
		b |= hi << 32;
	}
	uint32_t l = (uint32_t)((lo & 0xFFFF) | ((lo >> 32) & 0xF0000));
	if (a & AR_G)
		l = (l << 12) | 0xFFF;
	*base = b;
	*limit = l;
	*ar = ltr ? a | SYS_TYPE_BUSY : a;
	return 0;
}

static int legacy_prefix(uint8_t b)
{
	return b == 0x66 || b == 0x67 || b == 0xF0 || b == 0xF2 || b == 0xF3 || b == 0x2E || b == 0x36 || b == 0x3E ||
	       b == 0x26 || b == 0x64 || b == 0x65;
}

unsigned insn_operand_size(const uint8_t *bytes, unsigned len, int mode64, int cs_d)
{
	int opsize = 0, rexw = 0;
	for (unsigned i = 0; i < len; i++) {
		uint8_t b = bytes[i];
		if (mode64 && (b & 0xF0) == 0x40) {
			rexw = !!(b & 8);
			continue;
		}
		if (!legacy_prefix(b))
			break;
		rexw = 0; /* a REX counts only right before the opcode (SDM Vol. 2A 2.2.1) */
		if (b == 0x66)
			opsize = 1;
	}
	if (rexw)
		return 8;
	return ((mode64 || cs_d) ^ opsize) ? 4 : 2;
}

static uint64_t guest_cr4_view(void)
{
	return cr_guest_view(vmcs_readnat(VMCS_GUEST_CR4), vmcs_readnat(VMCS_CR4_SHADOW), vmcs_readnat(VMCS_CR4_MASK));
}

/* UMIP: SGDT, SIDT, SLDT, STR (and SMSW) at CPL > 0 raise #GP(0) (SDM Vol. 3A 2.5). */
static inline int umip_blocks(void) { return vcpu_cpl() != 0 && (guest_cr4_view() & CR4_UMIP); }

int desc_gdtr_idtr_emulate(struct vcpu *v, struct guest_regs *r, uint32_t info, uint64_t qualification, int inject)
{
	unsigned id = II_IDENTITY(info);
	int mode64 = operand_mode64(), gdt = id == DT_SGDT || id == DT_LGDT;
	unsigned size = desc_dtr_size(mode64);
	uint8_t m[10];

	if (id == DT_SGDT || id == DT_SIDT) {
		if (umip_blocks())
			goto gp;
		if (gdt)
			desc_dtr_store(m, mode64, (uint16_t)vmcs_read32(VMCS_GUEST_GDTR_LIMIT), vmcs_readnat(VMCS_GUEST_GDTR_BASE));
		else
			desc_dtr_store(m, mode64, (uint16_t)vmcs_read32(VMCS_GUEST_IDTR_LIMIT), vmcs_readnat(VMCS_GUEST_IDTR_BASE));
		return operand_access_ex(v, r, info, qualification, m, size, 1, inject, mode64) ? 1 : 0;
	}
	uint16_t limit;
	uint64_t base;
	if (vcpu_cpl() != 0)
		goto gp;
	if (operand_access_ex(v, r, info, qualification, m, size, 0, inject, mode64))
		return 1;
	if (desc_dtr_load(m, mode64, II_OSIZE32(info), &limit, &base))
		goto gp;
	if (gdt) {
		vmcs_writenat(VMCS_GUEST_GDTR_BASE, base);
		vmcs_write32(VMCS_GUEST_GDTR_LIMIT, limit);
	} else {
		vmcs_writenat(VMCS_GUEST_IDTR_BASE, base);
		vmcs_write32(VMCS_GUEST_IDTR_LIMIT, limit);
	}
	return 0;
gp:
	if (inject)
		vcpu_inject_gp(v);
	return 1;
}

void desc_exit_gdtr_idtr(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	if (!desc_gdtr_idtr_emulate(v, r, vmcs_read32(VMCS_EXIT_INSTR_INFO), e->qualification, 1))
		vcpu_skip_instruction(v);
}

/* SLDT/STR: a register destination takes the operand size (16 bits keep the register's upper
 * bits; 32 and 64 zero-extend), a memory one 16 bits. */
static void desc_store_selector(struct vcpu *v, struct guest_regs *r, uint32_t info, uint64_t disp, uint16_t sel)
{
	if (!II_REG_OPERAND(info)) {
		if (operand_access(v, r, info, disp, &sel, 2, 1))
			return;
		vcpu_skip_instruction(v);
		return;
	}
	uint8_t bytes[15];
	unsigned len = vmcs_read32(VMCS_EXIT_INSTR_LEN), size = 4;
	int mode64 = operand_mode64();
	if (len > sizeof(bytes))
		len = sizeof(bytes);
	uint64_t cs = mode64 ? 0 : vmcs_readnat(VMCS_GUEST_CS_BASE);
	struct guest_fault pf;
	/* The CPU has just fetched these bytes, so the fetch cannot fault; if keel cannot read them
	 * it takes the 32-bit form. */
	if (!vcpu_copy_guest(v, cs + vmcs_readnat(VMCS_GUEST_RIP), bytes, len, 0, &pf))
		size = insn_operand_size(bytes, len, mode64, !!(vmcs_read32(VMCS_GUEST_CS_AR) & AR_DB));
	unsigned reg = II_REG1(info);
	uint64_t old = operand_gpr(r, reg);
	operand_set_gpr(r, reg, size == 2 ? (old & ~0xFFFFULL) | sel : sel);
	vcpu_skip_instruction(v);
}

/* LLDT/LTR (SDM Vol. 2A LLDT, LTR): the selector must name a GDT descriptor of the right system
 * type, present; LTR then marks the TSS busy in the GDT, as the CPU's locked write does. */
static void desc_load_selector(struct vcpu *v, unsigned id, uint16_t sel)
{
	int ltr = id == DT_LTR;
	int ia32e = !!(guest_efer() & EFER_LMA);
	uint64_t d[2] = { 0, 0 }, base;
	uint32_t limit, ar, gdt_limit = vmcs_read32(VMCS_GUEST_GDTR_LIMIT);
	uint16_t err = sel & 0xFFFC;

	if ((sel & 0xFFFC) == 0) {
		if (ltr) {
			vcpu_inject_gp(v);
			return;
		}
		/* a null LDT selector leaves LDTR unusable */
		vmcs_write16(VMCS_GUEST_LDTR_SEL, sel);
		vmcs_write32(VMCS_GUEST_LDTR_AR, AR_UNUSABLE);
		vcpu_skip_instruction(v);
		return;
	}
	if ((sel & 4) || (uint32_t)(sel & ~7) + (ia32e ? 15u : 7u) > gdt_limit) {
		vcpu_inject_exception(v, VEC_GP, 1, err);
		return;
	}
	uint64_t la = vmcs_readnat(VMCS_GUEST_GDTR_BASE) + (sel & ~7u);
	if (operand_copy_linear(v, la, d, ia32e ? 16 : 8, 0))
		return;
	int vec = desc_system_load(d[0], d[1], ia32e, ltr, &base, &limit, &ar);
	if (vec) {
		vcpu_inject_exception(v, (unsigned)vec, 1, err);
		return;
	}
	if (ltr) {
		uint8_t type = (uint8_t)(d[0] >> 40) | SYS_TYPE_BUSY;
		if (operand_copy_linear(v, la + 5, &type, 1, 1))
			return;
		vmcs_write16(VMCS_GUEST_TR_SEL, sel);
		vmcs_writenat(VMCS_GUEST_TR_BASE, base);
		vmcs_write32(VMCS_GUEST_TR_LIMIT, limit);
		vmcs_write32(VMCS_GUEST_TR_AR, ar);
	} else {
		vmcs_write16(VMCS_GUEST_LDTR_SEL, sel);
		vmcs_writenat(VMCS_GUEST_LDTR_BASE, base);
		vmcs_write32(VMCS_GUEST_LDTR_LIMIT, limit);
		vmcs_write32(VMCS_GUEST_LDTR_AR, ar);
	}
	vcpu_skip_instruction(v);
}

void desc_exit_ldtr_tr(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	uint32_t info = vmcs_read32(VMCS_EXIT_INSTR_INFO);
	unsigned id = II_IDENTITY(info);

	/* Not recognized in real or virtual-8086 mode: #UD before any exit; raised anyway. */
	if (!(vmcs_readnat(VMCS_GUEST_CR0) & CR0_PE) || (vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_VM)) {
		vcpu_inject_ud(v);
		return;
	}
	if (id == DT_SLDT || id == DT_STR) {
		if (umip_blocks()) {
			vcpu_inject_gp(v);
			return;
		}
		uint16_t sel = id == DT_SLDT ? vmcs_read16(VMCS_GUEST_LDTR_SEL) : vmcs_read16(VMCS_GUEST_TR_SEL);
		desc_store_selector(v, r, info, e->qualification, sel);
		return;
	}
	if (vcpu_cpl() != 0) {
		vcpu_inject_gp(v);
		return;
	}
	uint16_t sel;
	if (II_REG_OPERAND(info))
		sel = (uint16_t)operand_gpr(r, II_REG1(info));
	else if (operand_access(v, r, info, e->qualification, &sel, 2, 0))
		return;
	desc_load_selector(v, id, sel);
}
