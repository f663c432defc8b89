/* keel's host page tables: an identity map for VMX root, built once from keel's own pool so the
 * OS cannot reclaim them. Setup time. */
#include "paging.h"

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_PS 0x80ULL
#define GIB (1ULL << 30)

uint64_t paging_build_identity(void *(*alloc_page)(void), uint64_t top, int use_1g, unsigned *tables)
{
	uint64_t *pml4 = alloc_page(), *pdpt = 0;
	unsigned n = 1;

	if (top < 4 * GIB)
		top = 4 * GIB;
	top = (top + GIB - 1) & ~(GIB - 1);
	if (!pml4)
		return 0;
	for (uint64_t g = 0; g < top; g += GIB) {
		unsigned i4 = (unsigned)(g >> 39) & 511, i3 = (unsigned)(g >> 30) & 511;
		if (i3 == 0 || !pdpt) {
			if (i4 == 0 && g >> 39 >= 512)
				break; /* beyond the 256 TiB a 4-level map reaches */
			pdpt = alloc_page();
			if (!pdpt)
				return 0;
			n++;
			pml4[i4] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_W;
		}
		if (use_1g) {
			pdpt[i3] = g | PTE_P | PTE_W | PTE_PS;
			continue;
		}
		uint64_t *pd = alloc_page();
		if (!pd)
			return 0;
		n++;
		for (unsigned i = 0; i < 512; i++)
			pd[i] = (g + ((uint64_t)i << 21)) | PTE_P | PTE_W | PTE_PS;
		pdpt[i3] = (uint64_t)(uintptr_t)pd | PTE_P | PTE_W;
	}
	if (tables)
		*tables = n;
	return (uint64_t)(uintptr_t)pml4;
}
