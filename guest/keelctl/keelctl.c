/* keelctl: asks keel about itself from a Linux guest's user mode. Static, runs in keel's initramfs
 * (tools/linux-guest.sh); uses only the calls the ABI allows at CPL 3 (vmm/hypercall_abi.h).
 *
 * usage: keelctl info    "keelctl: keel 0.1.0, 1 CPUs virtualized" (KEEL_HC_VERSION), found through
 *                        CPUID leaf 0x40000000 ("KeelKeelKeel"); without keel it prints
 *                        "keelctl: no keel hypervisor" and exits 1
 *        keelctl stats   VM-exit counts per CPU: the CPU's total, then every reason counted so far
 *                        (INIT and SIPI among them), then the CPU's MMU mode with, under shadow
 *                        paging, its shadow MMU's counters (KEEL_HC_MMU_STATS), then the sum over
 *                        all CPUs (KEEL_HC_STATS); exits 1 without keel
 *        keelctl cpus    pins itself to every online CPU in turn (sched_setaffinity) and there reads
 *                        CPUID leaf 0x40000000, runs a CPU-bound loop and a fork loop; one line per
 *                        CPU, then "keelctl: N of M online CPUs run under keel, workload ok on K".
 *                        Works without keel too (it then reports 0 CPUs under keel).
 * Exit status: 0 ok, 1 no keel (cpus: a CPU without keel), 2 usage or a hypercall that failed,
 * 3 (cpus) a CPU where pinning or the workload failed. Counts are read one VMCALL at a
 * time, so each includes the exits (VMCALLs among them) of the reads before it. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/keelctl/reason_names.h"
#include "vmm/hypercall_abi.h"

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

/* One KEEL_HC_MMU_STATS read: 0 with *val and *mode set, -1 on failure (reported). */
static int mmu_stat_read(unsigned long cpu, unsigned long index, unsigned long *val, unsigned long *mode)
{
	struct hc_regs r = { cpu, index, 0 };
	long s;

	if (!hypercall_or_report(KEEL_HC_MMU_STATS, &r, &s))
		return -1;
	if (s != KEEL_HC_OK) {
		printf("keelctl: KEEL_HC_MMU_STATS(cpu %lu, counter %lu) failed: %ld (%s)\n", cpu, index, s,
		       status_name(s));
		return -1;
	}
	*val = r.rbx;
	*mode = r.rcx;
	return 0;
}

/* "keelctl: cpuN mmu ept", or "keelctl: cpuN mmu shadow" and its counters, one line. */
static int mmu_stats_print(unsigned long cpu)
{
	static const char *const names[KEEL_MMU_STAT_COUNT] = {
		[KEEL_MMU_STAT_HIDDEN_FAULTS] = "hidden-faults", [KEEL_MMU_STAT_REFLECTED_FAULTS] = "reflected",
		[KEEL_MMU_STAT_CR3_LOADS] = "cr3-loads",         [KEEL_MMU_STAT_ROOT_HITS] = "cr3-cached",
		[KEEL_MMU_STAT_INVLPGS] = "invlpgs",             [KEEL_MMU_STAT_FLUSHES] = "flushes",
		[KEEL_MMU_STAT_KEEL_PAGE_MAPS] = "keel-maps",    [KEEL_MMU_STAT_RECLAIMS] = "reclaims",
		[KEEL_MMU_STAT_PAGES_IN_USE] = "pages-in-use",   [KEEL_MMU_STAT_PAGES_TOTAL] = "pages-total",
	};
	unsigned long val[KEEL_MMU_STAT_COUNT], mode = KEEL_MMU_EPT;

	for (unsigned long i = 0; i < KEEL_MMU_STAT_COUNT; i++)
		if (mmu_stat_read(cpu, i, &val[i], &mode) < 0)
			return -1;
	if (mode != KEEL_MMU_SHADOW) {
		printf("keelctl: cpu%lu mmu ept\n", cpu);
		return 0;
	}
	printf("keelctl: cpu%lu mmu shadow", cpu);
	for (unsigned long i = 0; i < KEEL_MMU_STAT_COUNT; i++)
		printf(" %s=%lu", names[i], val[i]);
	printf("\n");
	return 0;
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
		if (mmu_stats_print(cpu) < 0)
			return 2;
	}
	printf("keelctl: total %lu exits on %lu CPUs\n", total, cpu);
	return 0;
}

/* ---- keelctl cpus ---- */

/* A loop the compiler cannot fold: the sum of i*i over 0..n-1 modulo 2^64, checked against the
 * closed form n(n-1)(2n-1)/6 (computed in 128 bits). */
#define LOOP_N 2000000ul
#define FORKS 8

static int loop_ok(void)
{
	volatile unsigned long acc = 0;
	for (unsigned long i = 0; i < LOOP_N; i++)
		acc += i * i;
	unsigned __int128 n = LOOP_N;
	return acc == (unsigned long)(n * (n - 1) * (2 * n - 1) / 6);
}

/* Forks FORKS children, each reporting through its exit status whether it ran on cpu (children
 * inherit the parent's affinity). Returns how many did. */
static int forks_ok(int cpu)
{
	int ok = 0;
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(sched_getcpu() == cpu ? 0 : 1);
		int status;
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
	}
	return ok;
}

/* The online CPUs, from /sys (what Linux runs on now), as a cpu_set_t. */
static int online_cpus(cpu_set_t *set)
{
	char buf[4096];
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	CPU_ZERO(set);
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (char *p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			return -1;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < CPU_SETSIZE; c++)
			CPU_SET((int)c, set);
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int cmd_cpus(void)
{
	cpu_set_t online, one;
	int n = 0, keel = 0, work = 0, bad_pin = 0;

	if (online_cpus(&online)) {
		printf("keelctl: cannot read /sys/devices/system/cpu/online\n");
		return 2;
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		unsigned eax, ebx, ecx, edx;
		if (!CPU_ISSET(cpu, &online))
			continue;
		n++;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) != 0 || sched_getcpu() != cpu) {
			printf("keelctl: cpu%d cannot run there (sched_setaffinity)\n", cpu);
			bad_pin++;
			continue;
		}
		__cpuid(1, eax, ebx, ecx, edx);
		unsigned apic = ebx >> 24;
		int here = keel_present();
		int loop = loop_ok(), forks = forks_ok(cpu);
		int still = sched_getcpu() == cpu;
		keel += here;
		work += loop && forks == FORKS && still;
		printf("keelctl: cpu%d initial APIC ID %u: CPUID 0x40000000 %s, loop %s, %d of %d forks ran there%s\n", cpu,
		       apic, here ? "KeelKeelKeel" : "not keel", loop ? "ok" : "WRONG SUM", forks, FORKS,
		       still ? "" : ", then moved off it");
	}
	printf("keelctl: %d of %d online CPUs run under keel, workload ok on %d\n", keel, n, work);
	if (bad_pin || work != n)
		return 3;
	return keel == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int (*cmd)(void);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "info") == 0) {
		cmd = cmd_info;
	} else if (argc == 2 && strcmp(argv[1], "stats") == 0) {
		cmd = cmd_stats;
	} else if (argc == 2 && strcmp(argv[1], "cpus") == 0) {
		return cmd_cpus(); /* also meaningful without keel */
	} else {
		fprintf(stderr, "usage: keelctl info|stats|cpus\n");
		return 2;
	}
	if (!keel_present()) {
		printf("keelctl: no keel hypervisor\n");
		return 1;
	}
	return cmd();
}
