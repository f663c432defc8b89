/* bench.efi: what each kind of VM exit costs, as "bench: <name> <ticks per operation>" lines, run
 * natively and under keel (tools/bench.sh compares the two), then has keel print its exit census
 * and powers off. UEFI application, BSP.
 *
 * Method: every sample times one operation between serialized TSC reads (ops.c); a benchmark takes
 * SAMPLES samples and reports their median minus the median of an empty window (clamped at 0): the
 * median keeps outliers (SMIs, cache misses on hardware) out. The samples run at TPL_HIGH_LEVEL, so
 * no firmware timer callback runs between them: its CPUIDs would otherwise show up in the exit
 * counts. Exits keel itself would cause (external-interrupt exiting, preemption timer) happen with
 * interrupts masked too and still count. On Bochs the TSC counts instructions: the figures are exact. */
#include <efi.h>

#include "../common/efi_io.h"
#include "ops.h"

#include "../../arch/x86/cpu.h"
#include "../../arch/x86/cr.h"
#include "../../lib/fmt.h"
#include "../../vmm/hypercall_abi.h"

#define SAMPLES 1000

static struct {
	int keel;              /* CPUID leaf 0x40000000 says KeelKeelKeel */
	uint32_t keel_version; /* leaf 0x40000001 EAX: major << 16 | minor << 8 | patch */
	int hv_bit;            /* CPUID.1:ECX[31]: some hypervisor */
	char hv_sig[13];       /* leaf 0x40000000's signature, non-printable bytes as '.' */
	int vmx_or_smx;        /* CPUID.1:ECX: the CPU has IA32_FEATURE_CONTROL (SDM Vol. 4, 0x3A) */
} platform;

static uint64_t samples[SAMPLES];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	io_line(line);
}

/* ---- keel ---- */

static long keel_hypercall(uint64_t nr, uint64_t *rbx, uint64_t *rcx)
{
	uint64_t rax = nr, rdx = 0;
	__asm__ volatile("vmcall" : "+a"(rax), "+b"(*rbx), "+c"(*rcx), "+d"(rdx) : : "memory");
	return (long)rax;
}

/* VM exits CPU 0 (the BSP, which runs this program) has taken so far, or -1 if the call failed. */
static int64_t keel_exits(void)
{
	uint64_t cpu = 0, reason = KEEL_STATS_TOTAL;
	if (keel_hypercall(KEEL_HC_STATS, &cpu, &reason) != KEEL_HC_OK)
		return -1;
	return (int64_t)cpu;
}

static void platform_detect(void)
{
	struct cpuid_regs r;
	cpuid(1, 0, &r);
	platform.hv_bit = !!(r.ecx & CPUID1_ECX_HYPERVISOR);
	platform.vmx_or_smx = !!(r.ecx & (CPUID1_ECX_VMX | CPUID1_ECX_SMX));
	cpuid(KEEL_CPUID_LEAF, 0, &r);
	uint32_t words[3] = { r.ebx, r.ecx, r.edx };
	const char *w = (const char *)words;
	for (int i = 0; i < 12; i++)
		platform.hv_sig[i] = w[i] >= 0x20 && w[i] <= 0x7E ? w[i] : '.';
	platform.keel = r.ebx == KEEL_CPUID_SIG_EBX && r.ecx == KEEL_CPUID_SIG_ECX &&
			r.edx == KEEL_CPUID_SIG_EDX;
	if (platform.keel && r.eax >= KEEL_CPUID_MAX_LEAF) {
		cpuid(KEEL_CPUID_MAX_LEAF, 0, &r);
		platform.keel_version = r.eax;
	}
}

/* ---- the benchmarks ---- */

/* Each returns 0 when its operation can run here, else why not. */
static const char *vmcall_why_not(void)
{
	static char why[48];
	uint64_t b = 0, c = 0;
	if (!platform.keel)
		return "no keel: VMCALL raises #UD";
	long s = keel_hypercall(KEEL_HC_NOP, &b, &c);
	if (s == KEEL_HC_OK)
		return 0;
	fmt_snprintf(why, sizeof(why), "KEEL_HC_NOP returned %ld", s);
	return why;
}

static const char *rdmsr_why_not(void)
{
	return platform.keel || platform.vmx_or_smx ? 0 : "no IA32_FEATURE_CONTROL";
}

/* RDPMC of counter 0 at CPL 0 needs a general-purpose counter (CPUID leaf 0xA, EAX[15:8]). */
static const char *rdpmc_why_not(void)
{
	struct cpuid_regs r;
	cpuid(0, 0, &r);
	if (r.eax < 0xA)
		return "no CPUID leaf 0xA";
	cpuid(0xA, 0, &r);
	return (r.eax & 0xFF) && ((r.eax >> 8) & 0xFF) ? 0 : "no general-purpose counter";
}

