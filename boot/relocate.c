/* Moves keel out of the loader's memory into pages the OS never reclaims, then runs it there.
 * UEFI boot services, BSP, before any other code touches keel's data.
 *
 * The firmware boot manager only starts EFI applications from Boot#### and removable media, and an
 * application's image is loader memory that the OS takes back after ExitBootServices. keel's VM-exit
 * handler must outlive that, so the entry point copies the whole image into runtime-services data
 * pages and re-applies its R_X86_64_RELATIVE relocations for the new base (SDM-free; ELF gABI). */
#include "relocate.h"

#include "efi.h"

#include "../lib/string.h"

#define DT_NULL 0
#define DT_RELA 7
#define DT_RELASZ 8
#define DT_RELAENT 9
#define R_X86_64_RELATIVE 8

struct elf_dyn {
	int64_t tag;
	uint64_t val;
};

struct elf_rela {
	uint64_t offset;
	uint64_t info;
	int64_t addend;
};

extern char ImageBase[];
extern char __keel_image_end[];
extern struct elf_dyn _DYNAMIC[];

static uint64_t runtime_base;

uint64_t relocate_base(void) { return runtime_base ? runtime_base : (uint64_t)(uintptr_t)ImageBase; }

uint64_t relocate_size(void) { return (uint64_t)(__keel_image_end - ImageBase); }

int relocate_is_runtime(void) { return runtime_base == (uint64_t)(uintptr_t)ImageBase; }

int relocate_and_call(relocated_fn fn, void *a, void *b, uint64_t *ret)
{
	uint64_t size = relocate_size();
	uint64_t base = efi_alloc_code_pages((size + 4095) / 4096);
	if (!base)
		return -1;

	uint64_t rela = 0, relasz = 0, relaent = sizeof(struct elf_rela);
	for (struct elf_dyn *d = _DYNAMIC; d->tag != DT_NULL; d++) {
		if (d->tag == DT_RELA)
			rela = d->val;
		else if (d->tag == DT_RELASZ)
			relasz = d->val;
		else if (d->tag == DT_RELAENT)
			relaent = d->val;
	}
	/* Publish the new base in the copy, not in this image. */
	uint64_t *rb = (uint64_t *)(uintptr_t)(base + ((char *)&runtime_base - ImageBase));

	memcpy((void *)(uintptr_t)base, ImageBase, size);
	for (uint64_t off = 0; off + relaent <= relasz; off += relaent) {
		const struct elf_rela *r = (const void *)(ImageBase + rela + off);
		if ((uint32_t)r->info != R_X86_64_RELATIVE)
			return -2;
		*(uint64_t *)(uintptr_t)(base + r->offset) = base + (uint64_t)r->addend;
	}
	*rb = base;

	relocated_fn copy = (relocated_fn)(uintptr_t)(base + ((char *)(uintptr_t)fn - ImageBase));
	*ret = copy(a, b);
	return 0;
}
