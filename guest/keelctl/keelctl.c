/* keelctl: asks keel about itself from a Linux guest's user mode. Static, runs in keel's initramfs
 * (tools/linux-guest.sh); uses only the calls the ABI allows at CPL 3 (vmm/hypercall_abi.h).
 *
 * usage: keelctl info    "keelctl: keel 0.1.0, 1 CPUs virtualized" (KEEL_HC_VERSION), found through
 *                        CPUID leaf 0x40000000 ("KeelKeelKeel"); without keel it prints
 *                        "keelctl: no keel hypervisor" and exits 1
 *        keelctl stats   VM-exit counts per CPU: the CPU's total, then every reason counted so far,
 *                        then the sum over all CPUs (KEEL_HC_STATS); exits 1 without keel
 * Exit status: 0 ok, 1 no keel, 2 usage or a hypercall that failed. Counts are read one VMCALL at a
 * time, so each includes the exits (VMCALLs among them) of the reads before it. */
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vmm/hypercall_abi.h"

/* Basic exit reasons (SDM Vol. 3D Appendix C) that keelctl asks about: 0 .. 64. */
#define REASON_COUNT 65

/* The same names as keel's own table (vmm/exit.c reason_names), so both reports read alike. */
static const char *const reason_names[REASON_COUNT] = {
	[0] = "exception or NMI", [1] = "external interrupt", [2] = "triple fault", [3] = "INIT",
	[4] = "SIPI", [7] = "interrupt window", [9] = "task switch", [10] = "CPUID", [11] = "GETSEC",
	[12] = "HLT", [13] = "INVD", [14] = "INVLPG", [15] = "RDPMC", [16] = "RDTSC", [17] = "RSM",
	[18] = "VMCALL", [19] = "VMCLEAR", [20] = "VMLAUNCH", [21] = "VMPTRLD", [22] = "VMPTRST",
	[23] = "VMREAD", [24] = "VMRESUME", [25] = "VMWRITE", [26] = "VMXOFF", [27] = "VMXON",
	[28] = "CR access", [29] = "DR access", [30] = "I/O instruction", [31] = "RDMSR", [32] = "WRMSR",
	[33] = "invalid guest state", [34] = "MSR loading", [36] = "MWAIT", [37] = "monitor trap flag",
	[39] = "MONITOR", [40] = "PAUSE", [41] = "machine check during entry", [46] = "GDTR/IDTR access",
	[47] = "LDTR/TR access", [48] = "EPT violation", [49] = "EPT misconfiguration", [50] = "INVEPT",
	[51] = "RDTSCP", [52] = "preemption timer", [53] = "INVVPID", [54] = "WBINVD", [55] = "XSETBV",
	[57] = "RDRAND", [58] = "INVPCID", [59] = "VMFUNC", [61] = "RDSEED", [63] = "XSAVES",
	[64] = "XRSTORS",
};

/* A CPU index keelctl stops at even if keel never answers EINVAL. */
#define CPU_LIMIT 4096

struct hc_regs {
	unsigned long rbx, rcx, rdx;
};

static sigjmp_buf ud_jump;

static void on_fault(int sig)
{
	siglongjmp(ud_jump, sig);
}

/* VMCALL with RAX = nr and RBX/RCX/RDX from *r; returns RAX (a KEEL_HC_* status), results in *r.
 * Without a hypervisor that takes it, VMCALL raises #UD, which Linux delivers as SIGILL. */
static long keel_hypercall(unsigned long nr, struct hc_regs *r)
{
	unsigned long rax = nr;
	__asm__ volatile("vmcall" : "+a"(rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx) : : "memory");
	return (long)rax;
}

/* Makes a hypercall, or reports the fault it raised and returns 0 (the caller exits 2). A
 * hypervisor that refuses the call injects #UD (SIGILL), as hardware without one does; #GP would
 * come as SIGSEGV. */
