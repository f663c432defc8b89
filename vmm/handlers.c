/* keel's exit handlers: CPUID, MSRs, control registers, XSETBV, INVD, VMX instructions, INIT/SIPI,
 * triple fault and EPT faults. VMX root; see the handler contract in vmm/exit.c. */
#include "../arch/x86/cr.h"
#include "../arch/x86/ept.h"
#include "../arch/x86/msr.h"
#include "../lib/log.h"
#include "emulate.h"
#include "exit.h"
#include "host.h"
#include "hypercall.h"
#include "task.h"
#include "vmcs.h"
#include "vmx.h"

/* ---- CPUID ---- */

static void handle_cpuid(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	struct cpuid_regs out;
	uint32_t leaf = (uint32_t)r->gpr[GPR_RAX], sub = (uint32_t)r->gpr[GPR_RCX];

	if (leaf >= KEEL_CPUID_LEAF && leaf <= KEEL_CPUID_LEAF + 0xFF) {
		cpuid_keel_leaf(leaf, &out);
	} else {
		cpuid(leaf, sub, &out);
		cpuid_shape(leaf, sub, vmcs_readnat(VMCS_GUEST_CR4), &out);
	}
	r->gpr[GPR_RAX] = out.eax;
	r->gpr[GPR_RBX] = out.ebx;
	r->gpr[GPR_RCX] = out.ecx;
	r->gpr[GPR_RDX] = out.edx;
	vcpu_skip_instruction(v);
}

/* ---- MSRs ---- */

static void handle_rdmsr(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint32_t msr = (uint32_t)r->gpr[GPR_RCX];
	uint64_t val;

	switch (msr_classify(msr)) {
	case MSR_VIRT_FEATURE_CONTROL:
		if (safe_rdmsr(MSR_IA32_FEATURE_CONTROL, &val))
			val = 0;
		val = msr_feature_control_view(val);
		break;
	case MSR_VIRT_VMX_CAP:
		vcpu_inject_gp(v); /* VMX is hidden: these MSRs do not exist for the guest */
		return;
	default:
		if (safe_rdmsr(msr, &val)) {
			vcpu_inject_gp(v);
			return;
		}
	}
	r->gpr[GPR_RAX] = (uint32_t)val;
	r->gpr[GPR_RDX] = val >> 32;
	vcpu_skip_instruction(v);
}

static void handle_wrmsr(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint32_t msr = (uint32_t)r->gpr[GPR_RCX];
	uint64_t val = (uint32_t)r->gpr[GPR_RAX] | (r->gpr[GPR_RDX] << 32);

	if (msr_write_faults(msr, val) || safe_wrmsr(msr, val)) {
		vcpu_inject_gp(v);
		return;
	}
	vcpu_skip_instruction(v);
}

/* ---- control registers ---- */

static uint64_t read_gpr(struct guest_regs *r, unsigned n)
{
	return n == GPR_RSP ? vmcs_readnat(VMCS_GUEST_RSP) : r->gpr[n];
}

/*
 * MOV to/from CR3 exits only where the CPU forces CR3-load/store exiting (no TRUE controls). Reads
 * return the guest's CR3; writes check reserved bits and flush this vCPU's translations unless
 * bit 63 asks to keep them (CR4.PCIDE, SDM Vol. 3A 4.10.4.1).
 */
static void handle_cr3(struct vcpu *v, struct guest_regs *r, unsigned type, unsigned gpr)
{
	if (type == CRQ_TYPE_MOV_FROM) {
		if (gpr == GPR_RSP)
			vmcs_writenat(VMCS_GUEST_RSP, vmcs_readnat(VMCS_GUEST_CR3));
		else
			r->gpr[gpr] = vmcs_readnat(VMCS_GUEST_CR3);
		vcpu_skip_instruction(v);
		return;
	}
	uint64_t val = read_gpr(r, gpr);
	int pcide = !!(vmcs_readnat(VMCS_GUEST_CR4) & CR4_PCIDE);
	int keep = pcide && (val & BIT(63));
	val &= ~BIT(63);
	if (val >> v->vm->caps.max_phys_bits) {
		vcpu_inject_gp(v);
		return;
	}
	vmcs_writenat(VMCS_GUEST_CR3, val);
	if (!keep && v->vpid)
		invvpid(INVVPID_SINGLE_CONTEXT, v->vpid);
	vcpu_skip_instruction(v);
}

