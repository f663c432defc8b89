/* The selftest's narrow window on the firmware and the machine: output, options, memory, CPUs.
 * UEFI boot services; only efi_io.c (and the entry point) see firmware types. */
#ifndef SELFTEST_EFI_IO_H
#define SELFTEST_EFI_IO_H

#include <stddef.h>
#include <stdint.h>

void io_init(void *image_handle, void *system_table);

/* One line to COM1, port 0xE9 and the firmware console, "\r\n" appended. BSP only. */
void io_line(const char *s);
/* COM1 and port 0xE9 only: safe on any CPU and inside the exception handler. */
void io_raw(const char *s);

/* 1 if the image's load options contain word as a whole word. */
int io_has_option(const char *word);

/* Masks interrupts the firmware's way (TPL_HIGH_LEVEL) so that no timer callback runs inside a
 * measurement; nothing may print until io_quiet_end(). Does not nest. */
void io_quiet_begin(void);
void io_quiet_end(void);

/* Zeroed, 16-byte aligned boot-services memory, or 0. Never freed: the program is short-lived. */
void *io_alloc(size_t size);

/* One zeroed 4 KiB page below 1 MiB (a real-mode start address for a SIPI), or 0. Never freed. */
void *io_alloc_low_page(void);

/* Busy-waits us microseconds (the firmware's Stall). */
void io_stall_us(unsigned us);

/* Number of processors MP services knows about (1 without MP services). */
unsigned io_cpu_count(void);

/* Calls fn(base, bytes) for every memory-map region the OS could see as memory (all but MMIO and
 * reserved). Returns the number of regions, or -1 when the map could not be read. */
int io_memory_regions(void (*fn)(uint64_t base, uint64_t bytes, void *arg), void *arg);
/* Runs fn(arg) on processor n and waits (at most 10 s). Returns 0 when done, 1 if n is the BSP or
 * disabled (nothing ran), -1 on failure with the reason in why. */
int io_run_on_ap(unsigned n, void (*fn)(void *arg), void *arg, char *why, size_t why_size);

/* Flushes COM1 and powers the machine off. */
__attribute__((noreturn)) void io_shutdown(void);

#endif
