/* INIT and SIPI under keel: an INIT parks the vCPU in wait-for-SIPI, a SIPI starts it in real mode
 * at the vector's page, as a real AP would (SDM Vol. 3A 9.1.1, 10.4.7.3). VMX root. */
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "emulate.h"
#include "../lib/log.h"
#include "events.h"
#include "handlers.h"
#include "vmcs.h"

void vcpu_reset_to_wait_for_sipi(struct vcpu *v)
{
	(void)v;
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
}

/* ---- the exits ---- */

void sipi_exit_init(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	/*
	 * Bochs 2.7 leaves INIT pending after the INIT VM exit and raises it again on the entry after
	 * the SIPI exit (Bochs issue stlintel/Bochs#11, fixed in later releases). An INIT that arrives
	 * before the started CPU executed its first instruction is that echo: drop it. On hardware a
	 * new INIT needs a new IPI, which software sends only after waiting for the AP.
	 */
	if (v->sipi_vector >= 0 && vmcs_readnat(VMCS_GUEST_RIP) == 0 &&
	    vmcs_read16(VMCS_GUEST_CS_SEL) == (uint16_t)(v->sipi_vector << 8)) {
		if (!v->init_echo_logged++)
			log_info("keel: cpu%u: INIT right after SIPI ignored (Bochs 2.7 erratum)", v->index);
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
	for (unsigned i = 0; i < 16; i++)
		r->gpr[i] = 0;
	/* INIT resets the CPU: an NMI keel held for the old context goes with it. */
	v->nmi_pending = 0;
	if (v->nmi_timer)
		events_nmi_timer_disarm(v);
	vcpu_reset_to_wait_for_sipi(v);
}

void sipi_exit_sipi(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	vcpu_start_at_sipi_vector(v, (unsigned)(e->qualification & 0xFF));
	v->sipi_vector = (int)(e->qualification & 0xFF);
}
