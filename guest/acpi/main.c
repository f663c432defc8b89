/* acpi.efi: gives an OS the ACPI tables that OVMF on Bochs lacks (no fw_cfg there), then starts
 * the next image. UEFI application, before the OS, natively or inside a machine keel virtualized.
 *
 * Load options: [--madt-only] PATH [ARGS...]. The tables describe what the firmware and the
 * hardware report (CPUs and APIC IDs from MP services, the I/O APIC's ID register, the PIIX4's PM
 * base from PCI configuration space); EFI_ACPI_TABLE_PROTOCOL (OVMF's AcpiTableDxe) builds the
 * RSDP and XSDT and publishes them in the system table. Then PATH, on this image's volume, is
 * loaded and started with ARGS as its load options (a Linux EFI stub takes them as its command
 * line). Firmware that already has a MADT gets nothing new. Every step says what it did in one
 * "acpi:" line. */
#include <efi.h>

#include "../common/efi_io.h"
#include "tables.h"

#include "../../boot/mp_services.h"

#include "../../arch/x86/cpu.h"
#include "../../lib/fmt.h"
#include "../../lib/string.h"

#define MAX_CPUS 256
#define PATH_MAX_CHARS 256
#define ARGS_MAX_CHARS 1024

/* UEFI 2.10, 20.2: EFI_ACPI_TABLE_PROTOCOL. */
#define ACPI_TABLE_PROTOCOL_GUID                                                                   \
	{ 0xffe06bdd, 0x6107, 0x46a6, { 0x7b, 0xb2, 0x5a, 0x9c, 0x7e, 0xc5, 0x27, 0x5c } }
struct acpi_table_protocol {
	EFI_STATUS(EFIAPI *InstallAcpiTable)(struct acpi_table_protocol *self, VOID *table, UINTN size, UINTN *key);
	EFI_STATUS(EFIAPI *UninstallAcpiTable)(struct acpi_table_protocol *self, UINTN key);
};

/* EFI_PROCESSOR_INFORMATION (PI vol. 2), with room for the v2 extension. */
struct mp_cpu_info {
	UINT64 processor_id;
	UINT32 status;
	UINT32 location[3];
	UINT32 extended[8];
};
#define MP_STATUS_BSP 0x1
#define MP_STATUS_ENABLED 0x2

/* PCI configuration mechanism #1 and the PIIX4 power-management function (PIIX4 datasheet 3.3). */
#define PCI_ADDR 0xCF8
#define PCI_DATA 0xCFC
#define PIIX4_PM_ID 0x71138086u /* device 0x7113, vendor 0x8086 */
#define PIIX4_PMBA 0x40
#define PIIX4_PMREGMISC 0x80
#define PMIOSE 0x1 /* PMREGMISC: PM I/O space enabled */
#define PMBA_MASK 0xFFC0
/* The APM control port of the PIIX4 (the SMI command port): Bochs's model sets PM1_CNT.SCI_EN on
 * 0xF1 and clears it on 0xF0, as Bochs's own BIOS tables tell the OS. */
#define APMC_PORT 0xB2
#define APMC_ACPI_ENABLE 0xF1
#define APMC_ACPI_DISABLE 0xF0

/* The I/O APIC's indirect registers (82093AA datasheet 3.0): IOREGSEL, IOWIN, ID in bits 27:24. */
#define IOAPIC_IOWIN_OFF 0x10
#define IOAPIC_REG_ID 0x0

static EFI_SYSTEM_TABLE *st;
static EFI_HANDLE self;
static EFI_LOADED_IMAGE *loaded;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	io_line(line);
}

static int guid_eq(const EFI_GUID *a, const EFI_GUID *b) { return memcmp(a, b, sizeof(*a)) == 0; }

/* ---- what the firmware already has ---- */

