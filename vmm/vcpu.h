/* Per-CPU and machine-wide state of keel's monitor, and the helpers exit handlers share.
 * VMX root (and setup on each CPU). */
#ifndef KEEL_VMM_VCPU_H
#define KEEL_VMM_VCPU_H

#include <stddef.h>
#include <stdint.h>

#include "../arch/x86/vmx.h"
#include "../mm/ept.h"
#include "../mm/mtrr.h"
#include "caps.h"
#include "emulate.h"
#include "guest_msrs.h"

/* Logical CPUs keel virtualizes; a machine with more is not virtualized at all (vmm_start), so no
 * CPU is ever left native beside virtualized ones without a word. */
#define KEEL_MAX_CPUS 1024
#define HOST_STACK_PAGES 4
/* Shadow tables per vCPU under mmu=shadow (2 MiB): a 4-level guest's working set of a few
 * processes; more refaults after reclaim rather than fails (mm/shadow.h). */
#define SHADOW_VCPU_PAGES 512

/* Guest GPRs as the exit stub pushes them, indexed as exit qualifications number them
 * (0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI, 8-15 R8-R15). The RSP slot is unused:
 * the guest RSP lives in the VMCS. */
struct guest_regs {
	uint64_t gpr[16];
};
enum { GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI, GPR_RDI };
_Static_assert(sizeof(struct guest_regs) == 16 * 8, "vmx_entry.asm pushes exactly 16 registers");

/* 64-bit TSS (SDM Vol. 3A 8.7). */
struct __attribute__((packed)) tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
};
_Static_assert(sizeof(struct tss64) == 104, "TSS layout");

struct vm;
struct shadow_mmu;

/* CPUID leaves 0-31 the exit stub answers itself (vmx_entry.asm): per-CPU, fixed for the boot. */
#define CPUID_FAST_LEAVES 32

/* The last IA-32e walk vcpu_copy_guest made (vmm/guest_mem.c): where it read each entry and what
 * it found there. It is used only after every one of those entries reads the same again, so it
 * gives exactly what a new walk would; the table addresses were checked against keel's hidden
 * ranges when it was filled, and those ranges do not change after setup. */
struct guest_walk_cache {
	uint64_t cr3, vpn;       /* CR3's table address and gva >> 12 */
	uint64_t at[4], e[4];    /* entry addresses (guest-physical) and values, from the top */
	uint64_t allow, gpa_page; /* what every level granted; the 4 KiB frame gva maps to */
	unsigned levels;         /* 0: empty */
	int page_ok;             /* the whole frame is keel's to touch (guest_phys_ok) */
};

