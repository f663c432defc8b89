/* The narrow interface between keel and the UEFI firmware: files, memory, CPUs, next image.
 * UEFI boot services only; implemented in boot/efi.c, the one place that knows firmware types. */
#ifndef KEEL_BOOT_EFI_H
#define KEEL_BOOT_EFI_H

#include <stddef.h>
#include <stdint.h>

#include "../mm/memmap.h"

struct efi_ctx; /* opaque: the image handle and system table */

/* Binds the interface to this image; returns 0 or -1 with a message logged. */
int efi_init(void *image_handle, void *system_table);

/* Load options as ASCII (non-ASCII characters become '?'); returns the length, 0 if none. */
size_t efi_load_options(char *buf, size_t size);

/*
 * Reads a whole file from keel's own volume into buf. Returns its length, or -1 when it does not
 * exist, -2 when it is larger than size, -3 on another error (logged with the firmware status).
 */
long efi_read_file(const char *path, char *buf, size_t size);

/* Writes a line to the firmware console (ASCII); safe only on the BSP with boot services up. */
void efi_console_write(const char *s, size_t n);

/*
 * 1 when the firmware console also writes to COM1 (a serial terminal on the first ISA serial port
 * is among the ConOut devices, as OVMF sets up under QEMU and Bochs), else 0.
 */
int efi_console_mirrors_com1(void);

/* Fills up to max regions from the firmware memory map; returns the count or -1. */
int efi_memory_map(struct mem_region *r, size_t max);

/* Allocates pages that survive ExitBootServices (runtime-services data), zeroed; 0 on failure. */
uint64_t efi_alloc_pages(size_t pages);
/* The same, as EfiRuntimeServicesCode: for pages keel executes from. */
uint64_t efi_alloc_code_pages(size_t pages);

/* Logical CPUs reported by the MP services protocol; 1 when it is missing. */
int efi_cpu_count(unsigned *total, unsigned *enabled);

/* Runs fn(arg) on every enabled AP, one at a time, and waits. Returns 0 or -1. */
int efi_run_on_aps(void (*fn)(void *arg), void *arg);

/* This CPU's MP-services number (0 = BSP), or 0 when the protocol is missing. */
unsigned efi_cpu_number(void);

/*
 * Loads and starts path (on keel's volume) with args (ASCII) as its load options. Returns only
 * when the image fails to load or returns; the result is logged.
 */
int efi_start_image(const char *path, const char *args);

/* Stops the machine politely (ResetSystem shutdown); used by on_error=halt after a delay. */
void efi_stall_us(uint64_t us);

#endif