/* 1 when the system table's ACPI 2.0 RSDP leads to an XSDT that lists a MADT. */
static int firmware_has_madt(void)
{
	EFI_GUID acpi20 = ACPI_20_TABLE_GUID;
	for (UINTN i = 0; i < st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &st->ConfigurationTable[i];
		if (!guid_eq(&t->VendorGuid, &acpi20))
			continue;
		/* RSDP (ACPI 6.5, 5.2.5.3): 0 "RSD PTR " 15 Revision 24 XsdtAddress */
		const uint8_t *rsdp = t->VendorTable;
		if (!rsdp || memcmp(rsdp, "RSD PTR ", 8) != 0 || rsdp[15] < 2)
			return 0;
		uint64_t xsdt_pa;
		memcpy(&xsdt_pa, rsdp + 24, 8);
		const uint8_t *xsdt = (const uint8_t *)(uintptr_t)xsdt_pa;
		if (!xsdt)
			return 0;
		uint32_t len;
		memcpy(&len, xsdt + 4, 4);
		for (uint32_t off = 36; off + 8 <= len; off += 8) {
			uint64_t pa;
			memcpy(&pa, xsdt + off, 8);
			if (pa && memcmp((const void *)(uintptr_t)pa, "APIC", 4) == 0)
				return 1;
		}
		return 0;
	}
	return 0;
}

/* ---- the hardware ---- */

static uint32_t pci_read32(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	outl(PCI_ADDR, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xFC));
	return inl(PCI_DATA);
}

/* The PIIX4's PM I/O base on bus 0, or 0 when there is no PIIX4 or its PM space is off. */
static uint16_t piix4_pm_base(void)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		if (pci_read32(0, dev, 3, 0) != PIIX4_PM_ID)
			continue;
		if (!(pci_read32(0, dev, 3, PIIX4_PMREGMISC) & PMIOSE)) {
			say("acpi: PIIX4 power management at 00:%02x.3 has its I/O space disabled", dev);
			return 0;
		}
		return (uint16_t)(pci_read32(0, dev, 3, PIIX4_PMBA) & PMBA_MASK);
	}
	return 0;
}

static uint8_t ioapic_id(void)
{
	volatile uint32_t *sel = (volatile uint32_t *)(uintptr_t)ACPI_IOAPIC_BASE;
	volatile uint32_t *win = (volatile uint32_t *)(uintptr_t)(ACPI_IOAPIC_BASE + IOAPIC_IOWIN_OFF);
	*sel = IOAPIC_REG_ID;
	return (uint8_t)((*win >> 24) & 0xF);
}

/* Fills cpus[] from MP services, the boot CPU first. Returns the count (at least 1). */
static unsigned cpus_probe(struct acpi_cpu *cpus, unsigned max)
{
	EFI_GUID mp_guid = MP_SERVICES_GUID;
	struct mp_services *mp;
	UINTN total = 0, enabled = 0;
	unsigned n = 1;

	cpus[0].apic_id = 0;
	cpus[0].enabled = 1;
	if (EFI_ERROR(st->BootServices->LocateProtocol(&mp_guid, 0, (void **)&mp)) ||
	    EFI_ERROR(mp->GetNumberOfProcessors(mp, &total, &enabled))) {
		say("acpi: no MP services: describing the boot CPU only");
		return 1;
	}
	for (UINTN i = 0; i < total; i++) {
		struct mp_cpu_info info;
		memset(&info, 0, sizeof(info));
		if (EFI_ERROR(mp->GetProcessorInfo(mp, i, &info)))
			continue;
		struct acpi_cpu c = { (uint32_t)info.processor_id, (info.status & MP_STATUS_ENABLED) != 0 };
		if (info.status & MP_STATUS_BSP)
			cpus[0] = c;
		else if (n < max)
			cpus[n++] = c;
	}
	return n;
}

/* ---- installing ---- */

static int install(struct acpi_table_protocol *proto, const char *what, void *table, size_t len)
{
	UINTN key = 0;
	if (!len) {
		say("acpi: %s: buffer too small", what);
		return -1;
	}
	EFI_STATUS s = proto->InstallAcpiTable(proto, table, len, &key);
	if (EFI_ERROR(s)) {
		say("acpi: InstallAcpiTable(%s) failed: 0x%lx", what, (unsigned long)s);
		return -1;
	}
	return 0;
}

