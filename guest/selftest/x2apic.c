/*
 * mp.x2apic.*: the BSP and every AP in x2APIC mode, and the BSP restarting each AP the way an OS
 * does, through the x2APIC ICR (WRMSR 0x830): INIT-SIPI-SIPI, INIT twice before the SIPI, a SIPI
 * right behind its INIT, and INIT-SIPI-SIPI to all but self; three rounds of each, the SIPI vector
 * alternating between two start pages. Each start runs sipi_tramp.asm, which counts it in the
 * AP's slot together with the CS it began with and CPUID 0x40000000's answer in real mode.
 *
 * Only with the load option x2apic, and then alone: the APs leave MP services for good and the BSP
 * stays in x2APIC mode. UEFI application, BSP.
 */
#include "../common/efi_io.h"
#include "selftest.h"

#include "../../arch/x86/msr.h"
#include "../../lib/fmt.h"
#include "../../lib/string.h"
#include "../../vmm/hypercall_abi.h"

#define MSR_X2APIC_ID 0x802
#define ICR_INIT 0x4500u /* INIT, level assert, physical (SDM Vol. 3A 11.12.9) */
#define ICR_SIPI 0x4600u /* start-up, vector in bits 7:0 */
#define ICR_ALL_BUT_SELF (3u << 18)
#define ROUNDS 3

/* The start page: the code at offset 0, one slot per initial APIC ID at SIPI_SLOTS. */
#define SIPI_SLOTS 0x200
#define SIPI_MAX_ID 223
#define MAX_APS (SIPI_MAX_ID + 1) /* each needs a slot */
struct sipi_slot {
	uint32_t starts; /* incremented by each start */
	uint16_t cs;     /* the CS it began with: vector << 8 */
	uint16_t unused;
	uint32_t hv_ebx; /* CPUID 0x40000000 EBX in real mode */
	uint32_t unused2;
};
_Static_assert(SIPI_SLOTS + (SIPI_MAX_ID + 1) * sizeof(struct sipi_slot) <= 4096, "slots fit the page");

extern const uint8_t sipi_tramp_start[], sipi_tramp_end[];

struct ap {
	uint32_t id;  /* initial APIC ID (CPUID.1:EBX[31:24]) */
	uint32_t x2id; /* x2APIC ID register, in x2APIC mode */
	int x2apic;   /* its APIC is in x2APIC mode */
};

static void ap_enter_x2apic(void *p)
{
	struct ap *a = p;
	struct cpuid_regs r;
	cpuid(1, 0, &r);
	a->id = r.ebx >> 24;
	wrmsr(MSR_IA32_APIC_BASE, rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_X2APIC_MODE);
	a->x2apic = !!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC_MODE);
	a->x2id = a->x2apic ? (uint32_t)rdmsr(MSR_X2APIC_ID) : 0;
}

static void icr(uint32_t lo, uint32_t dest) { wrmsr(MSR_X2APIC_ICR, (uint64_t)dest << 32 | lo); }

static volatile struct sipi_slot *slot(uint8_t *page, uint32_t id)
{
	return (volatile struct sipi_slot *)(page + SIPI_SLOTS) + id;
}

/* Waits (at most 1 s) until the slot counts want starts, then 20 ms more for an extra one. */
static uint32_t wait_starts(volatile struct sipi_slot *s, uint32_t want)
{
	for (unsigned t = 0; t < 10000 && __atomic_load_n(&s->starts, __ATOMIC_SEQ_CST) < want; t++)
		io_stall_us(100);
	io_stall_us(20000);
	return __atomic_load_n(&s->starts, __ATOMIC_SEQ_CST);
}

/* Checks one AP's slot after a sequence that should have started it exactly once more. */
static void check_start(struct result *r, const char *what, unsigned round, const struct ap *a, uint8_t *page,
			uint32_t before)
{
	volatile struct sipi_slot *s = slot(page, a->id);
	uint32_t got = wait_starts(s, before + 1);
	unsigned vector = (unsigned)((uintptr_t)page >> 12);
	if (got != before + 1)
		result_fail(r, "round %u, %s: APIC ID %u started %u times, want 1", round, what, a->id, got - before);
	else if (s->cs != vector << 8)
		result_fail(r, "round %u, %s: APIC ID %u began at CS 0x%x, want 0x%x (vector 0x%x)", round, what, a->id,
			    s->cs, vector << 8, vector);
	else if (platform.keel && s->hv_ebx != KEEL_CPUID_SIG_EBX)
		result_fail(r, "round %u, %s: APIC ID %u: CPUID 0x40000000 EBX 0x%x in real mode, not keel's", round,
			    what, a->id, s->hv_ebx);
}

struct x2apic_run {
	struct ap aps[MAX_APS];
	unsigned naps;
	uint8_t *page[2];
	struct result per_ap, twice, at_once, broadcast;
};

