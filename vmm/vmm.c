/* keel's VMX monitor: builds the machine-wide state (host page tables, EPT, bitmaps, IDT), then
 * virtualizes the BSP and every AP. UEFI boot services: BSP, with APs through the platform. */
#include "vmm.h"

#include "../arch/x86/cr.h"
#include "../arch/x86/msr.h"
#include "../drivers/uart.h"
#include "../lib/log.h"
#include "../lib/string.h"
#include "../mm/paging.h"
#include "../mm/pool.h"
#include "cpuid.h"
#include "emulate.h"
#include "exit.h"
#include "host.h"
#include "hypercall.h"
#include "shadow_exit.h"
#include "sipi.h"
#include "vmcheck.h"
#include "vmcs.h"
#include "vmx.h"

struct vm keel_vm;

#define VCPU_PAGES (1 + 1 + 1 + HOST_STACK_PAGES) /* struct vcpu, VMXON, VMCS, stack */
_Static_assert(sizeof(struct vcpu) <= 4096, "struct vcpu fits a page");

size_t vmm_pool_pages(unsigned ncpus, int shadow)
{
	/* EPT (budget 24 pages, plus EPT_DEV_TABLES_DEFAULT reserved for device memory) + host tables
	 * (up to 10) + bitmaps 3 + IDT + ones/sink/canary 3 + slack; with shadow paging, each vCPU's
	 * struct shadow_mmu and its pool of shadow tables. The EPT is built in shadow mode too (its
	 * hidden ranges are what the seal and the guest-memory helpers consult), just never enabled. */
	return 64 + EPT_DEV_TABLES_DEFAULT + (size_t)ncpus * (VCPU_PAGES + (shadow ? 1 + SHADOW_VCPU_PAGES : 0));
}

int vmm_in_root(void) { return vcpu_in_root() != 0; }

unsigned vmm_cpu_index(void)
{
	struct vcpu *v = vcpu_current();
	return v ? v->index : 0;
}

/* TSC frequency from CPUID leaf 0x16 (base MHz), else 0x15, else an assumed 1 GHz. */
static uint64_t tsc_hz(void)
{
	struct cpuid_regs r;
	cpuid(0, 0, &r);
	uint32_t max = r.eax;
	if (max >= 0x15) {
		cpuid(0x15, 0, &r);
		if (r.eax && r.ebx && r.ecx)
			return (uint64_t)r.ecx * r.ebx / r.eax;
	}
	if (max >= 0x16) {
		cpuid(0x16, 0, &r);
		if (r.eax & 0xFFFF)
			return (uint64_t)(r.eax & 0xFFFF) * 1000000;
	}
	return 1000000000ULL;
}

static void *alloc_one(void) { return pool_alloc_pages(1); }

static struct vcpu *vcpu_create(struct vm *vm, unsigned index)
{
	struct vcpu *v = pool_alloc_pages(1);
	void *vmxon = pool_alloc_pages(1), *vmcs = pool_alloc_pages(1);
	uint8_t *stack = pool_alloc_pages(HOST_STACK_PAGES);
	if (!v || !vmxon || !vmcs || !stack)
		return 0;
	v->index = index;
	v->self = v;
	v->apic_id = vcpu_this_apic_id();
	v->vm = vm;
	v->vmxon_pa = (uint64_t)(uintptr_t)vmxon;
	v->vmcs_pa = (uint64_t)(uintptr_t)vmcs;
	v->stack = stack;
	v->vpid = (vm->proc2 & PROC2_ENABLE_VPID) ? (uint16_t)(index + 1) : 0;
	v->sipi_vector = -1;
	/* What the guest reads of IA32_FEATURE_CONTROL never changes: locked by the firmware or by
	 * keel's VMX enable, and shown locked with VMX off either way (the RDMSR fast path's answer). */
	v->feature_control = msr_feature_control_view(rdmsr(MSR_IA32_FEATURE_CONTROL));
	cpuid_cache_fill(v); /* on the vCPU's own CPU: ap_launch runs there */
	if (vm->shadow && shadow_vcpu_init(v)) {
		log_err("keel: cpu%u: no shadow MMU (pool short, or its pages above 4 GiB)", index);
		return 0;
	}
	return v;
}