static void handle_cr(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	unsigned cr = CRQ_CR(e->qualification), type = CRQ_TYPE(e->qualification);
	struct cr_state s = {
		.cr0 = vmcs_readnat(VMCS_GUEST_CR0),
		.cr0_shadow = vmcs_readnat(VMCS_CR0_SHADOW),
		.cr4 = vmcs_readnat(VMCS_GUEST_CR4),
		.cr4_shadow = vmcs_readnat(VMCS_CR4_SHADOW),
		.cr0_mask = vmcs_readnat(VMCS_CR0_MASK),
		.cr4_mask = vmcs_readnat(VMCS_CR4_MASK),
		.cr3 = vmcs_readnat(VMCS_GUEST_CR3),
		.efer = vmcs_read64(VMCS_GUEST_EFER),
		.cs_l = !!(vmcs_read32(VMCS_GUEST_CS_AR) & AR_L),
		.cr0_fixed0 = v->cr0_fixed0,
		.cr0_fixed1 = v->cr0_fixed1,
		.cr4_fixed0 = v->cr4_fixed0,
		.cr4_fixed1 = v->cr4_fixed1,
	};
	uint64_t val;
	int fault;

	if (cr == 3 && (type == CRQ_TYPE_MOV_TO || type == CRQ_TYPE_MOV_FROM)) {
		handle_cr3(v, r, type, CRQ_GPR(e->qualification));
		return;
	}
	if (type == CRQ_TYPE_MOV_TO && cr == 0)
		fault = cr0_emulate_write(&s, read_gpr(r, CRQ_GPR(e->qualification)));
	else if (type == CRQ_TYPE_MOV_TO && cr == 4)
		fault = cr4_emulate_write(&s, read_gpr(r, CRQ_GPR(e->qualification)));
	else if (type == CRQ_TYPE_LMSW) {
		/* LMSW loads MP, EM, TS and can set but never clear PE (SDM Vol. 2A LMSW). */
		uint64_t cur = cr_guest_view(s.cr0, s.cr0_shadow, s.cr0_mask);
		val = (cur & ~0xEULL) | (CRQ_LMSW_SRC(e->qualification) & 0xF) | (cur & CR0_PE);
		fault = cr0_emulate_write(&s, val);
	} else if (type == CRQ_TYPE_CLTS)
		fault = cr0_emulate_write(&s, cr_guest_view(s.cr0, s.cr0_shadow, s.cr0_mask) & ~CR0_TS);
	else {
		exit_unhandled(v, r, e);
		return;
	}
	if (fault) {
		vcpu_inject_gp(v);
		return;
	}
	vmcs_writenat(VMCS_GUEST_CR0, s.cr0);
	vmcs_writenat(VMCS_CR0_SHADOW, s.cr0_shadow);
	vmcs_writenat(VMCS_GUEST_CR4, s.cr4);
	vmcs_writenat(VMCS_CR4_SHADOW, s.cr4_shadow);
	if (s.efer != vmcs_read64(VMCS_GUEST_EFER)) {
		/* Paging switched with EFER.LME set: IA-32e mode follows LMA (SDM 9.8.5). */
		vmcs_write64(VMCS_GUEST_EFER, s.efer);
		uint32_t entry = vmcs_read32(VMCS_ENTRY_CONTROLS);
		entry = (s.efer & EFER_LMA) ? entry | ENTRY_IA32E_MODE_GUEST : entry & ~ENTRY_IA32E_MODE_GUEST;
		vmcs_write32(VMCS_ENTRY_CONTROLS, entry);
	}
	if (s.flush_tlb && v->vpid)
		invvpid(INVVPID_SINGLE_CONTEXT, v->vpid);
	vcpu_skip_instruction(v);
}

/* ---- port I/O ---- */

#define IO_REP_BATCH 4096

static uint32_t io_port_in(unsigned port, unsigned size)
{
	return size == 1 ? inb((uint16_t)port) : size == 2 ? inw((uint16_t)port) : inl((uint16_t)port);
}

