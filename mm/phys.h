/* Physical memory as keel's code reaches it: keel runs on an identity map, so a physical address
 * is its own pointer. Any context; no state. */
#ifndef KEEL_MM_PHYS_H
#define KEEL_MM_PHYS_H

#include <stdint.h>

#ifdef KEEL_HOST_FAKES
/* Host fuzz builds (tests/fuzz) run keel's exit path as a Linux process: "physical memory" is a
 * buffer the harness maps at phys_host_base. */
extern uintptr_t phys_host_base;
static inline void *phys_ptr(uint64_t pa) { return (void *)(phys_host_base + (uintptr_t)pa); }
#else
static inline void *phys_ptr(uint64_t pa) { return (void *)(uintptr_t)pa; }
#endif

#endif