struct vcpu {
	/* The exit stub's fields first, at offsets it checks (vmm/exit.c _Static_asserts). */
	struct vcpu *self;   /* %gs:0 in VMX root (HOST_GS_BASE = this vCPU) */
	uint32_t cpuid_fast_mask; /* leaves the stub may answer from cpuid_cache: 0 while !fast */
	uint32_t fast;       /* 1: no per-exit work pending (exit_fast_refresh): the fast paths may run */
	struct cpuid_regs cpuid_cache[CPUID_FAST_LEAVES]; /* shaped answers of the leaves in cpuid_cached */
	uint64_t exits[EXIT_REASON_COUNT + 1]; /* by basic reason; the last: reasons beyond the table */
	uint32_t cpuid_cached; /* leaves in cpuid_cache: ECX-independent, no dynamic bits */
	uint64_t feature_control; /* IA32_FEATURE_CONTROL as the guest reads it (locked: fixed) */
	unsigned index;       /* keel's CPU number: 0 = BSP */
	uint32_t apic_id;     /* x2APIC ID where CPUID leaf 0xB gives one, else the 8-bit APIC ID */
	struct vm *vm;
	uint64_t vmxon_pa, vmcs_pa;
	uint8_t *stack;       /* HOST_STACK_PAGES pages; the vcpu pointer sits at the top */
	uint64_t gdt[8];      /* null, code64 0x08, data 0x10, TSS 0x18 (two slots) */
	struct tss64 tss;
	uint16_t vpid;
	int launched;         /* VMLAUNCH succeeded */
	int stopped;          /* stopped after a fatal guest event; never resumed */
	int in_root;          /* inside the exit handler */
	int launch_failed;    /* the first entry failed: vmx_exit_handler unwinds to the launcher */
	int seen_seal;        /* this CPU flushed its EPT caches after the seal */
	unsigned seen_dev_gen; /* the ept.dev_gen (device-mapping reclaims) this CPU has flushed for */
	int sipi_vector;      /* vector of the SIPI that just started this vCPU, -1 once it ran */
	unsigned init_echo_logged;
	/* INIT and SIPI as keel forwards them from a sender's trapped ICR write (vmm/sipi.c): a SIPI
	 * that finds this CPU still in keel's INIT handler waits in sipi_pending (SIPI_PENDING_*). */
	volatile uint32_t init_gen;    /* INITs trapped ICR writes sent to this CPU */
	volatile uint32_t started_gen; /* init_gen when a SIPI last started it */
	uint32_t init_taken_gen;       /* init_gen at this CPU's last INIT exit */
	volatile uint64_t sipi_pending;
	uint64_t sipis_from_root;      /* SIPIs taken from sipi_pending rather than as SIPI exits */
	volatile int nmi_pending; /* an NMI hit keel in VMX root: the guest's, injected when it can take it */
	volatile int nmi_timer;   /* the preemption timer is armed to retry that injection */
	volatile int mc_pending;  /* a machine check hit keel in VMX root (or a VM entry): the guest's */
	uint64_t nmis_in_root;
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	uint32_t exc_unmasked; /* exception vectors let through for one entry (vmm/exception.c) */
	struct guest_regs *regs; /* valid while in_root */
	/* mmu=shadow (vmm/shadow_exit.c): the real CR3 is the shadow root; the guest's own CR3 and,
	 * with PAE paging, the PDPTEs its last CR3 load read live here. shadow_mmu is this vCPU's
	 * shadow MMU (NULL under mmu=ept); shadow is the same pointer while the vCPU runs on shadow
	 * tables, and NULL under mmu=ept and in an unpaged phase on the EPT (vm->unpaged_ept), where
	 * the guest's CR3 is the real one and every EPT-mode path applies. */
	struct shadow_mmu *shadow;
	struct shadow_mmu *shadow_mmu;
	uint64_t guest_cr3;
	uint64_t guest_pdpte[4];
	int shadow_seen_seal;  /* keel's memory added to the shadow MMU's hidden ranges */
	uint64_t shadow_efer;  /* EFER.NXE and LMA when the current shadow root was chosen */
	unsigned unpaged_logged, paged_logged; /* switches to the EPT / back to shadow tables */
	unsigned apic_trap_logged; /* xAPIC writes emulated on shadow tables (SHADOW_WRITE_TRAP) */
	/* Where the CPU cannot load/save EFER and PAT itself (guest_msrs.h): the guest's values,
	 * loaded at VM entry and stored at VM exit, and keel's, loaded at VM exit. */
	struct vmx_msr_entry guest_msr_list[LISTED_COUNT] __attribute__((aligned(16)));
	struct vmx_msr_entry host_msr_list[LISTED_COUNT] __attribute__((aligned(16)));
	struct guest_walk_cache walk;
};