static void one_round(struct x2apic_run *x, unsigned round)
{
	for (unsigned i = 0; i < x->naps; i++) {
		const struct ap *a = &x->aps[i];
		uint8_t *p = x->page[(round + i) & 1];
		uint32_t vec = (uint32_t)((uintptr_t)p >> 12), before = slot(p, a->id)->starts;

		/* What an OS does (SDM Vol. 3A 9.4.4.1): INIT, a pause, SIPI, SIPI. The second finds
		 * the AP running, outside wait-for-SIPI, and must not start it again. */
		icr(ICR_INIT, a->x2id);
		io_stall_us(10000);
		icr(ICR_SIPI | vec, a->x2id);
		io_stall_us(200);
		icr(ICR_SIPI | vec, a->x2id);
		check_start(&x->per_ap, "INIT-SIPI-SIPI", round, a, p, before);

		/* A second INIT reaches the AP in wait-for-SIPI; the SIPI still starts it. */
		p = x->page[(round + i + 1) & 1];
		vec = (uint32_t)((uintptr_t)p >> 12);
		before = slot(p, a->id)->starts;
		icr(ICR_INIT, a->x2id);
		io_stall_us(10000);
		icr(ICR_INIT, a->x2id);
		io_stall_us(10000);
		icr(ICR_SIPI | vec, a->x2id);
		check_start(&x->twice, "INIT-INIT-SIPI", round, a, p, before);

		/* The SIPI right behind its INIT: under keel it can reach the AP while keel still
		 * handles the INIT, in VMX root, where the CPU drops it; keel keeps it (vmm/sipi.c). */
		if (platform.keel) {
			p = x->page[(round + i) & 1];
			vec = (uint32_t)((uintptr_t)p >> 12);
			before = slot(p, a->id)->starts;
			icr(ICR_INIT, a->x2id);
			icr(ICR_SIPI | vec, a->x2id);
			check_start(&x->at_once, "INIT+SIPI at once", round, a, p, before);
		}
	}

	/* To all but self: one INIT and two SIPIs start every AP once. */
	uint8_t *p = x->page[round & 1];
	uint32_t vec = (uint32_t)((uintptr_t)p >> 12), before[MAX_APS];
	for (unsigned i = 0; i < x->naps; i++)
		before[i] = slot(p, x->aps[i].id)->starts;
	icr(ICR_INIT | ICR_ALL_BUT_SELF, 0);
	io_stall_us(10000);
	icr(ICR_SIPI | ICR_ALL_BUT_SELF | vec, 0);
	io_stall_us(200);
	icr(ICR_SIPI | ICR_ALL_BUT_SELF | vec, 0);
	for (unsigned i = 0; i < x->naps; i++)
		check_start(&x->broadcast, "all-but-self INIT-SIPI-SIPI", round, &x->aps[i], p, before[i]);
}

/* Puts every AP and then the BSP in x2APIC mode; 0, or -1 with r failed or skipped. */
static int enter_x2apic(struct x2apic_run *x, struct result *r)
{
	unsigned n = io_cpu_count();
	for (unsigned cpu = 0; cpu < n; cpu++) {
		char why[64];
		if (x->naps == MAX_APS) {
			result_fail(r, "more than %u APs", MAX_APS);
			return -1;
		}
		struct ap *a = &x->aps[x->naps];
		int rc = io_run_on_ap(cpu, ap_enter_x2apic, a, why, sizeof(why));
		if (rc == 1)
			continue;
		if (rc < 0) {
			result_fail(r, "cpu%u: %s", cpu, why);
			return -1;
		}
		if (!a->x2apic || a->x2id != a->id) {
			result_fail(r, "cpu%u: x2APIC mode %s, x2APIC ID %u, initial APIC ID %u", cpu,
				    a->x2apic ? "on" : "did not turn on", a->x2id, a->id);
			return -1;
		}
		if (a->id > SIPI_MAX_ID) {
			result_skip(r, "cpu%u: APIC ID %u has no slot in the start page", cpu, a->id);
			return -1;
		}
		x->naps++;
	}
	if (!x->naps) {
		result_skip(r, n <= 1 ? "one CPU" : "no enabled AP");
		return -1;
	}
	wrmsr(MSR_IA32_APIC_BASE, rdmsr(MSR_IA32_APIC_BASE) | APIC_BASE_X2APIC_MODE);
	if (!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_X2APIC_MODE)) {
		result_fail(r, "the BSP's APIC did not enter x2APIC mode");
		return -1;
	}
	return 0;
}

void x2apic_cases_run(void (*report)(const char *prefix, const char *name, const struct result *r))
{
	static struct x2apic_run x;
	struct result mode = { VERDICT_PASS, "" };
	struct cpuid_regs c;
	size_t len = (size_t)(sipi_tramp_end - sipi_tramp_start);

	cpuid(1, 0, &c);
	if (!(c.ecx & BIT(21))) {
		result_skip(&mode, "no x2APIC (CPUID.1:ECX[21] clear)");
	} else if (!(x.page[0] = io_alloc_low_page()) || !(x.page[1] = io_alloc_low_page())) {
		result_fail(&mode, "no free page below 1 MiB for the start code");
	} else if (enter_x2apic(&x, &mode) == 0) {
		memcpy(x.page[0], sipi_tramp_start, len);
		memcpy(x.page[1], sipi_tramp_start, len);
		for (unsigned round = 1; round <= ROUNDS; round++)
			one_round(&x, round);
	}
	report("", "mp.x2apic.all_cpus_in_x2apic_mode", &mode);
	if (mode.verdict != VERDICT_PASS)
		return;
	if (!platform.keel)
		result_skip(&x.at_once, "natively: the SDM wants a pause between INIT and SIPI");
	report("", "mp.x2apic.init_sipi_sipi", &x.per_ap);
	report("", "mp.x2apic.init_init_sipi", &x.twice);
	report("", "mp.x2apic.sipi_right_after_init", &x.at_once);
	report("", "mp.x2apic.all_but_self_init_sipi_sipi", &x.broadcast);

	char line[160];
	uint32_t total = 0;
	for (unsigned i = 0; i < x.naps; i++)
		total += slot(x.page[0], x.aps[i].id)->starts + slot(x.page[1], x.aps[i].id)->starts;
	fmt_snprintf(line, sizeof(line), "selftest: x2apic: %u APs, %u starts through MSR 0x830, vectors 0x%x and 0x%x",
		     x.naps, total, (unsigned)((uintptr_t)x.page[0] >> 12), (unsigned)((uintptr_t)x.page[1] >> 12));
	io_line(line);
}