/*
 * A 64-byte canary in hidden memory. Its first 16 bytes are a fixed marker the guest test searches
 * for; the marker is assembled here from two halves that never appear together in keel's image, so
 * no copy of it exists outside hidden memory. The rest is TSC-derived noise.
 */
static void canary_write(uint8_t *dst)
{
	static const char half_a[] = "KeEl-CaN";
	static const uint8_t half_b[] = { 'a' ^ 0x5A, 'r' ^ 0x5A, 'y' ^ 0x5A, '-' ^ 0x5A,
					  '6' ^ 0x5A, '4' ^ 0x5A, 'B' ^ 0x5A, '!' ^ 0x5A };
	for (int i = 0; i < 8; i++) {
		dst[i] = (uint8_t)half_a[i];
		dst[8 + i] = half_b[i] ^ 0x5A;
	}
	uint64_t x = rdtsc() | 1;
	for (int i = 16; i < 64; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		dst[i] = (uint8_t)(x >> 24);
	}
}

static const char *build_vm(struct vm *vm, const struct vmm_platform *p)
{
	struct memmap_summary s;
	unsigned host_tables;

	memmap_summarize(p->regions, p->nregions, &s);
	mtrr_read(&vm->mtrr, vm->caps.max_phys_bits);
	vm->ncpus = p->ncpus;

	vm->host_cr3 = paging_build_identity(alloc_one, s.phys_top, !!(vm->caps.cpuid81_edx & CPUID81_EDX_PAGE1GB),
					     &host_tables);
	if (!vm->host_cr3)
		return "out of memory for the host page tables";

	vm->msr_bitmap = pool_alloc_pages(1);
	vm->io_bitmap = pool_alloc_pages(2);
	vm->ones_page = pool_alloc_pages(1);
	vm->sink_page = pool_alloc_pages(1);
	vm->canary = pool_alloc_pages(1);
	if (!vm->msr_bitmap || !vm->io_bitmap || !vm->ones_page || !vm->sink_page || !vm->canary ||
	    host_setup_idt(vm))
		return "out of memory for bitmaps";
	memset(vm->ones_page, 0xFF, 4096);
	canary_write(vm->canary);
	vmx_traps_init(vm);

	/* EPT: everything below max(4 GiB, top of the memory map), keel's image and pool left out. */
	struct ept *e = &vm->ept;
	e->map_top = s.phys_top > (4ULL << 30) ? (s.phys_top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1) : 4ULL << 30;
	e->use_1g = vmx_caps_has_ept_1g(&vm->caps);
	e->use_2m = vmx_caps_has_ept_2m(&vm->caps);
	e->use_5level = !!(vm->caps.ept_vpid & EPT_CAP_WALK_5); /* used when MAXPHYADDR > 48 */
	e->mtrr = &vm->mtrr;
	e->alloc_page = alloc_one;
	ept_hide(e, p->image_base, p->image_size);
	ept_hide(e, p->pool_base, p->pool_pages * PAGE_SIZE);
	vm->mem_base = p->pool_base < p->image_base ? p->pool_base : p->image_base;
	vm->mem_size = p->image_size + p->pool_pages * PAGE_SIZE;
	if (p->shadow && !vm->unpaged_ept) {
		/* No EPT tables: the hidden ranges and map_top serve the shadow MMU and the guest-memory
		 * checks. (A 4 KiB-only EPT of 4 GiB, all a Core 2 could walk, would need 8 MiB.) */
		log_info("keel: no EPT tables under shadow paging (%u hidden pages, guest memory to 0x%llx)",
			 ept_hidden_pages(e), (unsigned long long)e->map_top);
	} else {
		if (ept_build(e))
			return "out of memory for the EPT";
		ept_set_hidden_present(e, 1); /* until hand-off: keel's boot code still runs as the guest */
		sipi_trap_apic_page(vm);       /* the sender's side of INIT/SIPI (vmm/sipi.c) */
		/* Paging-structure memory type: WB where EPT offers it, else UC (SDM Vol. 3C 25.6.11). */
		vm->eptp = (ept_pointer(e) & ~7ULL) | (vmx_caps_has_ept_wb(&vm->caps) ? MT_WB : MT_UC);
		log_info("keel: ept tables %u KiB (%u x 1 GiB, %u x 2 MiB, %u x 4 KiB mappings, %u hidden pages, map to 0x%llx)",
			 e->stats.tables * 4, e->stats.pages_1g, e->stats.pages_2m, e->stats.pages_4k,
			 e->stats.hidden_pages, (unsigned long long)e->map_top);
	}
	log_info("keel: host page tables %u KiB, MTRRs %s (default %s, %u variable)", host_tables * 4,
		 (vm->mtrr.def_type & MTRR_DEF_TYPE_E) ? "on" : "off", mtrr_type_name(vm->mtrr.def_type & 0xFF),
		 vm->mtrr.var_count);
	return 0;
}