static int hypercall_or_report(unsigned long nr, struct hc_regs *r, long *status)
{
	struct sigaction sa;
	static struct sigaction old_ill, old_segv;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGILL, &sa, &old_ill);
	sigaction(SIGSEGV, &sa, &old_segv);
	sig = sigsetjmp(ud_jump, 1);
	if (sig == 0)
		*status = keel_hypercall(nr, r);
	sigaction(SIGILL, &old_ill, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	if (sig != 0) {
		printf("keelctl: VMCALL %lu from user mode raised %s\n", nr, sig == SIGILL ? "#UD (SIGILL)" : "SIGSEGV");
		return 0;
	}
	return 1;
}

static int keel_present(void)
{
	unsigned eax, ebx, ecx, edx;

	__cpuid(KEEL_CPUID_LEAF, eax, ebx, ecx, edx);
	(void)eax;
	return ebx == KEEL_CPUID_SIG_EBX && ecx == KEEL_CPUID_SIG_ECX && edx == KEEL_CPUID_SIG_EDX;
}

static const char *status_name(long s)
{
	switch (s) {
	case KEEL_HC_OK: return "ok";
	case KEEL_HC_ENOSYS: return "ENOSYS";
	case KEEL_HC_EINVAL: return "EINVAL";
	case KEEL_HC_EFAULT: return "EFAULT";
	default: return "unknown status";
	}
}

static int cmd_info(void)
{
	struct hc_regs r = { 0, 0, 0 };
	long s;

	if (!hypercall_or_report(KEEL_HC_VERSION, &r, &s))
		return 2;
	if (s != KEEL_HC_OK) {
		printf("keelctl: KEEL_HC_VERSION failed: %ld (%s)\n", s, status_name(s));
		return 2;
	}
	printf("keelctl: keel %lu.%lu.%lu, %lu CPUs virtualized\n", (r.rbx >> 16) & 0xff, (r.rbx >> 8) & 0xff,
	       r.rbx & 0xff, r.rcx);
	return 0;
}

/* One KEEL_HC_STATS read: 1 with *count set, 0 when keel has no such CPU (EINVAL), -1 on failure. */
static int stats_read(unsigned long cpu, unsigned long reason, unsigned long *count)
{
	struct hc_regs r = { cpu, reason, 0 };
	long s;

	if (!hypercall_or_report(KEEL_HC_STATS, &r, &s))
		return -1;
	if (s == KEEL_HC_EINVAL)
		return 0;
	if (s != KEEL_HC_OK) {
		printf("keelctl: KEEL_HC_STATS(cpu %lu, reason %lu) failed: %ld (%s)\n", cpu, reason, s, status_name(s));
		return -1;
	}
	*count = r.rbx;
	return 1;
}

static int cmd_stats(void)
{
	unsigned long cpu, total = 0, count;
	int got;

	for (cpu = 0; cpu < CPU_LIMIT; cpu++) {
		got = stats_read(cpu, KEEL_STATS_TOTAL, &count);
		if (got < 0)
			return 2;
		if (got == 0)
			break;
		printf("keelctl: cpu%lu %-26s %lu\n", cpu, "total", count);
		total += count;
		for (unsigned long reason = 0; reason < REASON_COUNT; reason++) {
			got = stats_read(cpu, reason, &count);
			if (got < 0)
				return 2;
			if (got == 0 || count == 0)
				continue;
			if (reason_names[reason])
				printf("keelctl: cpu%lu %-26s %lu\n", cpu, reason_names[reason], count);
			else
				printf("keelctl: cpu%lu reason %-19lu %lu\n", cpu, reason, count);
		}
	}
	printf("keelctl: total %lu exits on %lu CPUs\n", total, cpu);
	return 0;
}

int main(int argc, char **argv)
{
	int (*cmd)(void);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "info") == 0) {
		cmd = cmd_info;
	} else if (argc == 2 && strcmp(argv[1], "stats") == 0) {
		cmd = cmd_stats;
	} else {
		fprintf(stderr, "usage: keelctl info|stats\n");
		return 2;
	}
	if (!keel_present()) {
		printf("keelctl: no keel hypervisor\n");
		return 1;
	}
	return cmd();
}