static void io_port_out(unsigned port, unsigned size, uint32_t val)
{
	if (size == 1)
		outb((uint16_t)port, (uint8_t)val);
	else if (size == 2)
		outw((uint16_t)port, (uint16_t)val);
	else
		outl((uint16_t)port, val);
}

/*
 * keel traps one port, the 0xE9 debug console (so the guest's debug output and keel's own stay in
 * order, and so benchmarks have an I/O exit to measure); it performs the access for the guest. String
 * forms move one element per RCX through guest memory, as the CPU would.
 */
static void handle_io(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	uint64_t q = e->qualification;
	unsigned size = IOQ_SIZE(q), port = IOQ_PORT(q);
	uint64_t mask = size == 1 ? 0xFF : size == 2 ? 0xFFFF : 0xFFFFFFFF;

	if (IOQ_STRING(q)) {
		/* Address size from the instruction information (SDM table 27-8, bits 9:7), segment
		 * base outside 64-bit mode (INS always uses ES; OUTS DS, overrides aside). At most
		 * IO_REP_BATCH elements per exit: a REP with a huge count then resumes where it left
		 * off, as an interrupted REP does, instead of holding the CPU in root. */
		uint32_t info = vmcs_read32(VMCS_EXIT_INSTR_INFO);
		unsigned asz = (info >> 7) & 7;
		uint64_t amask = asz == 0 ? 0xFFFF : asz == 1 ? 0xFFFFFFFF : ~0ULL;
		int in = IOQ_IN(q), down = !!(vmcs_readnat(VMCS_GUEST_RFLAGS) & RFLAGS_DF);
		int lm = (vmcs_read64(VMCS_GUEST_EFER) & EFER_LMA) && (vmcs_read32(VMCS_GUEST_CS_AR) & AR_L);
		uint64_t seg = lm ? 0 : in ? vmcs_readnat(VMCS_GUEST_ES_BASE) : vmcs_readnat(VMCS_GUEST_DS_BASE);
		unsigned idx = in ? GPR_RDI : GPR_RSI;
		uint64_t count = IOQ_REP(q) ? r->gpr[GPR_RCX] & amask : 1;
		unsigned batch = 0;
		struct guest_tlb tlb = { 0 };
		for (; count; count--) {
			uint32_t val = 0;
			uint64_t addr = seg + (r->gpr[idx] & amask);
			struct guest_fault pf;
			int rc;
			if (batch++ == IO_REP_BATCH)
				return; /* RIP stays: the rest on the next exit */
			if (in)
				val = io_port_in(port, size);
			rc = vcpu_copy_guest(v, &tlb, addr, &val, size, in, &pf);
			if (rc == GUEST_PAGE_FAULT) {
				vcpu_inject_page_fault(v, &pf);
				return;
			}
			if (rc) {
				vcpu_inject_gp(v); /* keel's own memory or beyond its map: refused */
				return;
			}
			if (!in)
				io_port_out(port, size, val);
			uint64_t next = r->gpr[idx] + (down ? -(uint64_t)size : size);
			r->gpr[idx] = (r->gpr[idx] & ~amask) | (next & amask);
			if (IOQ_REP(q))
				r->gpr[GPR_RCX] = (r->gpr[GPR_RCX] & ~amask) | ((r->gpr[GPR_RCX] - 1) & amask);
		}
	} else if (IOQ_IN(q)) {
		r->gpr[GPR_RAX] = (r->gpr[GPR_RAX] & ~mask) | (io_port_in(port, size) & mask);
		if (size == 4)
			r->gpr[GPR_RAX] &= 0xFFFFFFFF; /* 32-bit results zero-extend */
	} else {
		io_port_out(port, size, (uint32_t)(r->gpr[GPR_RAX] & mask));
	}
	vcpu_skip_instruction(v);
}

/* ---- XSETBV, INVD, VMX instructions ---- */

