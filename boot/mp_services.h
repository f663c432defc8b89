/* The PI specification's MP Services Protocol (volume 2), which gnu-efi's headers lack.
 * UEFI boot services; shared by keel's boot/ and the guest programs (include <efi.h> first). */
#ifndef KEEL_BOOT_MP_SERVICES_H
#define KEEL_BOOT_MP_SERVICES_H

#define MP_SERVICES_GUID                                                                           \
	{ 0x3fdda605, 0xa76e, 0x4f46, { 0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08 } }

typedef VOID(EFIAPI *MP_PROCEDURE)(VOID *arg);
struct mp_services {
	EFI_STATUS(EFIAPI *GetNumberOfProcessors)(struct mp_services *self, UINTN *total, UINTN *enabled);
	EFI_STATUS(EFIAPI *GetProcessorInfo)(struct mp_services *self, UINTN n, VOID *info);
	EFI_STATUS(EFIAPI *StartupAllAPs)(struct mp_services *self, MP_PROCEDURE fn, BOOLEAN single_thread,
					 EFI_EVENT wait_event, UINTN timeout_us, VOID *arg, UINTN **failed);
	EFI_STATUS(EFIAPI *StartupThisAP)(struct mp_services *self, MP_PROCEDURE fn, UINTN cpu,
					 EFI_EVENT wait_event, UINTN timeout_us, VOID *arg, BOOLEAN *finished);
	EFI_STATUS(EFIAPI *SwitchBSP)(struct mp_services *self, UINTN cpu, BOOLEAN enable_old);
	EFI_STATUS(EFIAPI *EnableDisableAP)(struct mp_services *self, UINTN cpu, BOOLEAN enable, UINT32 *health);
	EFI_STATUS(EFIAPI *WhoAmI)(struct mp_services *self, UINTN *cpu);
};

/* StartupAllAPs/StartupThisAP call an EFIAPI procedure; this carries a plain C one across. */
struct mp_call {
	void (*fn)(void *);
	void *arg;
};

static inline VOID EFIAPI mp_call_trampoline(VOID *p)
{
	struct mp_call *c = p;
	c->fn(c->arg);
}

#endif
