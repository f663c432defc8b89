/* Guest programs' window on the firmware and the machine: COM1, port 0xE9, ConOut, load options,
 * pool memory, MP services, ResetSystem. UEFI boot services; io_raw also on APs. */
#include <efi.h>

#include "efi_io.h"

#include "../../boot/mp_services.h"

#include "../../arch/x86/cpu.h"
#include "../../lib/string.h"


/* EFI_PROCESSOR_INFORMATION (PI vol. 2), with room for the v2 extension some firmware fills. */
struct mp_cpu_info {
	UINT64 processor_id;
	UINT32 status;
	UINT32 location[3];
	UINT32 extended[8];
};
#define MP_STATUS_BSP 0x1
#define MP_STATUS_ENABLED 0x2

#define AP_TIMEOUT_US 10000000

static EFI_SYSTEM_TABLE *st;
static EFI_LOADED_IMAGE *loaded;
static struct mp_services *mp;
static EFI_GUID loaded_image_guid = LOADED_IMAGE_PROTOCOL;
static EFI_GUID mp_guid = MP_SERVICES_GUID;

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

void io_raw(const char *s)
{
	for (const char *p = s; *p; p++)
		outb(DEBUGCON_PORT, (uint8_t)*p);
	outb(DEBUGCON_PORT, '\n');
	if (!com1_ok)
		return;
	for (const char *p = s; *p; p++)
		com1_putc(*p);
	com1_putc('\r');
	com1_putc('\n');
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
	io_raw(s);
	conout_line(s);
}

/* ---- the rest of the firmware interface ---- */
void io_init(void *image_handle, void *system_table)
{
	st = system_table;
	com1_init();
	if (EFI_ERROR(st->BootServices->HandleProtocol(image_handle, &loaded_image_guid, (void **)&loaded)))
		loaded = 0;
	if (EFI_ERROR(st->BootServices->LocateProtocol(&mp_guid, 0, (void **)&mp)))
		mp = 0;
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

void *io_alloc(size_t size)
{
	void *p = 0;
	/* Pool memory is 8-byte aligned: over-allocate and round up to 16. */
	if (EFI_ERROR(st->BootServices->AllocatePool(EfiLoaderData, size + 16, &p)))
		return 0;
	p = (void *)(((uintptr_t)p + 15) & ~(uintptr_t)15);
	return memset(p, 0, size);
}

void *io_alloc_low_page(void)
{
	/* Below the EBDA and the VGA hole (0xA0000): SIPI vectors 0x01-0x9E. */
	EFI_PHYSICAL_ADDRESS a = 0x9EFFF;
	if (EFI_ERROR(st->BootServices->AllocatePages(AllocateMaxAddress, EfiLoaderData, 1, &a)) || a < 0x1000)
		return 0;
	return memset((void *)(uintptr_t)a, 0, 4096);
}

void io_stall_us(unsigned us) { st->BootServices->Stall(us); }

unsigned io_cpu_count(void)
{
	UINTN total = 1, enabled = 1;
	if (!mp || EFI_ERROR(mp->GetNumberOfProcessors(mp, &total, &enabled)))
		return 1;
	return (unsigned)total;
}


static const char *status_name(EFI_STATUS s)
{
	switch (s) {
	case EFI_INVALID_PARAMETER: return "EFI_INVALID_PARAMETER";
	case EFI_UNSUPPORTED: return "EFI_UNSUPPORTED";
	case EFI_NOT_READY: return "EFI_NOT_READY";
	case EFI_DEVICE_ERROR: return "EFI_DEVICE_ERROR";
	case EFI_NOT_FOUND: return "EFI_NOT_FOUND";
	case EFI_TIMEOUT: return "EFI_TIMEOUT";
	case EFI_NOT_STARTED: return "EFI_NOT_STARTED";
	default: return "EFI error";
	}
}

int io_run_on_ap(unsigned n, void (*fn)(void *arg), void *arg, char *why, size_t why_size)
{
	struct mp_cpu_info info;
	if (!mp) {
		strlcpy(why, "no MP services protocol", why_size);
		return -1;
	}
	memset(&info, 0, sizeof(info));
	EFI_STATUS s = mp->GetProcessorInfo(mp, n, &info);
	if (EFI_ERROR(s)) {
		strlcpy(why, "GetProcessorInfo: ", why_size);
		strlcpy(why + strlen(why), status_name(s), why_size - strlen(why));
		return -1;
	}
	if ((info.status & MP_STATUS_BSP) || !(info.status & MP_STATUS_ENABLED))
		return 1;
	struct mp_call call = { fn, arg };
	s = mp->StartupThisAP(mp, mp_call_trampoline, n, 0, AP_TIMEOUT_US, &call, 0);
	if (EFI_ERROR(s)) {
		strlcpy(why, "StartupThisAP: ", why_size);
		strlcpy(why + strlen(why), status_name(s), why_size - strlen(why));
		return -1;
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

int io_memory_regions(void (*fn)(uint64_t base, uint64_t bytes, void *arg), void *arg)
{
	UINTN size = 0, key, dsize;
	UINT32 dver;
	EFI_MEMORY_DESCRIPTOR *map = 0;
	EFI_STATUS s = st->BootServices->GetMemoryMap(&size, map, &key, &dsize, &dver);
	if (s != EFI_BUFFER_TOO_SMALL)
		return -1;
	size += 8 * dsize; /* the allocation below may add entries */
	map = io_alloc(size);
	if (!map || EFI_ERROR(st->BootServices->GetMemoryMap(&size, map, &key, &dsize, &dver)))
		return -1;
	int n = 0;
	for (UINTN off = 0; off + dsize <= size; off += dsize) {
		EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)((char *)map + off);
		if (d->Type == EfiMemoryMappedIO || d->Type == EfiMemoryMappedIOPortSpace ||
		    d->Type == EfiReservedMemoryType || d->Type == EfiUnusableMemory)
			continue;
		fn(d->PhysicalStart, d->NumberOfPages * 4096, arg);
		n++;
	}
	return n;
}

static EFI_TPL quiet_old_tpl;

void io_quiet_begin(void) { quiet_old_tpl = st->BootServices->RaiseTPL(TPL_HIGH_LEVEL); }

void io_quiet_end(void) { st->BootServices->RestoreTPL(quiet_old_tpl); }