struct vm {
	struct vmx_caps caps;
	struct mtrr_state mtrr;
	struct ept ept;
	uint64_t eptp;
	uint8_t *msr_bitmap;   /* 4 KiB */
	uint8_t *io_bitmap;    /* 8 KiB: A (0-0x7FFF) then B */
	uint64_t host_cr3;
	uint64_t *idt;         /* 256 gates, 16 bytes each */
	uint8_t *ones_page;    /* what a guest read of keel's memory sees: all ones */
	uint8_t *sink_page;    /* where guest writes to keel's memory go */
	uint8_t *canary;       /* 64 bytes in hidden memory */
	uint64_t mem_base, mem_size; /* keel's footprint for the MEMRANGE hypercall */
	int sealed;            /* keel's memory removed from the EPT (KEEL_HC_SEAL) */
	unsigned break_mask;   /* VMM_BREAK_* */
	int corrupt_guest_tr;  /* debug_corrupt=guest_tr: a deliberately failing first VM entry */
	uint64_t stats_ticks;  /* TSC ticks between statistics tables; 0 = off */
	uint64_t stats_last;   /* TSC at the last table */
	uint32_t pin, proc, proc2, exit_ctls, entry_ctls;
	unsigned trap;         /* TRAP_* classes asked for (trap=); vmx_compute_controls keeps those it can */
	unsigned trap_missing; /* asked for, but the CPU cannot intercept them (reported, left out) */
	uint32_t exception_bitmap;
	int shadow;            /* mmu=shadow: a paged vCPU runs on shadow tables, EPT and unrestricted guest off */
	/* mmu=shadow on a CPU with all EPT mode needs: a vCPU whose guest CR0.PG is 0 (real mode after
	 * SIPI, protected mode without paging) runs on the EPT with unrestricted guest instead, and
	 * switches at each change of CR0.PG (vmm/shadow_exit.c). Its controls then: proc & ~proc_paging
	 * and proc2 | proc2_unpaged. */
	int unpaged_ept;
	uint32_t proc_paging;  /* CR3-load/store and INVLPG exiting the unpaged phase drops */
	uint32_t proc2_unpaged; /* EPT and unrestricted guest */
	struct cpuid_policy cpuid_policy; /* what the guest's CPUID hides, from proc2 and CR4_FIXED1 */
	unsigned ncpus;        /* logical CPUs reported */
	unsigned nvirt;        /* CPUs virtualized */
	struct vcpu *vcpus[KEEL_MAX_CPUS];
	uint64_t hidden_logged[32]; /* pages already reported (a small set, then silence) */
	unsigned nhidden_logged;
	int hidden_log_full;
	int device_refused_logged;
	int ucode_write_logged;     /* msr.c: one line for guest microcode updates */  /* ept_fault.c: bounded reporting of device accesses */
	unsigned device_maps_logged;
	/* The sender's side of INIT/SIPI (vmm/sipi.c): with APs to start, writes to the xAPIC page
	 * exit (EPT: read-only) so keel sees each ICR write; 0 when not trapped. */
	uint64_t apic_page;
	volatile uint8_t *apic_regs; /* where keel reaches that page (identity in VMX root) */
	volatile int apic_trap_off;  /* a write keel could not decode: the trap was lifted */
};

extern struct vm keel_vm;

/* Exits of every reason (the stub counts only its own reason: there is no separate total). */
static inline uint64_t vcpu_exits_total(const struct vcpu *v)
{
	uint64_t n = 0;
	for (unsigned i = 0; i <= EXIT_REASON_COUNT; i++)
		n += v->exits[i];
	return n;
}

/* Sends v's next exit to the slow path, which does the work pending and then recomputes v->fast
 * (exit_fast_refresh). Safe from another CPU and from an NMI in root. */
static inline void vcpu_make_slow(struct vcpu *v)
{
	__atomic_store_n(&v->cpuid_fast_mask, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&v->fast, 0, __ATOMIC_RELEASE);
}

/* The vCPU whose exit this CPU is handling (VMX root: HOST_GS_BASE points at it), else NULL. */
struct vcpu *vcpu_in_root(void);
/* The vCPU of this CPU, in root or not (outside root by x2APIC ID), or NULL before its setup. */
struct vcpu *vcpu_current(void);
/* This CPU's APIC ID: the 32-bit x2APIC ID (CPUID.0BH:EDX) where leaf 0xB exists, else
 * CPUID.1:EBX[31:24]; IDs above 255 exist (SDM Vol. 3A 11.12.8). */
uint32_t vcpu_this_apic_id(void);

/* Advances the guest RIP past the exiting instruction and drops STI/MOV-SS blocking; a TF-set
 * guest gets its single-step #DB after the emulated instruction, as on hardware. */