struct ap_args {
	struct vm *vm;
	volatile unsigned next_index;
	int (*precheck)(struct vcpu *);
};

static void ap_launch(void *arg)
{
	struct ap_args *a = arg;
	unsigned index = __atomic_fetch_add(&a->next_index, 1, __ATOMIC_SEQ_CST);
	if (index >= KEEL_MAX_CPUS)
		return;
	struct vcpu *v = vcpu_create(a->vm, index);
	if (!v) {
		log_err("keel: cpu%u: out of memory for its vCPU; left unvirtualized", index);
		return;
	}
	a->vm->vcpus[index] = v;
	const char *why = vmx_vcpu_launch(v, a->precheck);
	if (why) {
		log_err("keel: cpu%u: %s; left unvirtualized", index, why);
		return;
	}
	__atomic_fetch_add(&a->vm->nvirt, 1, __ATOMIC_SEQ_CST);
}

static void check_report(void *ctx, const char *rule, const char *sdm, const char *detail)
{
	struct vcpu *v = ctx;
	log_err("keel: check: cpu%u breaks %s (SDM Vol. 3C %s): %s", v->index, rule, sdm, detail);
}

/* check=on: the software VM-entry checker before each VMLAUNCH; nonzero stops the launch. */
static int run_checker(struct vcpu *v)
{
	unsigned n = vmcheck_run(&v->vm->caps, check_report, v);
	if (!n)
		log_info("keel: check: cpu%u's VMCS passes keel's VM-entry checks", v->index);
	return (int)n;
}

/* After a failed VM entry: name the rules the VMCS breaks, if the checker knows them. */
static void explain_failed_entry(struct vcpu *v)
{
	if (!vmcheck_run(&v->vm->caps, check_report, v))
		log_err("keel: check: keel's checker finds no broken rule; the CPU checks more than it does");
}

int (*vmm_precheck)(struct vcpu *v) = run_checker;