struct bench {
	const char *name;
	uint64_t (*time_one)(void);
	const char *(*why_not)(void); /* 0: runs everywhere */
};

static const struct bench benches[] = {
	{ "cpuid", time_cpuid, 0 },
	{ "vmcall", time_vmcall, vmcall_why_not },
	{ "rdmsr", time_rdmsr, rdmsr_why_not },
	{ "wrmsr", time_wrmsr, 0 },
	{ "in", time_in, 0 },
	{ "out", time_out, 0 },
	{ "mov_cr0", time_mov_cr0, 0 },
	{ "compute", time_compute, 0 },
	{ "empty", time_empty, 0 }, /* its _exits: the window's own (RDTSC, RDTSCP under trap=rdtsc) */
	{ "rdtsc", time_rdtsc, 0 },
	{ "rdpmc", time_rdpmc, rdpmc_why_not },
	{ "mov_dr", time_mov_dr, 0 },
	{ "sgdt", time_sgdt, 0 },
	{ "lgdt", time_lgdt, 0 },
	{ "invlpg", time_invlpg, 0 },
	{ "wbinvd", time_wbinvd, 0 },
	{ "pause", time_pause, 0 },
	{ "in_80", time_in_80, 0 },
	{ "out_80", time_out_80, 0 },
	{ "outsb_80", time_outsb_80, 0 },
	{ "rdmsr_pass", time_rdmsr_pass, 0 },
	{ "int3", time_int3, 0 },
};

static void take_samples(uint64_t (*time_one)(void))
{
	for (unsigned i = 0; i < SAMPLES; i++)
		samples[i] = time_one();
}

/* Median of samples[] (sorts it; insertion sort: Bochs's samples are nearly all equal). */
static uint64_t samples_median(void)
{
	for (unsigned i = 1; i < SAMPLES; i++) {
		uint64_t v = samples[i];
		unsigned j = i;
		for (; j > 0 && samples[j - 1] > v; j--)
			samples[j] = samples[j - 1];
		samples[j] = v;
	}
	return samples[SAMPLES / 2];
}

/* Under keel also "bench: <name>_exits <n>": the VM exits during its SAMPLES operations. */
static void bench_run(const struct bench *b, uint64_t overhead, int64_t stats_cost)
{
	const char *why = b->why_not ? b->why_not() : 0;
	if (why) {
		say("bench: %s skipped (%s)", b->name, why);
		return;
	}
	b->time_one(); /* warm-up: first-touch costs (TLB, EPT, caches) stay out of the samples */
	io_quiet_begin();
	int64_t before = platform.keel ? keel_exits() : 0;
	take_samples(b->time_one);
	int64_t after = platform.keel ? keel_exits() : 0;
	io_quiet_end();
	uint64_t m = samples_median();
	say("bench: %s %llu", b->name, (unsigned long long)(m > overhead ? m - overhead : 0));
	if (!platform.keel)
		return;
	if (before < 0 || after < 0 || stats_cost < 0)
		say("bench: %s_exits unknown (KEEL_HC_STATS failed)", b->name);
	else
		say("bench: %s_exits %lld", b->name, (long long)(after - before - stats_cost));
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	io_init(image, systab);
	platform_detect();
	if (platform.keel)
		say("bench: hypervisor keel %u.%u.%u", platform.keel_version >> 16,
		    (platform.keel_version >> 8) & 0xFF, platform.keel_version & 0xFF);
	else if (platform.hv_bit)
		say("bench: hypervisor other %s", platform.hv_sig);
	else
		say("bench: hypervisor none");

	/* Two back-to-back reads of the exit count differ by the exit one of them is counted in:
	 * subtracted from each benchmark's count. */
	int64_t stats_cost = -1;
	io_quiet_begin();
	time_empty();
	take_samples(time_empty);
	if (platform.keel) {
		int64_t a = keel_exits(), b = keel_exits();
		if (a >= 0 && b >= 0)
			stats_cost = b - a;
	}
	io_quiet_end();
	uint64_t overhead = samples_median();
	say("bench: method median of %u samples minus the empty window's median (%llu ticks)", SAMPLES,
	    (unsigned long long)overhead);

	bench_bp_install();
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		bench_run(&benches[i], overhead, stats_cost);
	bench_bp_remove();

	/* keel's census of the whole run so far, to its log: tools/bench.sh checks it against the exit
	 * trace of the instrumented Bochs. After the benchmarks, so no window sees this VMCALL. */
	if (platform.keel) {
		uint64_t b = 0, c = 0;
		long s = keel_hypercall(KEEL_HC_STATS_PRINT, &b, &c);
		if (s != KEEL_HC_OK)
			say("bench: KEEL_HC_STATS_PRINT returned %ld", s);
	}
	say("bench: done");
	if (io_has_option("noshutdown"))
		return EFI_SUCCESS;
	io_shutdown();
}