void vcpu_skip_instruction(struct vcpu *v);
/* Exceptions of the fault class (their delivery saves RFLAGS.RF = 1). */
int vcpu_exception_is_fault(unsigned vector);

/* Queues a hardware exception for the next VM entry (RIP is not advanced: faults restart). */
void vcpu_inject_exception(struct vcpu *v, unsigned vector, int has_error, uint32_t error);
#define vcpu_inject_gp(v) vcpu_inject_exception((v), VEC_GP, 1, 0)
#define vcpu_inject_ud(v) vcpu_inject_exception((v), VEC_UD, 0, 0)

/* Drop this CPU's cached EPT translations (INVEPT of the type the CPU offers, SDM 28.3.3.4) / the
 * guest's linear translations under its VPID (INVVPID; nothing without VPID). */
void vcpu_flush_ept(struct vcpu *v);
void vcpu_flush_vpid(struct vcpu *v);

/* The CR3 the guest loaded: the VMCS's under EPT, the one keel keeps under shadow paging. */
static inline uint64_t vcpu_guest_cr3(const struct vcpu *v)
{
	return v && v->shadow ? v->guest_cr3 : vmcs_readnat(VMCS_GUEST_CR3);
}

/* Guest CPL from SS.DPL. */
static inline unsigned vcpu_cpl(void) { return AR_DPL(vmcs_read32(VMCS_GUEST_SS_AR)); }

/* Prints the guest state of the current VMCS, for failures and unhandled exits. */
void vcpu_dump_guest(struct vcpu *v, const char *why);

/* Stops this vCPU for good: reports, then parks the CPU in VMX root. Never returns. */
void vcpu_stop(struct vcpu *v, const char *why) __attribute__((noreturn));

/* INIT parks the vCPU in wait-for-SIPI; SIPI starts it in real mode at vector:0000 (vmm/sipi.c). */
void vcpu_reset_to_wait_for_sipi(struct vcpu *v);
void vcpu_start_at_sipi_vector(struct vcpu *v, unsigned vector);

/* Reports a guest access to keel's hidden memory, once per page (vmm/ept_fault.c). */
void hidden_access_log(struct vcpu *v, uint64_t page, int write, uint64_t rip);

/* Guest memory accessed on the guest's behalf, through its page tables at its CPL. */
#define GUEST_PAGE_FAULT (-1) /* the CPU would raise #PF: inject it (vcpu_inject_page_fault) */
#define GUEST_REFUSED (-2)    /* keel will not touch it (its own memory, beyond the EPT map) */
struct guest_fault {
	uint64_t addr;  /* CR2 */
	uint32_t error; /* #PF error code */
};
/* Copies len bytes between buf and guest-virtual gva (write: into the guest). Returns 0,
 * GUEST_PAGE_FAULT (with *pf when pf is not NULL) or GUEST_REFUSED; bytes before the failing page
 * may have been copied. */
int vcpu_copy_guest(struct vcpu *v, uint64_t gva, void *buf, size_t len, int write, struct guest_fault *pf);
/* The host address of the 4 KiB guest page that holds gva, for accesses (write: stores) at the
 * guest's CPL: 0 with *page when the access is allowed and all of the page is keel's to touch;
 * GUEST_PAGE_FAULT with *pf; GUEST_REFUSED when keel will not touch the page or a part of it
 * (vcpu_copy_guest then says which bytes it may). For string I/O, which moves many elements
 * through one page. */
int vcpu_guest_page(struct vcpu *v, uint64_t gva, int write, uint8_t **page, struct guest_fault *pf);
/* vcpu_copy_guest into buf: 0, or -1 on any failure. */
int vcpu_read_guest(struct vcpu *v, uint64_t gva, void *buf, size_t len);
/* Copies len bytes of guest-physical memory at gpa into buf: 0, or GUEST_REFUSED where keel will
 * not read (its own memory, beyond the EPT map). */
int vcpu_read_guest_phys(uint64_t gpa, void *buf, size_t len);
/* Sets CR2 and queues #PF with the error code. */
void vcpu_inject_page_fault(struct vcpu *v, const struct guest_fault *pf);

#endif
