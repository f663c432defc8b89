/* VMX capabilities: probed once per boot from CPUID and the IA32_VMX_* MSRs, then asked through
 * one-line predicates. Probing runs at CPL 0 (UEFI or VMX root); decoding is pure logic. */
#ifndef KEEL_VMM_CAPS_H
#define KEEL_VMM_CAPS_H

#include <stdint.h>

struct vmx_caps {
	uint32_t cpuid1_ecx;
	uint32_t cpuid81_edx;
	uint32_t max_phys_bits;
	int msrs_read; /* the IA32_VMX_* values below are valid */
	uint64_t feature_control;
	uint64_t basic;
	uint64_t pinbased, procbased, exit, entry;          /* non-TRUE capability MSRs */
	uint64_t true_pinbased, true_procbased, true_exit, true_entry;
	uint64_t procbased2;
	uint64_t misc;
	uint64_t ept_vpid;
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	uint64_t vmcs_enum;
	uint64_t cr4; /* CR4 at probe time */
};

/* Reads CPUID and, only when CPUID reports VMX, the VMX MSRs (they #GP otherwise). */
void vmx_caps_probe(struct vmx_caps *c);

/* NULL when keel can virtualize this CPU, else a one-line reason for the user. */
const char *vmx_caps_unavailable_reason(const struct vmx_caps *c);
/* The half of it that only EPT needs (EPT, its memory types and INVEPT, unrestricted guest), and
 * the rest, which shadow paging (mmu=shadow) needs too. Each NULL when the CPU has what it takes. */
const char *vmx_caps_ept_unavailable_reason(const struct vmx_caps *c);
const char *vmx_caps_shadow_unavailable_reason(const struct vmx_caps *c);

/* Logs the capability report, one fact per line. */
void vmx_caps_report(const struct vmx_caps *c);

/*
 * Computes a 32-bit VMX control word from a capability MSR (SDM Vol. 3D A.3-A.5): bits 31:0 are
 * the allowed-0 settings (1 = must be 1), bits 63:32 the allowed-1 settings (0 = must be 0).
 * Returns (want | must_be_1) & may_be_1; *missing receives the wanted bits the CPU refuses.
 */
uint32_t vmx_adjust_controls(uint64_t cap, uint32_t want, uint32_t *missing);

/* The capability MSR a control word is computed from: TRUE_* when VMX_BASIC bit 55 says so. */
uint64_t vmx_caps_pinbased(const struct vmx_caps *c);
uint64_t vmx_caps_procbased(const struct vmx_caps *c);
uint64_t vmx_caps_exit(const struct vmx_caps *c);
uint64_t vmx_caps_entry(const struct vmx_caps *c);

int vmx_caps_has_secondary(const struct vmx_caps *c);
int vmx_caps_allows2(const struct vmx_caps *c, uint32_t bit); /* a secondary control may be 1 */
int vmx_caps_has_ept(const struct vmx_caps *c);
int vmx_caps_has_vpid(const struct vmx_caps *c);
int vmx_caps_has_unrestricted(const struct vmx_caps *c);
int vmx_caps_has_ept_2m(const struct vmx_caps *c);
int vmx_caps_has_ept_1g(const struct vmx_caps *c);
int vmx_caps_has_ept_wb(const struct vmx_caps *c);
/* The INVEPT / INVVPID type keel uses: single-context where offered, else all-context; 0: none. */
unsigned vmx_caps_invept_type(const struct vmx_caps *c);
unsigned vmx_caps_invvpid_type(const struct vmx_caps *c);

#endif