static void handle_xsetbv(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint64_t val = (uint32_t)r->gpr[GPR_RAX] | (r->gpr[GPR_RDX] << 32);
	struct cpuid_regs d;

	if (!(vmcs_readnat(VMCS_GUEST_CR4) & CR4_OSXSAVE)) {
		vcpu_inject_ud(v);
		return;
	}
	cpuid(0xD, 0, &d);
	if (vcpu_cpl() != 0 || xcr0_write_faults((uint32_t)r->gpr[GPR_RCX], val, d.eax | ((uint64_t)d.edx << 32)) ||
	    safe_xsetbv((uint32_t)r->gpr[GPR_RCX], val)) {
		vcpu_inject_gp(v);
		return;
	}
	vcpu_skip_instruction(v);
}

static void handle_invd(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	/* Discarding caches would also discard keel's own dirty lines: write them back instead. */
	wbinvd();
	vcpu_skip_instruction(v);
}

static void handle_vmx_instruction(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	vcpu_inject_ud(v); /* CPUID reports no VMX to the guest: as on a CPU without it */
}

/* ---- INIT, SIPI, triple fault ---- */

static void handle_init(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	/*
	 * Bochs 2.7 leaves INIT pending after the INIT VM exit and raises it again on the entry after
	 * the SIPI exit (Bochs issue stlintel/Bochs#11, fixed in later releases). An INIT that arrives
	 * before the started CPU executed its first instruction is that echo: drop it. On hardware a
	 * new INIT needs a new IPI, which software sends only after waiting for the AP.
	 */
	if (v->sipi_vector >= 0 && vmcs_readnat(VMCS_GUEST_RIP) == 0 &&
	    vmcs_read16(VMCS_GUEST_CS_SEL) == (uint16_t)(v->sipi_vector << 8)) {
		if (!v->init_echo_logged++)
			log_info("keel: cpu%u: INIT right after SIPI ignored (Bochs 2.7 erratum)", v->index);
		/* The same Bochs saves blocking-by-SMI on this exit (stlintel/Bochs#10): start afresh. */
		vcpu_start_at_sipi_vector(v, (unsigned)v->sipi_vector);
		v->sipi_vector = -1;
		return;
	}
	for (unsigned i = 0; i < 16; i++)
		r->gpr[i] = 0;
	vcpu_reset_to_wait_for_sipi(v);
}

static void handle_sipi(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	vcpu_start_at_sipi_vector(v, (unsigned)(e->qualification & 0xFF));
	v->sipi_vector = (int)(e->qualification & 0xFF);
}

static void handle_triple_fault(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	vcpu_dump_guest(v, "triple fault");
	vcpu_stop(v, "the guest triple-faulted (a real CPU would shut down)");
}

/* ---- EPT ---- */

void hidden_access_log(struct vcpu *v, uint64_t page, int write, uint64_t rip)
{
	struct vm *vm = v->vm;
	const unsigned max = sizeof(vm->hidden_logged) / sizeof(vm->hidden_logged[0]);

	/* nhidden_logged never exceeds max: reading past the array would let the compiler assume
	 * the bound check below always holds (it did, and overwrote the exit-handler table). */
	for (unsigned i = 0; i < vm->nhidden_logged; i++)
		if (vm->hidden_logged[i] == page)
			return;
	if (vm->nhidden_logged < max) {
		vm->hidden_logged[vm->nhidden_logged++] = page;
	} else {
		if (!vm->hidden_log_full) {
			vm->hidden_log_full = 1;
			log_warn("keel: more guest accesses to keel's memory: no longer reported page by page");
		}
		return;
	}
	log_warn("keel: cpu%u: guest %s keel's hidden page 0x%llx at RIP 0x%llx: %s", v->index,
		 write ? "wrote to" : "read", (unsigned long long)page, (unsigned long long)rip,
		 write ? "write discarded" : "reads return all ones");
}

