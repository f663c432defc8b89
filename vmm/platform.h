/* The platform keel runs on (bare metal, a hypervisor below it, an emulator), decided from CPUID
 * and a few I/O facts gathered once at boot. Probing runs under UEFI boot services; the decision
 * is pure logic. */
#ifndef KEEL_VMM_PLATFORM_H
#define KEEL_VMM_PLATFORM_H

#include <stdint.h>

#include "caps.h"

enum platform {
	PLATFORM_BARE_METAL,
	PLATFORM_KVM,
	PLATFORM_VMWARE,
	PLATFORM_HYPERV,
	PLATFORM_XEN,
	PLATFORM_QEMU_TCG,
	PLATFORM_BOCHS,
	PLATFORM_OTHER_HYPERVISOR, /* CPUID.1:ECX[31] set, signature unknown or absent */
};

/* Everything platform_detect() looks at, so tests can give it any machine. */
struct platform_facts {
	int hypervisor_bit;    /* CPUID.1:ECX[31] */
	uint32_t hv_max_leaf;  /* CPUID.40000000H:EAX (0 when not read) */
	char hv_signature[13]; /* CPUID.40000000H:EBX,ECX,EDX as text, NUL-terminated; "" if none */
	int e9_echo;           /* an IN from port 0xE9 returned 0xE9 (Bochs's port_e9_hack, QEMU debugcon) */
	uint32_t vmcs_revision; /* IA32_VMX_BASIC[30:0], 0 without VMX */
};

/* The VMCS revision identifier Bochs reports (IA32_VMX_BASIC of its VMX models, see
 * tests/unit/caps_data.h); no Intel CPU is known to use it. */
#define PLATFORM_BOCHS_VMCS_REVISION 0x2B

/* Gathers the facts: CPUID, one IN from port 0xE9, the VMCS revision from caps. CPL 0. */
void platform_probe(struct platform_facts *f, const struct vmx_caps *caps);

/* Decides the platform from the facts alone. */
enum platform platform_detect(const struct platform_facts *f);

/* "bare metal", "KVM", ..., for the report. */
const char *platform_name(enum platform p);

/* The workarounds keel applies on p, as one phrase ("none" when there are none). */
const char *platform_quirks(enum platform p);

/* Logs "keel: platform: NAME (how it was detected); quirks: ...". */
void platform_report(const struct platform_facts *f);

#endif
