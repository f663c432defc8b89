// Keel's exit trace for Bochs: one record per VM exit and per VM entry, written from outside the
// guest and keel. Host C++, linked into Bochs; runs in Bochs's simulation thread (all CPUs, one thread).
//
// Environment:
//   KEEL_TRACE=FILE      write the trace to FILE (nothing is traced when unset)
//   KEEL_TRACE_STOP=N    break into the Bochs debugger right after exit N (numbered from 1 over all
//                        CPUs), before keel executes its first instruction for it
//
// Trace format (text, one record a line, fields separated by one space; docs/bochs-debugging.md):
//   # keel-trace 1 ...                               header, then comments
//   X seq cpu icount reason qualification rip vmcs   VM exit (hex: reason, bit 31 for a failed
//                                                    entry; qualification; guest RIP; VMCS address)
//   E seq cpu icount root                            VM entry ending the root episode of exit seq
//   P reason rip count                               profile build only: root instructions at rip
// icount is the CPU's instruction count (Bochs's get_icount(); with one CPU, the debugger's time
// and the guest's TSC). root is icount(entry) - icount(exit): the instructions that ran in VMX root
// from the exit to the entry. seq 0 in an E record is an entry with no exit before it (VMLAUNCH).

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bochs.h"
#include "cpu/cpu.h"
#if BX_DEBUGGER
#include "bx_debug/debug.h"
#endif

#if KEEL_PROFILE
#include <map>
#include <utility>
#endif

namespace {

struct keel_cpu {
	bool in_root_episode;   // an exit happened and no entry has ended its episode yet
	bool host_load_pending; // the next context switch is the exit's own host-state load
	Bit64u exit_seq;        // sequence number of the last exit on this CPU
	Bit64u exit_icount;     // icount at that exit
	Bit32u exit_reason;     // its basic exit reason (for the profile)
};

FILE *trace_file;
Bit64u trace_seq; // exits so far, over all CPUs
Bit64u stop_seq;  // 0: never stop
keel_cpu cpus[BX_MAX_SMP_THREADS_SUPPORTED];

#if KEEL_PROFILE
std::map<std::pair<Bit32u, Bit64u>, Bit64u> profile; // (basic reason, rip) -> instructions
#endif

// The guest RIP the exit saves in the VMCS: VMexit() rewinds RIP to prev_rip (the exiting
// instruction) for every fault-like exit, after this hook runs; trap-like exits keep RIP, which
// already points past the instruction (cpu/vmx.cc, VMexit(), "VMEXITs are FAULT-like").
bx_address guest_rip_at_exit(BX_CPU_C *c, Bit32u reason)
{
	Bit32u basic = reason & 0xffff;
	if (IS_TRAP_LIKE_VMEXIT(basic))
		return c->get_instruction_pointer();
	return c->prev_rip;
}

void write_entry(unsigned cpu, Bit64u icount)
{
	keel_cpu *k = &cpus[cpu];
	if (k->in_root_episode)
		fprintf(trace_file, "E %llu %u %llu %llu\n", (unsigned long long)k->exit_seq, cpu,
		        (unsigned long long)icount, (unsigned long long)(icount - k->exit_icount));
	else
		fprintf(trace_file, "E 0 %u %llu -\n", cpu, (unsigned long long)icount);
	k->in_root_episode = false;
}

#if KEEL_PROFILE
void profile_dump(void)
{
	if (!trace_file)
		return;
	for (const auto &p : profile)
		fprintf(trace_file, "P %x 0x%llx %llu\n", (unsigned)p.first.first,
		        (unsigned long long)p.first.second, (unsigned long long)p.second);
	profile.clear();
	fflush(trace_file);
}
#endif

} // namespace

