/* A software VM-entry checker: the SDM's checks on VMX controls, host state and guest state
 * (Vol. 3C 26.2-26.3), each rule named, run on the current VMCS. VMX root or setup. */
#ifndef KEEL_VMM_VMCHECK_H
#define KEEL_VMM_VMCHECK_H

#include "caps.h"

/* Receives each broken rule: its short name, its SDM section and a detail line. */
typedef void (*vmcheck_report_fn)(void *ctx, const char *rule, const char *sdm, const char *detail);

/*
 * Checks the current VMCS against the rules in vmcheck.c, using the capability MSRs in caps.
 * Returns the number of broken rules (0: nothing found; the CPU may still refuse the entry for
 * a rule keel does not check).
 */
unsigned vmcheck_run(const struct vmx_caps *caps, vmcheck_report_fn report, void *ctx);

#endif
