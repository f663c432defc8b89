/* Page allocator for host unit tests of code that takes an alloc_page callback (mm/ept.c,
 * mm/paging.c). Host only: never linked into keel.efi. */
#include "host_pages.h"

#include <stdlib.h>
#include <string.h>

#define HOST_PAGES_MAX 16384

static void *pages[HOST_PAGES_MAX];
static unsigned count, limit = HOST_PAGES_MAX;

void *host_page_alloc(void)
{
	if (count >= limit)
		return NULL;
	void *p = aligned_alloc(4096, 4096);
	if (!p)
		return NULL;
	memset(p, 0, 4096);
	pages[count++] = p;
	return p;
}

int host_pages_reset(void **state)
{
	(void)state;
	for (unsigned i = 0; i < count; i++)
		free(pages[i]);
	count = 0;
	limit = HOST_PAGES_MAX;
	return 0;
}

unsigned host_pages_count(void) { return count; }

void host_pages_limit(unsigned total) { limit = total < HOST_PAGES_MAX ? total : HOST_PAGES_MAX; }
