/* Test double for the current VMCS: vmcs_read_raw/vmcs_write_raw backed by an array keyed by
 * field encoding, for host unit tests of code that reads or writes VMCS fields. Host only. */
#ifndef KEEL_TESTS_UNIT_VMCS_FAKE_H
#define KEEL_TESTS_UNIT_VMCS_FAKE_H

#include <stdint.h>

/* Forgets every field written. Usable as a cmocka setup/teardown. */
int vmcs_fake_reset(void **state);

/* True when field has been written since the last reset. */
int vmcs_fake_written(uint32_t field);

#endif
