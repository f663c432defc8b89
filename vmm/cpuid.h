/* CPUID under keel: the exit handler and the per-vCPU cache the exit stub answers from.
 * Filling runs at setup on the vCPU's own CPU; the handler in VMX root. */
#ifndef KEEL_VMM_CPUID_H
#define KEEL_VMM_CPUID_H

#include "vcpu.h"

/* The guest's answer for its CPUID (leaf RAX, subleaf RCX) into RAX/RBX/RCX/RDX; RIP is the
 * caller's. Reads only those four registers (the fast path saves no others). */
void cpuid_answer(struct vcpu *v, struct guest_regs *r);

/* Fills v->cpuid_cache with the shaped answers of the leaves cpuid_fast_leaves() names, as this
 * CPU gives them (APIC IDs and cache topology are per CPU). Call on v's CPU before launch. */
void cpuid_cache_fill(struct vcpu *v);

#endif
