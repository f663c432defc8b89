/* Test double for the current VMCS (the host build leaves vmcs_read_raw/vmcs_write_raw out of
 * vmm/vmcs.c), plus stubs for what vmm/vmx.c links against in assembly and other modules. A stub
 * fails the running test when called: host tests only exercise the pure parts. Host only. */
#include "unit.h"

#include "../../vmm/host.h"
#include "../../vmm/vmcs.h"
#include "vmcs_fake.h"

/* Encodings are 15 bits wide (SDM 24.11.2); bit 15 and up are reserved. */
#define FIELDS 0x8000

static uint64_t value[FIELDS];
static uint8_t written[FIELDS];
static uint16_t written_list[FIELDS]; /* what reset must clear: cheap enough for the fuzzer */
static unsigned nwritten;

int vmcs_fake_reset(void **state)
{
	(void)state;
	for (unsigned i = 0; i < nwritten; i++) {
		value[written_list[i]] = 0;
		written[written_list[i]] = 0;
	}
	nwritten = 0;
	return 0;
}

int vmcs_fake_written(uint32_t field) { return field < FIELDS && written[field]; }

uint64_t vmcs_read_raw(uint32_t field)
{
	if (field >= FIELDS)
		fail_msg("VMREAD of invalid field encoding 0x%x", field);
	return value[field];
}

void vmcs_write_raw(uint32_t field, uint64_t v)
{
	if (field >= FIELDS)
		fail_msg("VMWRITE of invalid field encoding 0x%x", field);
	if (VMCS_WIDTH(field) == VMCS_WIDTH_16)
		v &= 0xFFFF;
	else if (VMCS_WIDTH(field) == VMCS_WIDTH_32)
		v &= 0xFFFFFFFF;
	value[field] = v;
	if (!written[field])
		written_list[nwritten++] = (uint16_t)field;
	written[field] = 1;
}

/* ---- must not be reached from a host test ---- */

#define UNEXPECTED() fail_msg("unexpected call to %s in a host test", __func__)

void vmx_report_failure(const char *what, uint64_t operand, int result)
{
	(void)what, (void)operand, (void)result;
	UNEXPECTED();
}

unsigned vmcs_take_failures(void)
{
	UNEXPECTED();
	return 0;
}

void host_setup_gdt(struct vcpu *v)
{
	(void)v;
	UNEXPECTED();
}

int vmx_launch(uint64_t guest_rsp_field, uint64_t guest_rip_field)
{
	(void)guest_rsp_field, (void)guest_rip_field;
	UNEXPECTED();
	return -1;
}

void vmx_exit_entry(void) { UNEXPECTED(); }
