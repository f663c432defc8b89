/* keel-mmubench: MMU workloads timed with the guest's TSC, for `make bench` (tools/bench-mmu.sh).
 * Static, runs in keel's Linux initramfs (tools/linux-guest.sh), natively or under keel.
 *
 * usage: keel-mmubench FORKS EXECS MIB
 *        keel-mmubench --exit          the exec target: returns 0 at once
 *
 * Three workloads, in this order, each between two RDTSCs (on Bochs the TSC counts instructions):
 *   fork   FORKS times fork(), the child _exit(0)s, the parent waitpid()s
 *   exec   EXECS times fork(), the child execve()s this static binary with --exit, waitpid()
 *   touch  a fresh MIB MiB private anonymous mapping (MADV_NOHUGEPAGE: 4 KiB pages), one byte
 *          written per page, in address order
 * One line per workload:
 *   keel-mmubench: ROW n=COUNT ticks=TICKS minflt=FAULTS failed=CHILDREN
 * (minflt: the guest kernel's minor faults in the window, this process's and its children's;
 * failed: children that did not exit 0). Under keel, each row is followed by the exits keel
 * counted on cpu0 during it (KEEL_HC_STATS) and, when cpu0 runs on shadow paging, the shadow
 * MMU's counters (KEEL_HC_MMU_STATS), read outside the timed window, this program's own VMCALLs
 * taken out:
 *   keel-mmubench: ROW exit REASON COUNT NAME       (one line per reason that occurred)
 *   keel-mmubench: ROW exits COUNT                  (their sum)
 *   keel-mmubench: ROW mmu ept|shadow [NAME=COUNT]...
 * and before the first row the same lines for ROW "boot": everything counted from keel's start
 * to this program's start. Address-space randomization is off for this program and its children
 * (it re-executes itself with ADDR_NO_RANDOMIZE), so that every run faults on the same pages: with
 * it on, the fork loop took 8 or 10 guest faults per fork from boot to boot.
 * Exit status: 0, or 1 when a workload could not run or a child failed. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/keelctl/reason_names.h"
#include "vmm/hypercall_abi.h"

#define PAGE_SIZE 4096ul

static const char *const mmu_names[KEEL_MMU_STAT_COUNT] = {
	[KEEL_MMU_STAT_HIDDEN_FAULTS] = "hidden-faults", [KEEL_MMU_STAT_REFLECTED_FAULTS] = "reflected",
	[KEEL_MMU_STAT_CR3_LOADS] = "cr3-loads",         [KEEL_MMU_STAT_ROOT_HITS] = "cr3-cached",
	[KEEL_MMU_STAT_INVLPGS] = "invlpgs",             [KEEL_MMU_STAT_FLUSHES] = "flushes",
	[KEEL_MMU_STAT_KEEL_PAGE_MAPS] = "keel-maps",    [KEEL_MMU_STAT_RECLAIMS] = "reclaims",
	[KEEL_MMU_STAT_PAGES_IN_USE] = "pages-in-use",   [KEEL_MMU_STAT_PAGES_TOTAL] = "pages-total",
};

/* Counters that are a level now, not a count of events: printed as they are, not as a delta. */
static int mmu_is_level(unsigned i)
{
	return i == KEEL_MMU_STAT_PAGES_IN_USE || i == KEEL_MMU_STAT_PAGES_TOTAL;
}

/* What keel had counted on cpu0 at one moment. */
struct census {
	uint64_t exits[REASON_COUNT];
	uint64_t mmu[KEEL_MMU_STAT_COUNT];
	uint64_t mode;
};

static int under_keel;
static uint64_t own_vmcalls; /* every VMCALL this program made: keel counts each as an exit */

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

static int keel_present(void)
{
	unsigned eax, ebx, ecx, edx;
	__cpuid(KEEL_CPUID_LEAF, eax, ebx, ecx, edx);
	(void)eax;
	return ebx == KEEL_CPUID_SIG_EBX && ecx == KEEL_CPUID_SIG_ECX && edx == KEEL_CPUID_SIG_EDX;
}

/* One CPL-3 hypercall (both calls used here are allowed from user mode, so no #UD under keel). */
static long hypercall(unsigned long nr, unsigned long a, unsigned long b, uint64_t *out_b, uint64_t *out_c)
{
	unsigned long rax = nr, rbx = a, rcx = b, rdx = 0;
	__asm__ volatile("vmcall" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx) : : "memory");
	own_vmcalls++;
	*out_b = rbx;
	*out_c = rcx;
	return (long)rax;
}

/* Reads cpu0's exits by reason and its MMU counters. The VMCALL count read includes every
 * VMCALL this program made up to and including that read: taken out, so rows count only what the
 * workloads caused. */
static int census_read(struct census *c)
{
	uint64_t unused;
	memset(c, 0, sizeof(*c));
	for (unsigned r = 0; r < REASON_COUNT; r++) {
		if (hypercall(KEEL_HC_STATS, 0, r, &c->exits[r], &unused) != KEEL_HC_OK)
			return -1;
		if (r == 18) /* VMCALL */
			c->exits[r] -= own_vmcalls;
	}
	for (unsigned i = 0; i < KEEL_MMU_STAT_COUNT; i++)
		if (hypercall(KEEL_HC_MMU_STATS, 0, i, &c->mmu[i], &c->mode) != KEEL_HC_OK)
			return -1;
	return 0;
}

