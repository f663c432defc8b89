/* The selftest's shared vocabulary: verdicts, the platform it found, the case table.
 * UEFI application; cases run on the BSP and (those marked CASE_ON_APS) on every AP. */
#ifndef SELFTEST_SELFTEST_H
#define SELFTEST_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "../../arch/x86/cpu.h"

enum verdict { VERDICT_PASS, VERDICT_FAIL, VERDICT_SKIP };

struct result {
	enum verdict verdict;
	char detail[160];
};

/* A case starts as PASS. The first failure's detail is kept; a failure overrides a skip. */
void result_fail(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void result_skip(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What the BSP found before the first case; read-only afterwards (APs read it too). */
struct platform {
	int hv_bit;            /* CPUID.1:ECX[31] */
	int hv_leaf;           /* leaf 0x40000000 holds a hypervisor signature (hv_leaf_read) */
	char hv_sig[13];       /* that signature, non-printable bytes shown as '.' */
	int keel;              /* the signature is KeelKeelKeel */
	uint32_t keel_version; /* CPUID 0x40000001 EAX: major << 16 | minor << 8 | patch */
	int qemu_tcg;          /* QEMU's TCG emulator (signature TCGTCGTCGTCG), natively */
	int bochs;             /* the Bochs emulator, natively or under keel (platform_detect) */
};
extern struct platform platform;

/* Reads leaf 0x40000000 into r; returns 1 if it holds a hypervisor's answer. Without a hypervisor
 * Intel CPUs answer any leaf above the basic maximum with the highest basic leaf's data (SDM Vol.
 * 2A, CPUID), AMD with zeros: neither counts. Runs on any CPU. */
int hv_leaf_read(struct cpuid_regs *r);

#define CASE_ON_APS 1u /* also run on every AP by mp.each_ap */

struct selftest_case {
	const char *name; /* dotted: subsystem.what_is_checked */
	void (*run)(struct result *r);
	unsigned flags;
};
extern const struct selftest_case selftest_cases[];
extern const size_t selftest_case_count;

/* The mp.x2apic.* cases (x2apic.c), run alone with the load option x2apic; report prints one
 * result line. */
void x2apic_cases_run(void (*report)(const char *prefix, const char *name, const struct result *r));

#endif
