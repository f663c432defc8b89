/* Host unit tests for drivers/uart.c on the fake CPU's port hooks: a 16550 model with LCR, LSR and
 * the divisor latch, to check what keel writes where. Host program (cmocka). */
#include "unit.h"

#include "../../drivers/uart.h"
#include "cpu_fakes.h"

#define BASE 0x3F8

static uint8_t lcr, scr, dll = 1, dlm;
static char sent[256];
static unsigned nsent;

static uint32_t port_in(uint16_t port, unsigned size)
{
	(void)size;
	switch (port - BASE) {
	case 2: return 0xC1; /* IIR: FIFOs on */
	case 3: return lcr;
	case 5: return 0x60; /* LSR: THRE and TEMT */
	case 7: return scr;
	}
	return 0xFF;
}

static void port_out(uint16_t port, unsigned size, uint32_t v)
{
	(void)size;
	switch (port - BASE) {
	case 0:
		if (lcr & 0x80)
			dll = (uint8_t)v;
		else if (nsent < sizeof(sent))
			sent[nsent++] = (char)v;
		break;
	case 1:
		if (lcr & 0x80)
			dlm = (uint8_t)v;
		break;
	case 3: lcr = (uint8_t)v; break;
	case 7: scr = (uint8_t)v; break;
	}
}

static void unexpected(const char *insn) { fail_msg("unexpected %s", insn); }

static int setup(void **state)
{
	(void)state;
	cpu_fake_hooks.port_in = port_in;
	cpu_fake_hooks.port_out = port_out;
	cpu_fake_hooks.unexpected = unexpected;
	nsent = 0;
	lcr = 0;
	return uart_init(BASE);
}

static void test_write_reaches_transmitter(void **state)
{
	(void)state;
	uart_write("ok\n", 3);
	assert_int_equal(nsent, 4);
	assert_memory_equal(sent, "ok\r\n", 4);
	assert_int_equal(dll, 1); /* 115200 */
}

/* The OS has DLAB set: a byte at offset 0 would be a new divisor. Nothing is written. */
static void test_dlab_set_by_os_leaves_divisor_alone(void **state)
{
	(void)state;
	lcr = 0x80 | 0x03;
	uart_write("keel line\n", 10);
	assert_int_equal(uart_try_write("queued\n", 7), 0);
	assert_int_equal(dll, 1);
	assert_int_equal(dlm, 0);
	assert_int_equal(nsent, 0);
	lcr = 0x03; /* the OS is done: buffered output goes out again */
	assert_int_equal(uart_try_write("queued\n", 7), 7);
	assert_int_equal(nsent, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_write_reaches_transmitter, setup),
		cmocka_unit_test_setup(test_dlab_set_by_os_leaves_divisor_alone, setup),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
