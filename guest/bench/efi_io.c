/* The benchmark's window on the firmware and the machine: COM1, port 0xE9, ConOut, TPL, load options,
 * ResetSystem (guest/selftest/efi_io.c's pattern, without MP and memory). UEFI boot services, BSP. */
#include <efi.h>

#include "efi_io.h"

#include "../../arch/x86/cpu.h"
#include "../../lib/string.h"

static EFI_SYSTEM_TABLE *st;
static EFI_LOADED_IMAGE *loaded;
static EFI_GUID loaded_image_guid = LOADED_IMAGE_PROTOCOL;

/* ---- COM1 (programmed as drivers/uart.c does) and port 0xE9 ---- */
#define COM1 0x3F8
enum { UART_THR = 0, UART_DLL = 0, UART_IER = 1, UART_DLM = 1, UART_FCR = 2, UART_LCR = 3,
       UART_MCR = 4, UART_LSR = 5, UART_SCR = 7 };
#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define MCR_DTR_RTS_OUT2 0x0B
#define FCR_ENABLE 0x01 /* without the reset bits: resetting drops bytes still queued */
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define UART_SPINS 100000 /* a wedged UART costs a bounded wait per byte, never a hang */
#define DEBUGCON_PORT 0xE9

static int com1_ok;

static void com1_init(void)
{
	outb(COM1 + UART_SCR, 0x5A); /* scratch-register probe: a missing UART reads back 0xFF */
	if (inb(COM1 + UART_SCR) != 0x5A)
		return;
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, 1); /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE);
	outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
	com1_ok = 1;
}

static void com1_wait(uint8_t lsr_bit)
{
	for (unsigned i = 0; i < UART_SPINS; i++)
		if (inb(COM1 + UART_LSR) & lsr_bit)
			return;
}

static void com1_putc(char c)
{
	com1_wait(LSR_THRE);
	outb(COM1 + UART_THR, (uint8_t)c);
}

static void conout_line(const char *s)
{
	CHAR16 w[128];
	size_t k = 0;
	for (const char *p = s;; p++) {
		int end = !*p;
		if (end) {
			w[k++] = '\r';
			w[k++] = '\n';
		} else {
			w[k++] = (unsigned char)*p;
		}
		if (end || k >= 120) {
			w[k] = 0;
			st->ConOut->OutputString(st->ConOut, w);
			k = 0;
		}
		if (end)
			return;
	}
}

void io_line(const char *s)
{
	for (const char *p = s; *p; p++)
		outb(DEBUGCON_PORT, (uint8_t)*p);
	outb(DEBUGCON_PORT, '\n');
	if (com1_ok) {
		for (const char *p = s; *p; p++)
			com1_putc(*p);
		com1_putc('\r');
		com1_putc('\n');
	}
	conout_line(s);
}

void io_init(void *image_handle, void *system_table)
{
	st = system_table;
	com1_init();
	if (EFI_ERROR(st->BootServices->HandleProtocol(image_handle, &loaded_image_guid, (void **)&loaded)))
		loaded = 0;
}

static EFI_TPL quiet_old_tpl;

void io_quiet_begin(void)
{
	quiet_old_tpl = st->BootServices->RaiseTPL(TPL_HIGH_LEVEL);
}

void io_quiet_end(void)
{
	st->BootServices->RestoreTPL(quiet_old_tpl);
}

static int is_word_char(CHAR16 c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int io_has_option(const char *word)
{
	if (!loaded || !loaded->LoadOptions)
		return 0;
	const CHAR16 *w = loaded->LoadOptions;
	size_t n = loaded->LoadOptionsSize / sizeof(CHAR16), len = strlen(word);
	for (size_t i = 0; i + len <= n; i++) {
		if (i > 0 && is_word_char(w[i - 1]))
			continue;
		size_t k = 0;
		while (k < len && w[i + k] == (unsigned char)word[k])
			k++;
		if (k == len && (i + len == n || !is_word_char(w[i + len])))
			return 1;
	}
	return 0;
}

void io_shutdown(void)
{
	static const char bochs_shutdown[] = "Shutdown";

	if (com1_ok)
		com1_wait(LSR_TEMT); /* the last bytes are still in the UART: let them out first */
	/* Bochs ends the emulation when "Shutdown" is written to port 0x8900; elsewhere nothing
	 * listens there. The firmware's reset comes second. */
	for (const char *p = bochs_shutdown; *p; p++)
		outb(0x8900, (uint8_t)*p);
	st->RuntimeServices->ResetSystem(EfiResetShutdown, EFI_SUCCESS, 0, 0);
	for (;;)
		__asm__ volatile("cli; hlt");
}