const char *vmm_start(const struct vmm_platform *p)
{
	struct vm *vm = &keel_vm;
	const char *why;

	memset(vm, 0, sizeof(*vm));
	vm->caps = *p->caps;
	vm->break_mask = p->break_mask;
	vm->corrupt_guest_tr = p->corrupt_guest_tr;
	vm->trap = p->trap_mask;
	vm->shadow = p->shadow;
	/* Unpaged phases (real mode at SIPI) on the EPT where the CPU has what EPT mode needs
	 * (docs/memory-virtualization.md, "Unpaged phases"); else PAE shadow tables, no real mode. */
	vm->unpaged_ept = p->shadow && !vmx_caps_ept_unavailable_reason(&vm->caps);
	if (p->stats_interval) {
		if ((vmx_caps_pinbased(&vm->caps) >> 32) & PIN_PREEMPTION_TIMER)
			vm->stats_ticks = p->stats_interval * tsc_hz();
		else
			log_warn("keel: stats_interval ignored: this CPU has no VMX-preemption timer");
	}
	pool_init(p->pool_base, p->pool_pages);
	log_set_cpu_fn(vmm_cpu_index);
	vmx_entry_check_hook = explain_failed_entry;
	vmx_shadow_launch_hook = shadow_vcpu_launch_state;

	/* Every CPU or none: a CPU left native sees VMX and can write keel's memory. */
	if (p->ncpus > KEEL_MAX_CPUS)
		return "the machine has more logical CPUs than keel's limit (KEEL_MAX_CPUS, vmm/vcpu.h)";
	why = vmx_compute_controls(vm);
	if (!why)
		vmx_report_traps(vm);
	if (!why && guest_msrs_listed)
		log_info("keel: EFER and PAT switch through VM-entry/VM-exit MSR lists: the CPU cannot load or "
			 "save them by VM-exit/VM-entry controls");
	if (!why)
		why = build_vm(vm, p);
	if (why)
		return why;

	int (*precheck)(struct vcpu *) = p->check ? vmm_precheck : 0;
	struct vcpu *bsp = vcpu_create(vm, 0);
	if (!bsp)
		return "out of memory for the BSP's vCPU";
	vm->vcpus[0] = bsp;
	why = vmx_vcpu_launch(bsp, precheck);
	if (why) {
		vm->vcpus[0] = 0;
		return why;
	}
	vm->nvirt = 1;
	log_info("keel: cpu0 virtualized (APIC ID %u, VPID %u, mmu %s)", bsp->apic_id, bsp->vpid,
		 vm->shadow ? "shadow" : "ept");

	if (vm->unpaged_ept)
		log_info("keel: mmu=shadow: a vCPU with CR0.PG = 0 (real mode after SIPI, protected mode without "
			 "paging) runs on the EPT with unrestricted guest, a paged one on its shadow tables");
	if (p->ncpus > 1 && vm->shadow && !vm->unpaged_ept) {
		/*
		 * Shadow paging without unrestricted guest cannot run real mode, and the firmware wakes
		 * its parked APs with INIT and SIPI into real mode, which VM entry then refuses.
		 * Emulating real mode is not done: the APs stay native (and the seal is refused).
		 */
		log_warn("keel: mmu=shadow: no unrestricted guest, so an AP's real-mode start at SIPI cannot "
			 "run under keel; the %u APs are left unvirtualized",
			 p->ncpus - 1);
	} else if (p->ncpus > 1 && !(vm->caps.misc & VMX_MISC_ACTIVITY_WAIT_SIPI)) {
		/*
		 * An INIT to a virtualized AP exits to keel, which must park the vCPU in the
		 * wait-for-SIPI activity state; a CPU without it (KVM before Linux 5.11, QEMU's named
		 * CPU models) would fail that VM entry. So the APs stay native, and the seal is refused.
		 */
		log_warn("keel: IA32_VMX_MISC[8] = 0: no wait-for-SIPI activity state, so an INIT to a "
			 "virtualized AP could not be emulated; the %u APs are left unvirtualized",
			 p->ncpus - 1);
	} else if (p->ncpus > 1) {
		struct ap_args a = { vm, 1, precheck };
		if (p->run_on_aps(ap_launch, &a))
			log_err("keel: could not run on the APs; they stay unvirtualized");
	}
	if (vm->nvirt < p->ncpus)
		log_err("keel: %u of %u CPUs run natively: they see VMX and can reach keel's memory, so keel "
			"will not seal its memory (docs/troubleshooting.md)",
			p->ncpus - vm->nvirt, p->ncpus);
	uint64_t ticks = rdtsc() - p->t_entry;
	log_info("keel: virtualized %u of %u CPUs in %llu TSC ticks (%llu of them waiting on the serial port)",
		 vm->nvirt, p->ncpus, (unsigned long long)ticks, (unsigned long long)uart_wait_ticks());
	log_info("keel: memory %llu KiB (image %llu KiB, pool %llu of %llu KiB used)",
		 (unsigned long long)(vm->mem_size >> 10), (unsigned long long)(p->image_size >> 10),
		 (unsigned long long)(pool_used_pages() * 4), (unsigned long long)(p->pool_pages * 4));
	return 0;
}

/* Guest side: runs as the guest (keel's loader), on one CPU. */
int vmm_seal_this_cpu(void)
{
	struct cpuid_regs r;
	cpuid(KEEL_CPUID_LEAF, 0, &r);
	if (r.ebx != KEEL_CPUID_SIG_EBX || r.ecx != KEEL_CPUID_SIG_ECX || r.edx != KEEL_CPUID_SIG_EDX)
		return -1; /* this CPU is not under keel: nothing to seal, and VMCALL would fault */
	uint64_t rax = KEEL_HC_SEAL;
	__asm__ volatile("vmcall" : "+a"(rax) : : "rbx", "rcx", "rdx", "memory");
	return rax == KEEL_HC_OK ? 0 : -1;
}