static void install_tables(int madt_only)
{
	EFI_GUID proto_guid = ACPI_TABLE_PROTOCOL_GUID;
	struct acpi_table_protocol *proto;
	static struct acpi_cpu cpus[MAX_CPUS];
	static uint8_t madt[ACPI_MADT_MAX_SIZE(MAX_CPUS)], fadt[512], facs[64], dsdt[128];
	struct acpi_platform p;

	if (firmware_has_madt()) {
		say("acpi: the firmware already publishes a MADT; installing nothing");
		return;
	}
	if (EFI_ERROR(st->BootServices->LocateProtocol(&proto_guid, 0, (void **)&proto))) {
		say("acpi: no EFI_ACPI_TABLE_PROTOCOL; installing nothing");
		return;
	}
	memset(&p, 0, sizeof(p));
	p.cpus = cpus;
	p.ncpus = cpus_probe(cpus, MAX_CPUS);
	p.ioapic_id = ioapic_id();
	p.pm_base = madt_only ? 0 : piix4_pm_base();
	p.smi_cmd = APMC_PORT;
	p.acpi_enable = APMC_ACPI_ENABLE;
	p.acpi_disable = APMC_ACPI_DISABLE;

	if (install(proto, "MADT", madt, acpi_build_madt(madt, sizeof(madt), &p)))
		return;
	for (unsigned i = 0; i < p.ncpus; i++)
		say("acpi: MADT cpu%u APIC ID %u%s%s", i, cpus[i].apic_id,
		    cpus[i].apic_id > ACPI_XAPIC_ID_MAX ? " (x2APIC entry)" : "", cpus[i].enabled ? "" : " disabled");
	say("acpi: MADT I/O APIC ID %u at 0x%x GSI base 0, overrides IRQ0->GSI2, IRQ9 level/high", p.ioapic_id,
	    ACPI_IOAPIC_BASE);
	if (madt_only) {
		say("acpi: --madt-only: no FADT, FACS or DSDT");
		return;
	}
	if (!p.pm_base) {
		say("acpi: no PIIX4 power-management I/O base: no FADT, FACS or DSDT");
		return;
	}
	/* The protocol links the FACS and DSDT into the FADT, whichever comes first. */
	if (install(proto, "FACS", facs, acpi_build_facs(facs, sizeof(facs))) ||
	    install(proto, "DSDT", dsdt, acpi_build_dsdt(dsdt, sizeof(dsdt))) ||
	    install(proto, "FADT", fadt, acpi_build_fadt(fadt, sizeof(fadt), &p)))
		return;
	say("acpi: FADT PM1a_EVT 0x%x PM1a_CNT 0x%x PM_TMR 0x%x SCI 9 SMI_CMD 0x%x, FACS, DSDT (_S5)", p.pm_base,
	    p.pm_base + 4, p.pm_base + 8, p.smi_cmd);
}

/* ---- the next image ---- */

/* The load options as ASCII (non-ASCII characters become '?'). */
static void options_ascii(char *out, size_t max)
{
	size_t k = 0;
	if (loaded && loaded->LoadOptions) {
		const CHAR16 *w = loaded->LoadOptions;
		size_t n = loaded->LoadOptionsSize / sizeof(CHAR16);
		for (size_t i = 0; i < n && w[i] && k + 1 < max; i++)
			out[k++] = w[i] < 0x80 ? (char)w[i] : '?';
	}
	out[k] = 0;
}

