/* The ACPI tables acpi.efi installs for an OS on a PC platform whose firmware has none (OVMF on
 * Bochs): MADT, FADT, FACS and a DSDT, built into caller buffers. Pure code, no firmware types. */
#ifndef KEEL_GUEST_ACPI_TABLES_H
#define KEEL_GUEST_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* Above this local APIC ID, a CPU needs a processor local x2APIC entry (ACPI 6.5, 5.2.12.12):
 * the 8-bit entry has no room for it and 0xFF means "all processors". */
#define ACPI_XAPIC_ID_MAX 254

#define ACPI_LAPIC_BASE 0xFEE00000u
#define ACPI_IOAPIC_BASE 0xFEC00000u

struct acpi_cpu {
	uint32_t apic_id;
	int enabled;
};

/* What the platform description needs from the hardware, probed by the caller. */
struct acpi_platform {
	const struct acpi_cpu *cpus;
	unsigned ncpus;
	uint8_t ioapic_id;  /* from the I/O APIC's ID register */
	uint16_t pm_base;   /* PIIX4 power-management I/O base (function 3, PMBA), 0 if none */
	uint16_t smi_cmd;   /* port whose ACPI_ENABLE write sets PM1_CNT.SCI_EN */
	uint8_t acpi_enable, acpi_disable;
};

/* Each builder writes one complete table (header and checksum) to buf and returns its length, or
 * 0 when size is too small. */
size_t acpi_build_madt(void *buf, size_t size, const struct acpi_platform *p);
size_t acpi_build_fadt(void *buf, size_t size, const struct acpi_platform *p);
size_t acpi_build_facs(void *buf, size_t size);
size_t acpi_build_dsdt(void *buf, size_t size);

/* The byte that makes len bytes at buf sum to 0 once stored in the checksum field (which must hold
 * 0 while this runs). */
uint8_t acpi_checksum(const void *buf, size_t len);

/* Bytes of the MADT for p's CPUs, and a bound for any n CPUs (for sizing a buffer). */
size_t acpi_madt_size(const struct acpi_platform *p);
#define ACPI_MADT_MAX_SIZE(n) (36 + 8 + 12 + 2 * 10 + 6 + (n) * 16)

#endif
