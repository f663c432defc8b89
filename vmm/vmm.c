/* keel's VMX monitor: top-level start-up.
 * UEFI boot services on the BSP. */
#include "vmm.h"

const char *vmm_start(const struct vmx_caps *caps, uint64_t t_entry)
{
	(void)caps;
	(void)t_entry;
	return "keel's VMX monitor is not built yet";
}

int vmm_in_root(void) { return 0; }