/* Prints the exits and MMU counters of ROW: now minus before (before NULL: since keel's start). */
static void census_print(const char *row, const struct census *before, const struct census *now)
{
	uint64_t sum = 0;
	for (unsigned r = 0; r < REASON_COUNT; r++) {
		uint64_t d = now->exits[r] - (before ? before->exits[r] : 0);
		if (!d)
			continue;
		sum += d;
		if (reason_names[r])
			printf("keel-mmubench: %s exit %u %llu %s\n", row, r, (unsigned long long)d, reason_names[r]);
		else
			printf("keel-mmubench: %s exit %u %llu reason %u\n", row, r, (unsigned long long)d, r);
	}
	printf("keel-mmubench: %s exits %llu\n", row, (unsigned long long)sum);
	if (now->mode != KEEL_MMU_SHADOW) {
		printf("keel-mmubench: %s mmu ept\n", row);
		return;
	}
	printf("keel-mmubench: %s mmu shadow", row);
	for (unsigned i = 0; i < KEEL_MMU_STAT_COUNT; i++) {
		uint64_t d = now->mmu[i] - (before && !mmu_is_level(i) ? before->mmu[i] : 0);
		printf(" %s=%llu", mmu_names[i], (unsigned long long)d);
	}
	printf("\n");
}

/* Minor faults so far of this process and its waited-for children. */
static long minflt(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return self.ru_minflt + kids.ru_minflt;
}

/* ---- the workloads: each returns the number of failed children, or -1 when it could not run ---- */

static int reap(pid_t pid)
{
	int status;
	if (pid < 0)
		return 1;
	if (waitpid(pid, &status, 0) != pid)
		return 1;
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static long run_fork(unsigned long n)
{
	long failed = 0;
	for (unsigned long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		failed += reap(pid);
	}
	return failed;
}

static long run_exec(unsigned long n)
{
	static char *const child_argv[] = { "keel-mmubench", "--exit", NULL };
	static char *const child_envp[] = { NULL };
	long failed = 0;
	for (unsigned long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			execve("/proc/self/exe", child_argv, child_envp);
			_exit(127);
		}
		failed += reap(pid);
	}
	return failed;
}

static volatile unsigned char *touch_map;
static size_t touch_len;

/* The mapping is made before the timed window and unmapped after it: the window is the loop. */
static int touch_prepare(unsigned long mib)
{
	touch_len = mib << 20;
	void *p = mmap(NULL, touch_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("keel-mmubench: mmap");
		return -1;
	}
	/* Transparent huge pages would fill 2 MiB per fault: the loop would time zeroing, not paging. */
	if (madvise(p, touch_len, MADV_NOHUGEPAGE) != 0)
		perror("keel-mmubench: madvise(MADV_NOHUGEPAGE)");
	touch_map = p;
	return 0;
}

static long run_touch(unsigned long pages)
{
	for (unsigned long i = 0; i < pages; i++)
		touch_map[i * PAGE_SIZE] = (unsigned char)i;
	return 0;
}

/* Runs one workload between two RDTSCs and prints its line(s); returns 0, or 1 on failure. */
static int measure(const char *row, unsigned long n, long (*work)(unsigned long))
{
	struct census before, after;
	int census_ok = under_keel && census_read(&before) == 0;
	long f0 = minflt();
	uint64_t t0 = tsc();
	long failed = work(n);
	uint64_t t1 = tsc();
	long f1 = minflt();
	census_ok = census_ok && census_read(&after) == 0;

	printf("keel-mmubench: %s n=%lu ticks=%llu minflt=%ld failed=%ld\n", row, n, (unsigned long long)(t1 - t0),
	       f1 - f0, failed);
	if (under_keel && !census_ok)
		printf("keel-mmubench: %s: reading keel's counters failed\n", row);
	else if (under_keel)
		census_print(row, &before, &after);
	return failed != 0 || (under_keel && !census_ok);
}

static int parse(const char *s, unsigned long *v)
{
	char *end;
	*v = strtoul(s, &end, 10);
	return *s && !*end;
}

int main(int argc, char **argv)
{
	unsigned long forks, execs, mib;
	int bad = 0;

	if (argc == 2 && strcmp(argv[1], "--exit") == 0)
		return 0;
	if (argc != 4 || !parse(argv[1], &forks) || !parse(argv[2], &execs) || !parse(argv[3], &mib) ||
	    mib == 0 || mib > 4096) {
		fprintf(stderr, "usage: keel-mmubench FORKS EXECS MIB (MIB 1 .. 4096)\n");
		return 2;
	}
	int pers = personality(0xffffffff);
	if (pers != -1 && !(pers & ADDR_NO_RANDOMIZE) && personality((unsigned long)pers | ADDR_NO_RANDOMIZE) != -1) {
		execv("/proc/self/exe", argv);
		perror("keel-mmubench: execv (to run without address-space randomization)");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	under_keel = keel_present();
	if (under_keel) {
		struct census boot;
		if (census_read(&boot) == 0) {
			census_print("boot", NULL, &boot);
		} else {
			printf("keel-mmubench: boot: reading keel's counters failed\n");
			bad = 1;
		}
	} else {
		printf("keel-mmubench: no keel: exits not counted\n");
	}
	bad |= measure("fork", forks, run_fork);
	bad |= measure("exec", execs, run_exec);
	if (touch_prepare(mib) == 0) {
		bad |= measure("touch", touch_len / PAGE_SIZE, run_touch);
		munmap((void *)touch_map, touch_len);
	} else {
		bad = 1;
	}
	printf("keel-mmubench: done, %s\n", bad ? "FAILED" : "ok");
	return bad;
}
