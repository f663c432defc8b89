/* 16550 UART (COM1 at 0x3F8, 115200 8N1, polled) and the port 0xE9 debug console.
 * Runs in UEFI boot services and VMX root; no interrupts. */
#include "uart.h"

#include "../arch/x86/cpu.h"

enum {
	UART_THR = 0, /* DLAB=0: transmit holding */
	UART_DLL = 0, /* DLAB=1: divisor low */
	UART_IER = 1,
	UART_DLM = 1,
	UART_FCR = 2, /* write */
	UART_IIR = 2, /* read */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_SCR = 7,
};
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define MCR_DTR_RTS_OUT2 0x0B
#define LSR_THRE 0x20
#define FCR_ENABLE 0x01
#define IIR_FIFO_ON 0xC0
#define UART_DIVISOR_115200 1

static uint16_t uart_base;
static unsigned fifo_size = 1;
static uint64_t wait_ticks;

uint64_t uart_wait_ticks(void) { return wait_ticks; }

int uart_init(uint16_t base)
{
	/* Scratch-register probe: a missing UART reads back 0xFF. */
	outb(base + UART_SCR, 0x5A);
	if (inb(base + UART_SCR) != 0x5A)
		return -1;
	outb(base + UART_IER, 0);
	outb(base + UART_LCR, LCR_DLAB);
	outb(base + UART_DLL, UART_DIVISOR_115200 & 0xFF);
	outb(base + UART_DLM, UART_DIVISOR_115200 >> 8);
	outb(base + UART_LCR, LCR_8N1);
	/* Enable the FIFOs without the reset bits: resetting drops bytes still queued. */
	outb(base + UART_FCR, FCR_ENABLE);
	outb(base + UART_MCR, MCR_DTR_RTS_OUT2);
	fifo_size = (inb(base + UART_IIR) & IIR_FIFO_ON) == IIR_FIFO_ON ? 16 : 1;
	uart_base = base;
	return 0;
}

/*
 * After hand-off the UART is the OS's, and keel writes it from VMX root between the OS's own
 * accesses. With LCR.DLAB set (the OS is programming the baud rate) offset 0 is the divisor latch,
 * not the transmitter: a byte there would change the speed. keel then leaves the port alone: its
 * lines stay queued (buffered output) or are dropped (blocking output), never written as divisor.
 */
static int uart_dlab_set(void) { return !!(inb(uart_base + UART_LCR) & LCR_DLAB); }

static void uart_putc(char c)
{
	/* Bounded wait: a wedged UART must not hang keel. */
	if (!(inb(uart_base + UART_LSR) & LSR_THRE)) {
		uint64_t t0 = rdtsc();
		for (unsigned spins = 0; spins < 100000; spins++)
			if (inb(uart_base + UART_LSR) & LSR_THRE)
				break;
		wait_ticks += rdtsc() - t0;
	}
	outb(uart_base + UART_THR, (uint8_t)c);
}

void uart_write(const char *s, size_t n)
{
	if (!uart_base || uart_dlab_set())
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

size_t uart_try_write(const char *s, size_t n)
{
	if (!uart_base)
		return n; /* no UART: nothing will ever take it */
	/* Without a FIFO (a 16450) everything waits for the flush: CR LF needs two slots. */
	if (fifo_size < 2 || uart_dlab_set() || !(inb(uart_base + UART_LSR) & LSR_THRE))
		return 0;
	/* THRE: the transmitter FIFO is empty, so fifo_size bytes go in without waiting. */
	unsigned room = fifo_size;
	size_t i = 0;
	for (; i < n && room; i++) {
		if (s[i] == '\n') {
			if (room < 2)
				break;
			outb(uart_base + UART_THR, '\r');
			room--;
		}
		outb(uart_base + UART_THR, (uint8_t)s[i]);
		room--;
	}
	return i;
}

void debugcon_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		outb(DEBUGCON_PORT, (uint8_t)s[i]);
}
