/* 16550 UART (COM1 at 0x3F8, 115200 8N1, polled) and the port 0xE9 debug console.
 * Runs in UEFI boot services and VMX root; no interrupts. */
#include "uart.h"

#include "../arch/x86/cpu.h"

enum {
	UART_THR = 0, /* DLAB=0: transmit holding */
	UART_DLL = 0, /* DLAB=1: divisor low */
	UART_IER = 1,
	UART_DLM = 1,
	UART_FCR = 2,
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
#define UART_DIVISOR_115200 1

static uint16_t uart_base;

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
	uart_base = base;
	return 0;
}

static void uart_putc(char c)
{
	/* Bounded wait: a wedged UART must not hang keel. */
	for (unsigned spins = 0; spins < 100000; spins++)
		if (inb(uart_base + UART_LSR) & LSR_THRE)
			break;
	outb(uart_base + UART_THR, (uint8_t)c);
}

void uart_write(const char *s, size_t n)
{
	if (!uart_base)
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

void debugcon_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		outb(DEBUGCON_PORT, (uint8_t)s[i]);
}
