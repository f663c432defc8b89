/* INIT and SIPI under keel: an INIT parks the vCPU in wait-for-SIPI, a SIPI starts it in real mode
 * at the vector's page, as a real AP would (SDM Vol. 3A 9.1.1, 10.4.7.3). VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/ept.h"
#include "../arch/x86/msr.h"
#include "emulate.h"
#include "../lib/log.h"
#include "events.h"
#include "handlers.h"
#include "operand.h"
#include "rip.h"
#include "shadow_exit.h"
#include "sipi.h"
#include "vmcs.h"

void vcpu_reset_to_wait_for_sipi(struct vcpu *v)
{
	/* mmu=shadow with unpaged phases on the EPT: the INIT state (real mode, CR0.PG = 0) now, so
	 * the vCPU waits on the EPT as the phase rule says (vmm/shadow_exit.c). Under mmu=ept the
	 * old state stays until the SIPI replaces it. */
	if (v->vm->unpaged_ept)
		vcpu_start_at_sipi_vector(v, 0);
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_WAIT_SIPI);
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vmcs_write32(VMCS_ENTRY_INTR_INFO, 0);
}

#define REAL_MODE_SEG(S, sel, base, ar)                                                            \
	do {                                                                                       \
		vmcs_write16(VMCS_GUEST_##S##_SEL, sel);                                           \
		vmcs_writenat(VMCS_GUEST_##S##_BASE, base);                                        \
		vmcs_write32(VMCS_GUEST_##S##_LIMIT, 0xFFFF);                                      \
		vmcs_write32(VMCS_GUEST_##S##_AR, ar);                                             \
	} while (0)

void vcpu_start_at_sipi_vector(struct vcpu *v, unsigned vector)
{
	/* Power-up state except CS:IP = vector:0000 (SDM table 9-1). */
	uint64_t cr0 = CR0_ET | CR0_CD | CR0_NW;
	vmcs_writenat(VMCS_CR0_SHADOW, cr0);
	vmcs_writenat(VMCS_GUEST_CR0, (cr0 | (v->cr0_fixed0 & ~(CR0_PE | CR0_PG))) & v->cr0_fixed1);
	vmcs_writenat(VMCS_CR4_SHADOW, 0);
	vmcs_writenat(VMCS_GUEST_CR4, v->cr4_fixed0 | CR4_VMXE);
	vmcs_writenat(VMCS_GUEST_CR3, 0);
	guest_set_efer(0);
	vmcs_write32(VMCS_ENTRY_CONTROLS, vmcs_read32(VMCS_ENTRY_CONTROLS) & ~ENTRY_IA32E_MODE_GUEST);
	REAL_MODE_SEG(CS, (uint16_t)(vector << 8), (uint64_t)vector << 12, 0x9B);
	REAL_MODE_SEG(SS, 0, 0, 0x93);
	REAL_MODE_SEG(DS, 0, 0, 0x93);
	REAL_MODE_SEG(ES, 0, 0, 0x93);
	REAL_MODE_SEG(FS, 0, 0, 0x93);
	REAL_MODE_SEG(GS, 0, 0, 0x93);
	REAL_MODE_SEG(TR, 0, 0, 0x8B);
	REAL_MODE_SEG(LDTR, 0, 0, 0x82);
	vmcs_writenat(VMCS_GUEST_GDTR_BASE, 0);
	vmcs_write32(VMCS_GUEST_GDTR_LIMIT, 0xFFFF);
	vmcs_writenat(VMCS_GUEST_IDTR_BASE, 0);
	vmcs_write32(VMCS_GUEST_IDTR_LIMIT, 0xFFFF);
	vmcs_writenat(VMCS_GUEST_RIP, 0);
	vmcs_writenat(VMCS_GUEST_RSP, 0);
	vmcs_writenat(VMCS_GUEST_RFLAGS, RFLAGS_FIXED1);
	vmcs_writenat(VMCS_GUEST_DR7, 0x400);
	vmcs_write64(VMCS_GUEST_DEBUGCTL, 0);
	vmcs_writenat(VMCS_GUEST_PENDING_DBG, 0);
	vmcs_write32(VMCS_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
	/* A fresh CPU blocks nothing (SDM 24.4.2: SMI blocking outside SMM fails entry). */
	vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, 0);
	vcpu_flush_vpid(v);
	if (v->vm->unpaged_ept) {
		v->guest_cr3 = 0;
		shadow_paging_update(v); /* paging off: onto the EPT */
	}
}

/* ---- the exits ---- */

static int sipi_take_pending(struct vcpu *v);

void sipi_exit_init(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	/*
	 * Bochs 2.7 leaves INIT pending after the INIT VM exit and raises it again on the entry after
	 * the SIPI exit (Bochs issue stlintel/Bochs#11). Bochs 3.0 does the same with an INIT that
	 * reaches an AP already in wait-for-SIPI: it comes back after the SIPI that starts the AP
	 * (selftest's mp.x2apic.init_init_sipi leaves the AP parked without this rule). An INIT that
	 * arrives before the started CPU executed its first instruction is that echo: drop it. On
	 * hardware a new INIT needs a new IPI, which software sends only after waiting for the AP.
	 */
	if (v->sipi_vector >= 0 && vmcs_readnat(VMCS_GUEST_RIP) == 0 &&
	    vmcs_read16(VMCS_GUEST_CS_SEL) == (uint16_t)(v->sipi_vector << 8)) {
		if (!v->init_echo_logged++)
			log_info("keel: cpu%u: INIT right after SIPI ignored (Bochs INIT echo)", v->index);
		/* The same Bochs saves blocking-by-SMI on this exit (stlintel/Bochs#10): start afresh. */
		vcpu_start_at_sipi_vector(v, (unsigned)v->sipi_vector);
		v->sipi_vector = -1;
		return;
	}
	if (!(v->vm->caps.misc & VMX_MISC_ACTIVITY_WAIT_SIPI)) {
		/* Only the BSP runs under keel then (vmm_start); an INIT to it is a reset keel cannot
		 * emulate without the activity state. */
		vcpu_stop(v, "INIT received, and this CPU's VMX has no wait-for-SIPI activity state");
	}
	v->init_taken_gen = __atomic_load_n(&v->init_gen, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < 16; i++)
		r->gpr[i] = 0;
	/* INIT resets the CPU: an NMI keel held for the old context goes with it. */
	v->nmi_pending = 0;
	if (v->nmi_timer)
		events_nmi_timer_disarm(v);
	vcpu_reset_to_wait_for_sipi(v);
	/*
	 * A SIPI the sender sent while this CPU was in root, in this handler, found no wait-for-SIPI
	 * state and was dropped; the sender's side (sipi_icr_write) recorded it. Taken here, as late as
	 * the handler can. One sent after this check and before the VM entry is still lost; the second
	 * SIPI of INIT-SIPI-SIPI (10-200 us later in the firmware and Linux) then starts the CPU.
	 */
	int vector = sipi_take_pending(v);
	if (vector >= 0) {
		vcpu_start_at_sipi_vector(v, (unsigned)vector);
		v->sipi_vector = vector;
		__atomic_store_n(&v->started_gen, v->init_taken_gen, __ATOMIC_SEQ_CST);
		if (!v->sipis_from_root++)
			log_info("keel: cpu%u: SIPI (vector 0x%x) sent during keel's INIT handling taken there", v->index,
				 (unsigned)vector);
	}
}

void sipi_exit_sipi(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	vcpu_start_at_sipi_vector(v, (unsigned)(e->qualification & 0xFF));
	v->sipi_vector = (int)(e->qualification & 0xFF);
	__atomic_store_n(&v->started_gen, v->init_taken_gen, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->sipi_pending, 0, __ATOMIC_SEQ_CST); /* this SIPI's own record, if any */
}

/* ---- the sender's side: ICR writes ---- */

/*
 * keel sees every INIT and SIPI a guest sends, at the sender: writes to the xAPIC page exit (the
 * page is read-only in EPT while keel has APs to start) and the x2APIC ICR (MSR 0x830) is in the
 * MSR bitmap. Two reasons, both about SIPIs reaching a CPU that is under keel:
 *
 * - A SIPI reaches a CPU only in the wait-for-SIPI state. Under keel an AP gets there only after
 *   its INIT VM exit has run sipi_exit_init; a SIPI that comes earlier finds the CPU in VMX root
 *   and is dropped (INIT is blocked in VMX root, SDM Vol. 3C "Restrictions on VMX operation", and a
 *   SIPI outside wait-for-SIPI is ignored). The sender's side records it in the target's
 *   sipi_pending, which sipi_exit_init takes before it parks the CPU (defect 9 of the
 *   hardware-readiness issue).
 * - Bochs 3.0 takes a SIPI VM exit in the middle of the sender's instruction, and the longjmp that
 *   ends its VMexit() (cpu/vmx.cc) goes to the one jmp_buf all CPUs share (static
 *   BX_CPU_C::jmp_buf_env): the sender's instruction is abandoned, and with it the rest of a
 *   broadcast's delivery loop (apic_bus_broadcast_interrupt, cpu/apic.cc). A broadcast SIPI thus
 *   starts only the first AP (in APIC order) that waits for it, and OVMF's ExitBootServices
 *   INIT-SIPI-SIPI to all APs left AP 3 of 4 waiting for good. keel sends a broadcast SIPI as one
 *   SIPI per vCPU instead, which starts each AP on hardware and on Bochs alike.
 */
#define ICR_LO 0x300
#define ICR_HI 0x310
#define ICR_DELIVERY_STATUS BIT(12)
#define ICR_DM(lo) (((lo) >> 8) & 7)
#define ICR_DM_INIT 5
#define ICR_DM_SIPI 6
#define ICR_LOGICAL BIT(11)
#define ICR_LEVEL_ASSERT BIT(14)
#define ICR_TRIGGER_LEVEL BIT(15)
#define ICR_SHORTHAND(lo) (((lo) >> 18) & 3)
#define ICR_SH_NONE 0
#define ICR_SH_SELF 1
#define ICR_SH_ALL 2
#define ICR_SH_OTHERS 3

#define SIPI_PENDING_VALID BIT(8)

/* The target will take a SIPI: it has had an INIT (sent through a trapped ICR write) since a SIPI
 * last started it. Then a SIPI is kept for it until its INIT handler or its SIPI exit runs. */
void sipi_note_pending(struct vcpu *t, unsigned vector)
{
	uint32_t gen = __atomic_load_n(&t->init_gen, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&t->started_gen, __ATOMIC_SEQ_CST) == gen)
		return; /* running: a CPU outside wait-for-SIPI ignores a SIPI */
	__atomic_store_n(&t->sipi_pending, (uint64_t)gen << 32 | SIPI_PENDING_VALID | (vector & 0xFF),
			 __ATOMIC_SEQ_CST);
}

void sipi_note_init(struct vcpu *t) { __atomic_fetch_add(&t->init_gen, 1, __ATOMIC_SEQ_CST); }

/* The SIPI recorded for the INIT this CPU is handling, or -1; consumed either way. */
static int sipi_take_pending(struct vcpu *v)
{
	uint64_t p = __atomic_exchange_n(&v->sipi_pending, 0, __ATOMIC_SEQ_CST);
	if (!(p & SIPI_PENDING_VALID) || (uint32_t)(p >> 32) != v->init_taken_gen)
		return -1;
	return (int)(p & 0xFF);
}

static int icr_is_init(uint32_t lo)
{
	/* INIT level de-assert (level 0, trigger level) resets no CPU (SDM Vol. 3A 11.6.1). */
	return ICR_DM(lo) == ICR_DM_INIT && !(!(lo & ICR_LEVEL_ASSERT) && (lo & ICR_TRIGGER_LEVEL));
}

/* The vCPUs an INIT or SIPI with this ICR reaches (physical destinations and shorthands; a
 * logical destination: none, the write goes out as it is). Returns how many went into out. */
unsigned sipi_icr_targets(const struct vm *vm, const struct vcpu *self, uint32_t lo, uint32_t dest, int x2apic,
			  struct vcpu **out, unsigned max)
{
	unsigned n = 0, sh = ICR_SHORTHAND(lo);
	uint32_t all = x2apic ? 0xFFFFFFFFu : 0xFFu;
	if (sh == ICR_SH_SELF || (sh == ICR_SH_NONE && (lo & ICR_LOGICAL)))
		return 0;
	for (unsigned i = 0; i < KEEL_MAX_CPUS && n < max; i++) {
		struct vcpu *t = vm->vcpus[i];
		if (!t || t == self || !t->launched)
			continue; /* a CPU does not INIT or start itself this way; others are not keel's yet */
		if (sh == ICR_SH_NONE && dest != all && t->apic_id != dest)
			continue;
		out[n++] = t;
	}
	return n;
}

static void icr_write(const struct vm *vm, uint32_t lo, uint32_t dest, int x2apic)
{
	if (x2apic) {
		/* Reserved bits were checked (vmm/msr.c); the write cannot fault. */
		(void)safe_wrmsr(MSR_X2APIC_ICR, (uint64_t)dest << 32 | lo);
		return;
	}
	volatile uint32_t *hi = (volatile uint32_t *)(vm->apic_regs + ICR_HI);
	volatile uint32_t *lop = (volatile uint32_t *)(vm->apic_regs + ICR_LO);
	for (unsigned spin = 0; (*lop & ICR_DELIVERY_STATUS) && spin < 100000; spin++)
		pause(); /* the previous IPI is still being sent (SDM Vol. 3A 11.6.1) */
	*hi = dest << 24;
	*lop = lo;
}

/*
 * The guest's write of lo to the ICR (dest: ICR high's destination, the x2APIC one with x2apic).
 * INITs go out as written, each target's INIT counted first; SIPIs are recorded for their targets
 * and then sent one per target, so that none is lost to Bochs's broadcast bug (above).
 */
void sipi_icr_write(struct vcpu *v, uint32_t lo, uint32_t dest, int x2apic)
{
	struct vm *vm = v->vm;
	struct vcpu *t[64];
	int init = icr_is_init(lo), sipi = ICR_DM(lo) == ICR_DM_SIPI;
	unsigned n = (init || sipi) ? sipi_icr_targets(vm, v, lo, dest, x2apic, t, 64) : 0;

	if (init)
		for (unsigned i = 0; i < n; i++)
			sipi_note_init(t[i]);
	/* A broadcast that would miss a CPU keel does not run (yet) goes out as it is. */
	int broadcast = ICR_SHORTHAND(lo) != ICR_SH_NONE || dest == (x2apic ? 0xFFFFFFFFu : 0xFFu);
	if (!sipi || !n || n == 64 || (broadcast && n + 1 < vm->ncpus)) {
		icr_write(vm, lo, dest, x2apic);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		sipi_note_pending(t[i], lo & 0xFF);
	uint32_t one = lo & ~(ICR_LOGICAL | (3u << 18)); /* physical, no shorthand */
	for (unsigned i = 0; i < n; i++)
		icr_write(vm, one, t[i]->apic_id, x2apic);
	if (!x2apic) /* ICR high as the guest left it */
		*(volatile uint32_t *)(vm->apic_regs + ICR_HI) = dest << 24;
}

/*
 * Decodes the store to the APIC page that exited: MOV r/m32, r32 (89 /r), MOV r/m32, imm32
 * (C7 /0) or XCHG r/m32, r32 (87 /r), with segment, address-size and LOCK prefixes and REX in
 * 64-bit mode, in 32- or 64-bit code. Returns 0 with *out, or -1 for anything else (other
 * instructions, 16-bit operands or addressing, 64-bit operands).
 */
int sipi_decode_apic_store(const uint8_t *b, unsigned n, int mode64, struct apic_store *out)
{
	unsigned i = 0, rex = 0, addr32 = 1;
	for (;; i++) {
		if (i >= n || i >= 14)
			return -1;
		uint8_t c = b[i];
		if (c == 0x26 || c == 0x2E || c == 0x36 || c == 0x3E || c == 0x64 || c == 0x65 || c == 0xF0)
			continue;
		if (c == 0x67) {
			addr32 = mode64; /* 64-bit code: 32-bit addresses, same ModRM; else 16-bit ones */
			continue;
		}
		break;
	}
	if (!addr32)
		return -1;
	if (mode64 && (b[i] & 0xF0) == 0x40)
		rex = b[i++];
	if (rex & 8)
		return -1; /* REX.W: a 64-bit store */
	if (i + 2 > n)
		return -1;
	uint8_t op = b[i++], modrm = b[i++];
	unsigned mod = modrm >> 6, reg = ((modrm >> 3) & 7) | ((rex & 4) << 1), rm = modrm & 7;
	if (mod == 3 || (op != 0x89 && op != 0x87 && !(op == 0xC7 && (reg & 7) == 0)))
		return -1;
	unsigned disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
	if (rm == 4) {
		if (i >= n)
			return -1;
		if (mod == 0 && (b[i] & 7) == 5)
			disp = 4; /* SIB base 101 without displacement: disp32 */
		i++;
	} else if (mod == 0 && rm == 5) {
		disp = 4; /* disp32 (RIP-relative in 64-bit mode) */
	}
	i += disp;
	out->xchg = op == 0x87;
	out->src = op == 0xC7 ? -1 : (int)reg;
	if (op == 0xC7) {
		if (i + 4 > n)
			return -1;
		out->imm = (uint32_t)b[i] | (uint32_t)b[i + 1] << 8 | (uint32_t)b[i + 2] << 16 | (uint32_t)b[i + 3] << 24;
		i += 4;
	}
	if (i > n || i > 15)
		return -1;
	out->len = i;
	return 0;
}

/* The write trap on the xAPIC page, set up once on the BSP before the first VM entry. */
void sipi_trap_apic_page(struct vm *vm)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
	if ((vm->shadow && !vm->unpaged_ept) || vm->ncpus < 2 || !(base & APIC_BASE_ENABLE) ||
	    (base & APIC_BASE_X2APIC_MODE))
		return; /* no APs to start, or no EPT, or the xAPIC page is not where writes go */
	uint64_t page = base & ~0xFFFULL & ((1ULL << vm->caps.max_phys_bits) - 1);
	if (page >= vm->ept.map_top || ept_is_hidden(&vm->ept, page) ||
	    ept_map_4k(&vm->ept, page, page, EPT_R | EPT_X, MT_UC)) {
		log_warn("keel: xAPIC page 0x%llx not trapped: SIPIs are forwarded by the hardware alone",
			 (unsigned long long)page);
		return;
	}
	vm->apic_regs = (volatile uint8_t *)(uintptr_t)page;
	vm->apic_page = page;
}

static void apic_trap_lift(struct vcpu *v, const uint8_t *b, unsigned n)
{
	struct vm *vm = v->vm;
	if (!__atomic_exchange_n(&vm->apic_trap_off, 1, __ATOMIC_SEQ_CST)) {
		log_warn("keel: cpu%u: APIC write at RIP 0x%llx by an instruction keel does not emulate "
			 "(%02x %02x %02x %02x, %u bytes read): APIC writes no longer trapped",
			 v->index, (unsigned long long)vmcs_readnat(VMCS_GUEST_RIP), n > 0 ? b[0] : 0,
			 n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0, n);
		ept_map_4k(&vm->ept, vm->apic_page, vm->apic_page, EPT_RWX, MT_UC); /* splits nothing now */
	}
	vcpu_flush_ept(v); /* the instruction runs again, on the writable page */
	shadow_write_trap_lift(v); /* or on a writable shadow leaf (mmu=shadow) */
}

/* An EPT violation on the trapped APIC page (a read-only page, so a write), or under mmu=shadow a
 * write #PF there (the shadow maps it read-only: struct shadow_mmu.write_trap). Emulated: the
 * store is decoded, performed on the real APIC, and an ICR write goes through sipi_icr_write. */
void sipi_exit_apic_write(struct vcpu *v, struct guest_regs *r, uint64_t gpa)
{
	struct vm *vm = v->vm;
	uint8_t b[15];
	unsigned n = 0;
	struct apic_store s;
	if (vm->apic_trap_off) {
		vcpu_flush_ept(v); /* a stale read-only translation */
		shadow_write_trap_lift(v);
		return;
	}
	int mode64 = vcpu_guest_in_64bit_mode();
	uint64_t ip = vmcs_readnat(VMCS_GUEST_RIP) + (mode64 ? 0 : vmcs_readnat(VMCS_GUEST_CS_BASE));
	/* 15 bytes, or up to the end of the page when the next one is not mapped. */
	unsigned to_page = 0x1000 - (unsigned)(ip & 0xFFF);
	if (!vcpu_read_guest(v, ip, b, 15))
		n = 15;
	else if (to_page < 15 && !vcpu_read_guest(v, ip, b, to_page))
		n = to_page;
	if (!n || (!mode64 && !(vmcs_read32(VMCS_GUEST_CS_AR) & AR_DB)) || sipi_decode_apic_store(b, n, mode64, &s)) {
		apic_trap_lift(v, b, n);
		return;
	}
	uint32_t off = (uint32_t)(gpa & 0xFFF) & ~3u;
	uint32_t val = s.src < 0 ? s.imm : (uint32_t)operand_gpr(r, (unsigned)s.src);
	volatile uint32_t *reg = (volatile uint32_t *)(vm->apic_regs + off);
	if (s.xchg)
		operand_set_gpr(r, (unsigned)s.src, *reg); /* 32-bit destination: zero-extended */
	if (off == ICR_LO)
		sipi_icr_write(v, val, *(volatile uint32_t *)(vm->apic_regs + ICR_HI) >> 24, 0);
	else
		*reg = val;
	vmcs_writenat(VMCS_GUEST_RIP, vcpu_next_rip(vmcs_readnat(VMCS_GUEST_RIP), s.len, vcpu_guest_in_64bit_mode));
	uint32_t intr = vmcs_read32(VMCS_GUEST_INTERRUPTIBILITY);
	if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
		vmcs_write32(VMCS_GUEST_INTERRUPTIBILITY, intr & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
	if (vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_TF)
		vmcs_writenat(VMCS_GUEST_PENDING_DBG, vmcs_readnat(VMCS_GUEST_PENDING_DBG) | BIT(14));
}
