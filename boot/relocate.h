/* Moves keel out of the loader's memory into pages the OS never reclaims, then runs it there.
 * UEFI boot services, BSP. */
#ifndef KEEL_BOOT_RELOCATE_H
#define KEEL_BOOT_RELOCATE_H

#include <stdint.h>

typedef uint64_t (*relocated_fn)(void *a, void *b);

/*
 * Copies the image into runtime-services data, relocates it, and calls the copy's fn(a, b),
 * storing its result in *ret. Returns 0, -1 when no memory could be had, -2 on a relocation type
 * other than R_X86_64_RELATIVE (the link is then broken: a build error, not a runtime one).
 * Precondition: no static data has been written yet (the copy starts from it).
 */
int relocate_and_call(relocated_fn fn, void *a, void *b, uint64_t *ret);

/* Where the running copy of keel lives, and its size. */
uint64_t relocate_base(void);
uint64_t relocate_size(void);
/* True in the copy. */
int relocate_is_runtime(void);

#endif
