/* The benchmark's narrow window on the firmware and the machine: output, load options, power-off.
 * UEFI boot services, BSP; only efi_io.c (and the entry point) see firmware types. */
#ifndef BENCH_EFI_IO_H
#define BENCH_EFI_IO_H

void io_init(void *image_handle, void *system_table);

/* One line to COM1, port 0xE9 and the firmware console, "\r\n" appended. Exits to keel (port 0xE9):
 * never call it inside a timed region. */
void io_line(const char *s);

/* Masks interrupts the firmware's way (TPL_HIGH_LEVEL) so that no timer callback runs inside a
 * measurement; nothing may print until io_quiet_end(). Does not nest. */
void io_quiet_begin(void);
void io_quiet_end(void);

/* 1 if the image's load options contain word as a whole word. */
int io_has_option(const char *word);

/* Flushes COM1 and powers the machine off. */
__attribute__((noreturn)) void io_shutdown(void);

#endif
