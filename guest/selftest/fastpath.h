/* The fast-path cases (fastpath.c), named in the case table in cases.c.
 * UEFI boot services, CPL 0, BSP. */
#ifndef SELFTEST_FASTPATH_H
#define SELFTEST_FASTPATH_H

#include "selftest.h"

void fast_step_cpuid_cached(struct result *r);
void fast_step_cpuid_leaf1(struct result *r);
void fast_step_rdmsr(struct result *r);
void fast_step_wrmsr(struct result *r);
void fast_step_in(struct result *r);
void fast_step_out(struct result *r);
void fast_step_vmcall(struct result *r);
void fast_mov_ss_shadow_cpuid(struct result *r);
void fast_sti_shadow_cpuid(struct result *r);
void fast_nmi_self_during_cpuid(struct result *r);

#endif
