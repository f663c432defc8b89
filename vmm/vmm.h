/* keel's VMX monitor: the one entry boot/ calls to virtualize the machine.
 * Setup runs under UEFI boot services on the BSP; exits run in VMX root. */
#ifndef KEEL_VMM_VMM_H
#define KEEL_VMM_VMM_H

#include <stdint.h>

#include "caps.h"

/*
 * Virtualizes every logical CPU. Returns NULL on success (at least the BSP virtualized), or the
 * reason virtualization failed on the BSP, with nothing left enabled.
 */
const char *vmm_start(const struct vmx_caps *caps, uint64_t t_entry);

/* True while this CPU is in keel's VM-exit handler. */
int vmm_in_root(void);

#endif
