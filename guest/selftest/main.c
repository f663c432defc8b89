/* selftest.efi: runs every case of cases.c on the BSP and a subset on each AP, one line per case,
 * then powers off; with the load option x2apic only the mp.x2apic cases of x2apic.c. UEFI application, natively or inside a machine keel has virtualized. */
#include <efi.h>

#include "../common/efi_io.h"
#include "selftest.h"
#include "trap.h"

#include "../../arch/x86/cr.h"
#include "../../lib/fmt.h"
#include "../../lib/string.h"
#include "../../vmm/hypercall_abi.h"

#define MAX_AP_CASES 96

struct platform platform;

static unsigned passed, failed, skipped;

/* ---- results ---- */
static void result_vset(struct result *r, enum verdict v, const char *fmt, va_list ap)
{
	if (r->verdict == VERDICT_FAIL)
		return; /* keep the first failure */
	r->verdict = v;
	fmt_vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
}

void result_fail(struct result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	result_vset(r, VERDICT_FAIL, fmt, ap);
	va_end(ap);
}

void result_skip(struct result *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	result_vset(r, VERDICT_SKIP, fmt, ap);
	va_end(ap);
}

static void report(const char *prefix, const char *name, const struct result *r)
{
	char line[256];
	switch (r->verdict) {
	case VERDICT_PASS:
		passed++;
		fmt_snprintf(line, sizeof(line), "PASS %s%s", prefix, name);
		break;
	case VERDICT_FAIL:
		failed++;
		fmt_snprintf(line, sizeof(line), "FAIL %s%s: %s", prefix, name, r->detail);
		break;
	default:
		skipped++;
		fmt_snprintf(line, sizeof(line), "SKIP %s%s: %s", prefix, name, r->detail);
		break;
	}
	io_line(line);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	io_line(line);
}

/* ---- platform ---- */
int hv_leaf_read(struct cpuid_regs *r)
{
	struct cpuid_regs max, top;
	cpuid(0, 0, &max);
	cpuid(max.eax, 0, &top);
	cpuid(KEEL_CPUID_LEAF, 0, r);
	if (r->eax < KEEL_CPUID_LEAF || r->eax > KEEL_CPUID_LEAF + 0xFFFF)
		return 0;
	if (!(r->ebx | r->ecx | r->edx))
		return 0;
	return memcmp(r, &top, sizeof(top)) != 0;
}

/* Bochs answers the Bochs VBE "DISPI" ID register (index 0 at port 0x1CE, data at 0x1CF) with
 * 0xB0C0-0xB0C5. QEMU's standard VGA copies that interface, but QEMU also has fw_cfg, whose
 * signature register (selector 0 at port 0x510, data at 0x511) reads "QEMU". Real machines have
 * neither. Under keel both stay visible: keel does not trap these ports. */
static int platform_is_bochs(void)
{
	outw(0x1CE, 0);
	if ((inw(0x1CF) & 0xFFF0) != 0xB0C0)
		return 0;
	char sig[4];
	outw(0x510, 0);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)inb(0x511);
	return memcmp(sig, "QEMU", 4) != 0;
}

static void platform_detect(struct platform *p)
{
	struct cpuid_regs r;
	cpuid(1, 0, &r);
	p->hv_bit = !!(r.ecx & CPUID1_ECX_HYPERVISOR);
	p->hv_leaf = hv_leaf_read(&r);
	uint32_t words[3] = { r.ebx, r.ecx, r.edx };
	memcpy(p->hv_sig, words, 12);
	for (int i = 0; i < 12; i++)
		if (p->hv_sig[i] < 0x20 || p->hv_sig[i] > 0x7E)
			p->hv_sig[i] = '.';
	p->keel = p->hv_leaf && r.ebx == KEEL_CPUID_SIG_EBX && r.ecx == KEEL_CPUID_SIG_ECX &&
		  r.edx == KEEL_CPUID_SIG_EDX;
	p->qemu_tcg = p->hv_leaf && !memcmp(p->hv_sig, "TCGTCGTCGTCG", 12);
	if (p->keel && r.eax >= KEEL_CPUID_MAX_LEAF) {
		cpuid(KEEL_CPUID_MAX_LEAF, 0, &r);
		p->keel_version = r.eax;
	}
	p->bochs = platform_is_bochs();
}

/* ---- running cases ---- */
struct case_call {
	const struct selftest_case *c;
	struct result *r;
};

static void case_entry(void *p)
{
	struct case_call *call = p;
	call->c->run(call->r);
}