/* Builds "<device path of this image's volume>/<file path node>/<end>" in pool memory. */
static EFI_DEVICE_PATH *file_device_path(const char *path)
{
	EFI_GUID dp_guid = DEVICE_PATH_PROTOCOL;
	EFI_DEVICE_PATH *dev = 0;
	if (EFI_ERROR(st->BootServices->HandleProtocol(loaded->DeviceHandle, &dp_guid, (void **)&dev)) || !dev)
		return 0;
	size_t dev_len = 0;
	for (EFI_DEVICE_PATH *n = dev; !(n->Type == END_DEVICE_PATH_TYPE && n->SubType == 0xFF);
	     n = (EFI_DEVICE_PATH *)((UINT8 *)n + (n->Length[0] | n->Length[1] << 8)))
		dev_len += n->Length[0] | n->Length[1] << 8;
	size_t plen = strlen(path), node_len = 4 + (plen + 1) * 2;
	UINT8 *buf;
	if (EFI_ERROR(st->BootServices->AllocatePool(EfiLoaderData, dev_len + node_len + 4, (void **)&buf)))
		return 0;
	memcpy(buf, dev, dev_len);
	UINT8 *node = buf + dev_len;
	node[0] = MEDIA_DEVICE_PATH;
	node[1] = MEDIA_FILEPATH_DP;
	node[2] = node_len & 0xFF;
	node[3] = node_len >> 8;
	CHAR16 *w = (CHAR16 *)(node + 4);
	for (size_t i = 0; i <= plen; i++)
		w[i] = (unsigned char)path[i];
	UINT8 *end = node + node_len;
	end[0] = END_DEVICE_PATH_TYPE;
	end[1] = 0xFF;
	end[2] = 4;
	end[3] = 0;
	return (EFI_DEVICE_PATH *)buf;
}

static EFI_STATUS start_next(const char *path, const char *args)
{
	static CHAR16 wargs[ARGS_MAX_CHARS];
	EFI_GUID li_guid = LOADED_IMAGE_PROTOCOL;
	EFI_HANDLE child = 0;
	EFI_LOADED_IMAGE *cl;

	EFI_DEVICE_PATH *dp = file_device_path(path);
	if (!dp) {
		say("acpi: %s: cannot build a device path to this image's volume", path);
		return EFI_NOT_FOUND;
	}
	EFI_STATUS s = st->BootServices->LoadImage(FALSE, self, dp, 0, 0, &child);
	st->BootServices->FreePool(dp);
	if (EFI_ERROR(s)) {
		say("acpi: LoadImage(%s) failed: 0x%lx", path, (unsigned long)s);
		return s;
	}
	if (!EFI_ERROR(st->BootServices->HandleProtocol(child, &li_guid, (void **)&cl))) {
		size_t n = 0;
		while (args[n] && n + 1 < ARGS_MAX_CHARS) {
			wargs[n] = (unsigned char)args[n];
			n++;
		}
		wargs[n] = 0;
		cl->LoadOptions = n ? wargs : 0;
		cl->LoadOptionsSize = n ? (UINT32)((n + 1) * sizeof(CHAR16)) : 0;
	}
	say("acpi: starting %s%s%s", path, args[0] ? " with options: " : "", args);
	s = st->BootServices->StartImage(child, 0, 0);
	say("acpi: %s returned 0x%lx", path, (unsigned long)s);
	return s;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	static char opts[PATH_MAX_CHARS + ARGS_MAX_CHARS];
	char path[PATH_MAX_CHARS];
	EFI_GUID li_guid = LOADED_IMAGE_PROTOCOL;
	int madt_only = 0;

	st = systab;
	self = image;
	io_init(image, systab);
	if (EFI_ERROR(st->BootServices->HandleProtocol(image, &li_guid, (void **)&loaded)))
		loaded = 0;
	options_ascii(opts, sizeof(opts));

	/* Words: an optional --madt-only, then PATH, then everything after it verbatim. */
	char *p = opts;
	while (*p == ' ')
		p++;
	if (strncmp(p, "--madt-only", 11) == 0 && (p[11] == ' ' || !p[11])) {
		madt_only = 1;
		p += 11;
		while (*p == ' ')
			p++;
	}
	size_t k = 0;
	while (p[k] && p[k] != ' ' && k + 1 < sizeof(path)) {
		path[k] = p[k];
		k++;
	}
	path[k] = 0;
	p += k;
	while (*p == ' ')
		p++;

	install_tables(madt_only);
	if (!path[0]) {
		say("acpi: no next image in the load options; returning to the firmware");
		return EFI_SUCCESS;
	}
	return start_next(path, p);
}
