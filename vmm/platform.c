/* The platform keel runs on, decided from CPUID and a few I/O facts gathered once at boot.
 * Probing runs under UEFI boot services (CPL 0); the decision is pure logic. */
#include "platform.h"

#include "../arch/x86/cpu.h"
#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "../lib/string.h"

#define DEBUG_PORT 0xE9

void platform_probe(struct platform_facts *f, const struct vmx_caps *caps)
{
	struct cpuid_regs r;

	memset(f, 0, sizeof(*f));
	cpuid(1, 0, &r);
	f->hypervisor_bit = !!(r.ecx & CPUID1_ECX_HYPERVISOR);
	/* Leaves 0x40000000+ are defined only with the hypervisor bit; without it a CPU returns the
	 * data of its highest basic leaf there (SDM Vol. 2A, CPUID). */
	if (f->hypervisor_bit) {
		cpuid(0x40000000, 0, &r);
		f->hv_max_leaf = r.eax;
		memcpy(f->hv_signature, &r.ebx, 4);
		memcpy(f->hv_signature + 4, &r.ecx, 4);
		memcpy(f->hv_signature + 8, &r.edx, 4);
		f->hv_signature[12] = 0;
	}
	/* Bochs's port_e9_hack and QEMU's isa-debugcon answer an IN with 0xE9; an empty port reads
	 * 0xFF. Reading it has no side effect on either. */
	f->e9_echo = inb(DEBUG_PORT) == DEBUG_PORT;
	f->vmcs_revision = caps->msrs_read ? VMX_BASIC_REVISION(caps->basic) : 0;
}

static const struct {
	const char *signature;
	enum platform platform;
} signatures[] = {
	{ "KVMKVMKVM", PLATFORM_KVM }, /* "KVMKVMKVM\0\0\0": compared as a C string */
	{ "VMwareVMware", PLATFORM_VMWARE },
	{ "Microsoft Hv", PLATFORM_HYPERV },
	{ "XenVMMXenVMM", PLATFORM_XEN },
	{ "TCGTCGTCGTCG", PLATFORM_QEMU_TCG },
};

enum platform platform_detect(const struct platform_facts *f)
{
	if (f->hypervisor_bit) {
		for (unsigned i = 0; i < sizeof(signatures) / sizeof(signatures[0]); i++)
			if (strcmp(f->hv_signature, signatures[i].signature) == 0)
				return signatures[i].platform;
		return PLATFORM_OTHER_HYPERVISOR;
	}
	/* No hypervisor bit: silicon, or Bochs (which never sets it). Bochs is recognised by its
	 * VMCS revision, or by the port 0xE9 echo when its model has no VMX. QEMU's debugcon
	 * echoes too, but QEMU always sets the hypervisor bit, so it never gets here. */
	if (f->vmcs_revision == PLATFORM_BOCHS_VMCS_REVISION || f->e9_echo)
		return PLATFORM_BOCHS;
	return PLATFORM_BARE_METAL;
}

const char *platform_name(enum platform p)
{
	switch (p) {
	case PLATFORM_BARE_METAL: return "bare metal";
	case PLATFORM_KVM: return "KVM";
	case PLATFORM_VMWARE: return "VMware";
	case PLATFORM_HYPERV: return "Hyper-V";
	case PLATFORM_XEN: return "Xen";
	case PLATFORM_QEMU_TCG: return "QEMU TCG";
	case PLATFORM_BOCHS: return "Bochs";
	case PLATFORM_OTHER_HYPERVISOR: return "unknown hypervisor";
	}
	return "?";
}

const char *platform_quirks(enum platform p)
{
	/* Keep in step with docs/hardware.md ("Platforms keel recognises"). The INIT-echo rule in
	 * vmm/sipi.c sipi_exit_init is keyed on the AP's state, not on the platform: it is listed
	 * where it fires (Bochs 2.7 after every start, stlintel/Bochs#11; Bochs 3.0 after an INIT to
	 * an AP already waiting for SIPI). */
	if (p == PLATFORM_BOCHS)
		return "INIT right after SIPI dropped (Bochs INIT echo)";
	return "none";
}

/* Printable form of a signature: non-printing bytes as '.', so a binary leaf cannot garble the log. */
static void printable(char *dst, const char *src)
{
	size_t i;
	for (i = 0; i < 12 && src[i]; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7F) ? src[i] : '.';
	dst[i] = 0;
}

void platform_report(const struct platform_facts *f)
{
	enum platform p = platform_detect(f);
	char sig[13];

	printable(sig, f->hv_signature);
	if (f->hypervisor_bit)
		log_info("keel: platform: %s (hypervisor signature \"%s\", max leaf 0x%x); quirks: %s", platform_name(p),
			 sig, f->hv_max_leaf, platform_quirks(p));
	else if (p == PLATFORM_BOCHS)
		log_info("keel: platform: %s (no hypervisor bit; %s); quirks: %s", platform_name(p),
			 f->vmcs_revision == PLATFORM_BOCHS_VMCS_REVISION ? "VMCS revision 0x2b"
									   : "port 0xE9 echoes 0xE9",
			 platform_quirks(p));
	else
		log_info("keel: platform: %s (no hypervisor bit, no emulator fingerprint); quirks: %s", platform_name(p),
			 platform_quirks(p));
}