/* Runs one case under this CPU's harness; an exception nobody expected fails the case. */
static void run_case(const struct selftest_case *c, struct result *r, struct trap_cpu *tc)
{
	struct case_call call = { c, r };
	r->verdict = VERDICT_PASS;
	r->detail[0] = 0;
	trap_enter(tc);
	struct fault f = trap_catch(case_entry, &call);
	trap_leave(tc);
	if (f.vector != TRAP_NONE) {
		char what[32];
		trap_describe(&f, what, sizeof(what));
		result_fail(r, "unexpected %s at rip 0x%lx", what, (unsigned long)f.rip);
	}
}

/* ---- mp.each_ap ---- */
struct ap_job {
	struct trap_cpu *tc;
	struct result results[MAX_AP_CASES];
};

/* On the AP: runs the CASE_ON_APS cases, results to memory only (ConOut is not MP-safe). */
static void ap_main(void *p)
{
	struct ap_job *job = p;
	unsigned k = 0;
	for (size_t i = 0; i < selftest_case_count && k < MAX_AP_CASES; i++)
		if (selftest_cases[i].flags & CASE_ON_APS)
			run_case(&selftest_cases[i], &job->results[k++], job->tc);
}

/* Each AP gets its own job: one that timed out may still be writing to its memory. */
static void run_on_aps(void)
{
	struct result each = { VERDICT_PASS, "" };
	unsigned n = io_cpu_count(), aps = 0;

	/* Waking an AP is INIT-SIPI-SIPI under OVMF; on Bochs 2.7 an INIT to a virtualized AP is never
	 * consumed (Bochs errata, docs/testing.md), so tests there pass "nomp". */
	if (io_has_option("nomp")) {
		result_skip(&each, "disabled by the load option nomp");
		report("", "mp.each_ap", &each);
		return;
	}

	unsigned flagged = 0;
	for (size_t i = 0; i < selftest_case_count; i++)
		flagged += !!(selftest_cases[i].flags & CASE_ON_APS);
	if (flagged > MAX_AP_CASES)
		result_fail(&each, "%u cases marked CASE_ON_APS, room for %u: only the first run", flagged,
			    MAX_AP_CASES);

	for (unsigned cpu = 0; cpu < n; cpu++) {
		char why[64], prefix[24];
		struct ap_job *job = io_alloc(sizeof(*job));
		if (job)
			job->tc = io_alloc(sizeof(*job->tc));
		if (!job || !job->tc) {
			result_fail(&each, "cpu%u: out of memory", cpu);
			break;
		}
		int rc = io_run_on_ap(cpu, ap_main, job, why, sizeof(why));
		if (rc == 1)
			continue;
		if (rc < 0) {
			result_fail(&each, "cpu%u: %s", cpu, why);
			continue;
		}
		aps++;
		fmt_snprintf(prefix, sizeof(prefix), "mp.cpu%u.", cpu);
		unsigned k = 0;
		for (size_t i = 0; i < selftest_case_count && k < MAX_AP_CASES; i++)
			if (selftest_cases[i].flags & CASE_ON_APS)
				report(prefix, selftest_cases[i].name, &job->results[k++]);
	}
	if (aps == 0 && each.verdict == VERDICT_PASS)
		result_skip(&each, n <= 1 ? "one CPU" : "no enabled AP");
	report("", "mp.each_ap", &each);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	io_init(image, systab);
	platform_detect(&platform);
	if (platform.keel)
		say("selftest: hypervisor keel %u.%u.%u", platform.keel_version >> 16,
		    (platform.keel_version >> 8) & 0xFF, platform.keel_version & 0xFF);
	else if (platform.hv_bit)
		say("selftest: hypervisor other %s", platform.hv_sig);
	else
		say("selftest: no hypervisor");

	struct trap_cpu *tc = io_alloc(sizeof(*tc));
	if (!tc) {
		say("selftest: out of memory");
		return EFI_OUT_OF_RESOURCES;
	}
	if (io_has_option("x2apic")) {
		/* Only the mp.x2apic cases: they take the APs from MP services for good. */
		x2apic_cases_run(report);
	} else {
		for (size_t i = 0; i < selftest_case_count; i++) {
			struct result r;
			run_case(&selftest_cases[i], &r, tc);
			report("", selftest_cases[i].name, &r);
		}
		run_on_aps();
	}

	say("selftest: %u passed, %u failed, %u skipped", passed, failed, skipped);
	if (io_has_option("noshutdown"))
		return EFI_SUCCESS;
	io_shutdown();
}
