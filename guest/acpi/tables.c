/* Builds the MADT, FADT, FACS and DSDT of acpi.efi (ACPI 6.5 layouts, little-endian, byte offsets
 * as the specification's tables give them). Pure code: runs in the UEFI guest and on the host. */
#include "tables.h"

#include "../../lib/string.h"

/* ---- the common header (ACPI 6.5, 5.2.6) ----
 *   0 Signature[4]  4 Length  8 Revision  9 Checksum  10 OEMID[6]  16 OEM Table ID[8]
 *  24 OEM Revision  28 Creator ID[4]  32 Creator Revision  (36 bytes) */
#define HDR_LEN 36
#define HDR_CHECKSUM 9

static void put8(uint8_t *b, size_t off, uint8_t v) { b[off] = v; }

static void put16(uint8_t *b, size_t off, uint16_t v)
{
	b[off] = (uint8_t)v;
	b[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
	put16(b, off, (uint16_t)v);
	put16(b, off + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *b, size_t off, uint64_t v)
{
	put32(b, off, (uint32_t)v);
	put32(b, off + 4, (uint32_t)(v >> 32));
}

uint8_t acpi_checksum(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static void header(uint8_t *b, const char sig[4], uint32_t len, uint8_t revision)
{
	memcpy(b, sig, 4);
	put32(b, 4, len);
	put8(b, 8, revision);
	memcpy(b + 10, "KEEL  ", 6);
	memcpy(b + 16, "KEELACPI", 8);
	put32(b, 24, 1);
	memcpy(b + 28, "KEEL", 4);
	put32(b, 32, 1);
}

static size_t finish(uint8_t *b, size_t len)
{
	b[HDR_CHECKSUM] = 0;
	b[HDR_CHECKSUM] = acpi_checksum(b, len);
	return len;
}

/* ---- MADT (5.2.12) ----
 * 36 Local Interrupt Controller Address  40 Flags (bit 0 PCAT_COMPAT: dual 8259s present), then
 * interrupt controller structures, each starting with Type and Length. */
#define MADT_PCAT_COMPAT 0x1
enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_ISO = 2, MADT_LAPIC_NMI = 4, MADT_X2APIC = 9 };
#define LAPIC_LEN 8
#define IOAPIC_LEN 12
#define ISO_LEN 10
#define LAPIC_NMI_LEN 6
#define X2APIC_LEN 16
#define LAPIC_ENABLED 0x1
/* MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2 (01 high / edge, 11 low / level). */
#define INTI_CONFORMS 0x0
#define INTI_ACTIVE_HIGH 0x1
#define INTI_LEVEL 0xC
#define ISA_BUS 0

/* The PC platform's routing of the ISA IRQs through the I/O APIC: the PIT (IRQ 0) is wired to
 * pin 2, and the PIIX4's SCI (IRQ 9) is level-triggered, active high (PIIX4 datasheet 7.2). */
static const struct {
	uint8_t irq;
	uint32_t gsi;
	uint16_t flags;
} isa_overrides[] = {
	{ 0, 2, INTI_CONFORMS },
	{ 9, 9, INTI_ACTIVE_HIGH | INTI_LEVEL },
};
#define N_OVERRIDES (sizeof(isa_overrides) / sizeof(isa_overrides[0]))

size_t acpi_madt_size(const struct acpi_platform *p)
{
	size_t len = HDR_LEN + 8 + IOAPIC_LEN + N_OVERRIDES * ISO_LEN + LAPIC_NMI_LEN;
	for (unsigned i = 0; i < p->ncpus; i++)
		len += p->cpus[i].apic_id > ACPI_XAPIC_ID_MAX ? X2APIC_LEN : LAPIC_LEN;
	return len;
}

size_t acpi_build_madt(void *buf, size_t size, const struct acpi_platform *p)
{
	uint8_t *b = buf;
	size_t len = acpi_madt_size(p), off;
	if (size < len)
		return 0;
	memset(b, 0, len);
	header(b, "APIC", (uint32_t)len, 5);
	put32(b, 36, ACPI_LAPIC_BASE);
	put32(b, 40, MADT_PCAT_COMPAT);
	off = HDR_LEN + 8;
	/* The ACPI processor UID is the CPU's MP-services number; the boot CPU comes first, as
	 * operating systems expect (Linux takes the first entry's APIC ID for the BSP's check). */
	for (unsigned i = 0; i < p->ncpus; i++) {
		const struct acpi_cpu *c = &p->cpus[i];
		uint32_t flags = c->enabled ? LAPIC_ENABLED : 0;
		if (c->apic_id > ACPI_XAPIC_ID_MAX) {
			/* 0 Type 1 Length 2 Reserved[2] 4 X2APIC ID 8 Flags 12 ACPI Processor UID */
			put8(b, off, MADT_X2APIC);
			put8(b, off + 1, X2APIC_LEN);
			put32(b, off + 4, c->apic_id);
			put32(b, off + 8, flags);
			put32(b, off + 12, i);
			off += X2APIC_LEN;
		} else {
			/* 0 Type 1 Length 2 ACPI Processor UID 3 APIC ID 4 Flags */
			put8(b, off, MADT_LAPIC);
			put8(b, off + 1, LAPIC_LEN);
			put8(b, off + 2, (uint8_t)i);
			put8(b, off + 3, (uint8_t)c->apic_id);
			put32(b, off + 4, flags);
			off += LAPIC_LEN;
		}
	}
	/* 0 Type 1 Length 2 I/O APIC ID 3 Reserved 4 Address 8 Global System Interrupt Base */
	put8(b, off, MADT_IOAPIC);
	put8(b, off + 1, IOAPIC_LEN);
	put8(b, off + 2, p->ioapic_id);
	put32(b, off + 4, ACPI_IOAPIC_BASE);
	put32(b, off + 8, 0);
	off += IOAPIC_LEN;
	/* 0 Type 1 Length 2 Bus 3 Source 4 Global System Interrupt 8 Flags */
	for (size_t i = 0; i < N_OVERRIDES; i++) {
		put8(b, off, MADT_ISO);
		put8(b, off + 1, ISO_LEN);
		put8(b, off + 2, ISA_BUS);
		put8(b, off + 3, isa_overrides[i].irq);
		put32(b, off + 4, isa_overrides[i].gsi);
		put16(b, off + 8, isa_overrides[i].flags);
		off += ISO_LEN;
	}
	/* Every CPU's LINT1 is the NMI input (0 Type 1 Length 2 UID 0xFF = all 3 Flags 5 LINT#). */
	put8(b, off, MADT_LAPIC_NMI);
	put8(b, off + 1, LAPIC_NMI_LEN);
	put8(b, off + 2, 0xFF);
	put16(b, off + 3, INTI_CONFORMS);
	put8(b, off + 5, 1);
	off += LAPIC_NMI_LEN;
	return finish(b, off);
}

/* ---- FADT (5.2.9), revision 6 ----
 * Only the fixed-hardware blocks of the PIIX4 (PIIX4 datasheet 7.2, "Power management
 * registers"): PM1a event at PMBA+0 (4 bytes), PM1a control at PMBA+4 (2), the 24-bit PM timer at
 * PMBA+8 (4). The 32-bit block addresses are enough: an OS derives the X_ fields from them when
 * those are 0 (5.2.9: "If the X_ field is zero, use the legacy field"). */
#define FADT_LEN 276
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_PWR_BUTTON (1u << 4) /* 1: no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* 1: no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042 (1u << 1)
#define SCI_IRQ 9
#define CMOS_CENTURY 0x32
/* The PCI reset control register of the PIIX (0xCF9): 6 = full reset (SRST | RCPU). */
#define RESET_PORT 0xCF9
#define RESET_VALUE 0x06
#define GAS_SYSTEM_IO 1
#define GAS_BYTE_ACCESS 1

size_t acpi_build_fadt(void *buf, size_t size, const struct acpi_platform *p)
{
	uint8_t *b = buf;
	if (size < FADT_LEN)
		return 0;
	memset(b, 0, FADT_LEN);
	header(b, "FACP", FADT_LEN, 6);
	/* 36 FIRMWARE_CTRL and 40 DSDT stay 0: the ACPI table protocol links the FACS and DSDT it
	 * holds into the FADT itself (and fixes the checksum). */
	put16(b, 46, SCI_IRQ);
	put32(b, 48, p->smi_cmd);
	put8(b, 52, p->acpi_enable);
	put8(b, 53, p->acpi_disable);
	put32(b, 56, p->pm_base);       /* PM1a_EVT_BLK */
	put32(b, 64, p->pm_base + 4u);  /* PM1a_CNT_BLK */
	put32(b, 76, p->pm_base + 8u);  /* PM_TMR_BLK */
	put8(b, 88, 4);                 /* PM1_EVT_LEN */
	put8(b, 89, 2);                 /* PM1_CNT_LEN */
	put8(b, 91, 4);                 /* PM_TMR_LEN */
	put16(b, 96, 101);              /* P_LVL2_LAT > 100: C2 unsupported */
	put16(b, 98, 1001);             /* P_LVL3_LAT > 1000: C3 unsupported */
	put8(b, 108, CMOS_CENTURY);
	put16(b, 109, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042);
	put32(b, 112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_RESET_REG_SUP);
	/* 116 RESET_REG, a Generic Address Structure: 0 space 1 bit width 2 bit offset 3 access size
	 * 4 address; 128 RESET_VALUE. */
	put8(b, 116, GAS_SYSTEM_IO);
	put8(b, 117, 8);
	put8(b, 119, GAS_BYTE_ACCESS);
	put64(b, 120, RESET_PORT);
	put8(b, 128, RESET_VALUE);
	put8(b, 131, 5); /* FADT minor version: ACPI 6.5 */
	return finish(b, FADT_LEN);
}

/* ---- FACS (5.2.10): no checksum; 0 Signature 4 Length 8 Hardware Signature ... 32 Version ---- */
#define FACS_LEN 64

size_t acpi_build_facs(void *buf, size_t size)
{
	uint8_t *b = buf;
	if (size < FACS_LEN)
		return 0;
	memset(b, 0, FACS_LEN);
	memcpy(b, "FACS", 4);
	put32(b, 4, FACS_LEN);
	put8(b, 32, 2);
	return FACS_LEN;
}

/* ---- DSDT (5.2.11.1): the header, then AML ----
 * The namespace holds one object, the S5 (soft-off) sleep type that Bochs's PIIX4 model powers off
 * on (SLP_TYP 0 in PM1_CNT):
 *   Name (_S5, Package (4) { 0, 0, 0, 0 })
 *   NameOp '_S5_' PackageOp PkgLength(6) NumElements(4) ZeroOp x4 */
static const uint8_t dsdt_aml[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
};

size_t acpi_build_dsdt(void *buf, size_t size)
{
	uint8_t *b = buf;
	size_t len = HDR_LEN + sizeof(dsdt_aml);
	if (size < len)
		return 0;
	memset(b, 0, len);
	header(b, "DSDT", (uint32_t)len, 2);
	memcpy(b + HDR_LEN, dsdt_aml, sizeof(dsdt_aml));
	return finish(b, len);
}
