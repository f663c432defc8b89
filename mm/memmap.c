/* Firmware-neutral view of the physical memory map and its summary.
 * Pure logic; boot/ converts the firmware's descriptors into struct mem_region. */
#include "memmap.h"

#include "../lib/string.h"

#define PAGE_MASK 0xFFFULL

const char *mem_type_name(enum mem_type t)
{
	static const char *const names[MEM_TYPE_COUNT] = {
		"usable", "reserved", "runtime", "acpi", "nvs", "mmio", "unusable", "persistent",
	};
	return (unsigned)t < MEM_TYPE_COUNT ? names[t] : "invalid";
}

unsigned memmap_summarize(const struct mem_region *r, size_t n, struct memmap_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->regions = (unsigned)n;

	for (size_t i = 0; i < n; i++) {
		enum mem_type t = r[i].type;
		uint64_t size = r[i].size;

		if ((unsigned)t >= MEM_TYPE_COUNT) {
			s->bad_type++;
			t = MEM_UNUSABLE;
		}
		if (size == 0) {
			s->empty++;
			continue;
		}
		if ((r[i].base | size) & PAGE_MASK)
			s->unaligned++;
		if (r[i].base + size < r[i].base) {
			s->wrapped++;
			size = ~r[i].base;
		}
		uint64_t end = r[i].base + size;
		if (i && r[i].base < r[i - 1].base)
			s->unsorted++;
		for (size_t j = 0; j < i; j++) {
			uint64_t jend = r[j].base + r[j].size;
			if (jend < r[j].base)
				jend = 0 - 1ULL;
			if (r[j].size && r[i].base < jend && r[j].base < end) {
				s->overlaps++;
				break;
			}
		}
		s->by_type[t]++;
		s->bytes[t] += size;
		if (t == MEM_USABLE)
			s->usable_bytes += size;
		if (t != MEM_MMIO && end > s->ram_top)
			s->ram_top = end;
		if (end > s->phys_top)
			s->phys_top = end;
	}
	return s->empty + s->unaligned + s->wrapped + s->overlaps + s->unsorted + s->bad_type;
}