void bx_instr_init_env(void)
{
	const char *path = getenv("KEEL_TRACE");
	const char *stop = getenv("KEEL_TRACE_STOP");

	memset(cpus, 0, sizeof(cpus));
	if (stop && *stop)
		stop_seq = strtoull(stop, NULL, 10);
	if (!path || !*path)
		return;
	trace_file = fopen(path, "w");
	if (!trace_file) {
		fprintf(stderr, "keel-trace: cannot write %s\n", path);
		return;
	}
	// Line-buffered: Bochs often ends by exit() from a fatal message (ACPI soft power off) or is
	// killed; every complete record must be on disk by then. Exits are rare enough for this.
	setvbuf(trace_file, NULL, _IOLBF, 0);
	fprintf(trace_file, "# keel-trace 1 profile=%d stop=%llu\n", KEEL_PROFILE,
	        (unsigned long long)stop_seq);
	fprintf(trace_file, "# X seq cpu icount reason qualification rip vmcs | E seq cpu icount root\n");
#if KEEL_PROFILE
	atexit(profile_dump);
#endif
}

void bx_instr_exit_env(void)
{
#if KEEL_PROFILE
	profile_dump();
#endif
	if (trace_file) {
		fclose(trace_file);
		trace_file = NULL;
	}
}

void bx_instr_reset(unsigned cpu, unsigned type)
{
	(void)type;
	if (cpu < BX_MAX_SMP_THREADS_SUPPORTED)
		memset(&cpus[cpu], 0, sizeof(cpus[cpu]));
}

void bx_instr_vmexit(unsigned cpu, Bit32u reason, Bit64u qualification)
{
	BX_CPU_C *c = BX_CPU(cpu);
	keel_cpu *k = &cpus[cpu];
	Bit64u icount = c->get_icount();

	if (!trace_file && !stop_seq)
		return;
	trace_seq++;
	if (trace_file) {
		// A failed entry (bit 31) ends the episode of the exit before it, unless guest-state
		// loading already got far enough to report the entry (MSR-loading failures).
		if ((reason & 0x80000000u) && k->in_root_episode)
			write_entry(cpu, icount);
		fprintf(trace_file, "X %llu %u %llu %x %llx %llx %llx\n", (unsigned long long)trace_seq, cpu,
		        (unsigned long long)icount, (unsigned)reason, (unsigned long long)qualification,
		        (unsigned long long)guest_rip_at_exit(c, reason), (unsigned long long)c->vmcsptr);
	}
	k->in_root_episode = true;
	k->host_load_pending = true;
	k->exit_seq = trace_seq;
	k->exit_icount = icount;
	k->exit_reason = reason & 0xffff;

	if (trace_seq == stop_seq) {
#if BX_DEBUGGER
		fprintf(stderr, "keel-trace: exit %llu (cpu %u, reason 0x%x, guest RIP 0x%llx, VMCS 0x%llx): "
		        "stopping in the debugger\n", (unsigned long long)trace_seq, cpu, (unsigned)reason,
		        (unsigned long long)guest_rip_at_exit(c, reason), (unsigned long long)c->vmcsptr);
		// VMexit() loads the host state and longjmps to the instruction loop, whose epilogue
		// sees the request: the debugger prompts at keel's exit entry point, host RIP.
		bx_debug_break();
#else
		fprintf(stderr, "keel-trace: exit %llu reached, but this Bochs has no debugger\n",
		        (unsigned long long)trace_seq);
#endif
	}
}

void bx_instr_tlb_cntrl(unsigned cpu, unsigned what, bx_phy_address new_cr3)
{
	(void)new_cr3;
	if (what != BX_INSTR_CONTEXT_SWITCH)
		return;
	keel_cpu *k = &cpus[cpu];
	BX_CPU_C *c = BX_CPU(cpu);

	// The same callback ends host-state loading on an exit, guest-state loading on an entry, and
	// SMM entry and RSM. Only the exit hook sets host_load_pending; SMM is told apart by in_smm,
	// and a context switch outside VMX operation is not an entry.
	if (k->host_load_pending) {
		k->host_load_pending = false;
		return;
	}
	if (!c->in_vmx || c->in_smm)
		return;
	if (trace_file)
		write_entry(cpu, c->get_icount());
	k->in_root_episode = false;
}

#if KEEL_PROFILE
void bx_instr_before_execution(unsigned cpu, bxInstruction_c *i)
{
	(void)i;
	const keel_cpu *k = &cpus[cpu];
	if (k->in_root_episode)
		profile[std::make_pair(k->exit_reason, (Bit64u)BX_CPU(cpu)->get_instruction_pointer())]++;
}
#endif
