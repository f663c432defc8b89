/* The names of VM-exit reasons for keel's Linux guest tools (keelctl, keel-mmubench): static
 * user programs in keel's initramfs (tools/linux-guest.sh). */
#ifndef KEEL_GUEST_KEELCTL_REASON_NAMES_H
#define KEEL_GUEST_KEELCTL_REASON_NAMES_H

/* Basic exit reasons (SDM Vol. 3D Appendix C) that keelctl and keel-mmubench ask about: 0 .. 64. */
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

#endif
