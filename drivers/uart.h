/* 16550 UART (COM1 at 0x3F8, 115200 8N1, polled) and the port 0xE9 debug console.
 * Runs in UEFI boot services and VMX root; no interrupts. */
#ifndef KEEL_DRIVERS_UART_H
#define KEEL_DRIVERS_UART_H

#include <stddef.h>
#include <stdint.h>

#define UART_COM1 0x3F8
#define DEBUGCON_PORT 0xE9

/* Programs divisor, line format and FIFOs. Returns 0, or -1 when no UART answers at base. */
int uart_init(uint16_t base);
void uart_write(const char *s, size_t n);
/* Writes what the transmitter takes without waiting ('\n' becomes CR LF); returns bytes taken. */
size_t uart_try_write(const char *s, size_t n);
void debugcon_write(const char *s, size_t n);
/* TSC ticks spent waiting for the transmitter so far (the cost of a slow serial line). */
uint64_t uart_wait_ticks(void);

#endif