static void handle_ept_violation(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	uint64_t gpa = vmcs_read64(VMCS_GUEST_PHYSICAL_ADDRESS);
	struct vm *vm = v->vm;
	int hidden = ept_is_hidden(&vm->ept, gpa);
	uint64_t page = gpa & ~0xFFFULL;
	int rc;

	if (hidden) {
		/* keel's own memory: reads see all ones, writes land in a scratch page (docs/memory.md). */
		int write = !!(e->qualification & EPTQ_WRITE);
		hidden_access_log(v, page, write, vmcs_readnat(VMCS_GUEST_RIP));
		rc = ept_map_4k(&vm->ept, page, (uint64_t)(uintptr_t)(write ? vm->sink_page : vm->ones_page),
				write ? EPT_RWX : (EPT_R | EPT_X), MT_WB);
	} else if (page >= vm->ept.map_top) {
		/* Beyond the map built at start (a device placed high): identity, uncached, as hardware. */
		log_info("keel: cpu%u: guest touched 0x%llx beyond the EPT map: mapping it uncached", v->index,
			 (unsigned long long)gpa);
		rc = ept_map_4k(&vm->ept, page, page, EPT_RWX, MT_UC);
	} else {
		log_err("keel: EPT violation at GPA 0x%llx (qualification 0x%llx, RIP 0x%llx) inside the map",
			(unsigned long long)gpa, (unsigned long long)e->qualification,
			(unsigned long long)vmcs_readnat(VMCS_GUEST_RIP));
		vcpu_dump_guest(v, "EPT violation");
		vcpu_stop(v, "unexpected EPT violation");
	}
	if (rc)
		vcpu_stop(v, "out of memory for EPT tables");
	invept(INVEPT_SINGLE_CONTEXT, vm->eptp);
}

static void handle_ept_misconfig(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	log_err("keel: EPT misconfiguration at GPA 0x%llx, RIP 0x%llx",
		(unsigned long long)vmcs_read64(VMCS_GUEST_PHYSICAL_ADDRESS),
		(unsigned long long)vmcs_readnat(VMCS_GUEST_RIP));
	vcpu_stop(v, "EPT misconfiguration (a keel bug)");
}

/* The preemption timer: a retry for a pending NMI (vmx_nmi_timer_arm), or CPU 0's statistics
 * clock (stats_interval=). */
static void handle_preemption_timer(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)r;
	(void)e;
	struct vm *vm = v->vm;
	if (v->nmi_timer) {
		vmx_nmi_timer_disarm(v); /* vmx_exit_handler retries the NMI after this */
		return;
	}
	uint64_t now = rdtsc();
	if (now - vm->stats_last >= vm->stats_ticks) {
		vm->stats_last = now;
		stats_print(vm);
	}
	vmcs_write32(VMCS_PREEMPTION_TIMER, vmx_stats_timer_value(vm));
}

void handlers_register(void)
{
	exit_register(EXIT_REASON_PREEMPTION_TIMER, handle_preemption_timer);
	static const unsigned vmx_instructions[] = {
		EXIT_REASON_VMCLEAR, EXIT_REASON_VMLAUNCH, EXIT_REASON_VMPTRLD, EXIT_REASON_VMPTRST,
		EXIT_REASON_VMREAD,  EXIT_REASON_VMRESUME, EXIT_REASON_VMWRITE, EXIT_REASON_VMXOFF,
		EXIT_REASON_VMXON,   EXIT_REASON_INVEPT,   EXIT_REASON_INVVPID, EXIT_REASON_VMFUNC,
	};
	for (unsigned i = 0; i < sizeof(vmx_instructions) / sizeof(vmx_instructions[0]); i++)
		exit_register(vmx_instructions[i], handle_vmx_instruction);
	exit_register(EXIT_REASON_CPUID, handle_cpuid);
	exit_register(EXIT_REASON_MSR_READ, handle_rdmsr);
	exit_register(EXIT_REASON_MSR_WRITE, handle_wrmsr);
	exit_register(EXIT_REASON_CR_ACCESS, handle_cr);
	exit_register(EXIT_REASON_XSETBV, handle_xsetbv);
	exit_register(EXIT_REASON_IO_INSTRUCTION, handle_io);
	exit_register(EXIT_REASON_INVD, handle_invd);
	exit_register(EXIT_REASON_INIT, handle_init);
	exit_register(EXIT_REASON_SIPI, handle_sipi);
	exit_register(EXIT_REASON_TRIPLE_FAULT, handle_triple_fault);
	exit_register(EXIT_REASON_EPT_VIOLATION, handle_ept_violation);
	exit_register(EXIT_REASON_EPT_MISCONFIG, handle_ept_misconfig);
	exit_register(EXIT_REASON_VMCALL, hypercall_handle);
	exit_register(EXIT_REASON_TASK_SWITCH, task_switch_handle);
}
