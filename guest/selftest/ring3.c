/* Ring-3 harness (see ring3.h). UEFI boot services, BSP, interrupts off while in ring 3.
 *
 * For the few instructions at CPL 3 it installs, then removes:
 *  - page tables: a copy of the firmware's PML4 whose first entry maps [0, 4 GiB) with 2 MiB pages
 *    the user may access (the firmware's own set U/S = 0); everything above stays the firmware's;
 *  - a GDT: the firmware's descriptors plus user data, user code (64-bit) and a TSS whose RSP0
 *    is the stack the #UD that ends ring 3 arrives on;
 * and enters ring 3 with IRETQ. The trap harness brings the CPU back to CPL 0 (trap_dispatch
 * restores the catch point's CS and SS). */
#include "ring3.h"

#include "../../arch/x86/cr.h"
#include "../../lib/string.h"

#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_PS BIT(7)
#define PTE_ADDR 0x000FFFFFFFFFF000ULL
#define GDT_MAX 64

struct ring3_frame {
	uint64_t rip, cs, rflags, rsp, ss, rax, rbx, rcx; /* stubs.asm reads these offsets */
};

struct __attribute__((packed)) ring3_tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap_base;
};
_Static_assert(sizeof(struct ring3_tss) == 104, "SDM Vol. 3A 8.7: 64-bit TSS");

void ring3_enter(const struct ring3_frame *f) __attribute__((noreturn));
extern uint64_t ring3_out[3];

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[4][512] __attribute__((aligned(4096)));
static uint64_t gdt[GDT_MAX] __attribute__((aligned(16)));
static struct ring3_tss tss __attribute__((aligned(16)));
static uint8_t kernel_stack[8192] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));

static void load_data_segments(uint16_t ds, uint16_t es, uint16_t fs, uint16_t gs)
{
	__asm__ volatile("mov %0, %%ds\n\tmov %1, %%es\n\tmov %2, %%fs\n\tmov %3, %%gs" ::"r"(ds), "r"(es),
			 "r"(fs), "r"(gs));
}

static void enter(void *p) { ring3_enter(p); }

static int below_4g(const void *p, uint64_t size) { return (uint64_t)(uintptr_t)p + size <= (1ULL << 32); }

/* A busy 64-bit TSS descriptor at sel in table: a TR the firmware loaded, to give back afterwards.
 * (OVMF loads none; after a failed VM launch TR may still hold keel's host selector, which names
 * some other descriptor of the firmware's GDT.) */
static int is_busy_tss(const struct dtr *table, uint16_t sel)
{
	if (!sel || (sel & ~7u) + 15u > table->limit)
		return 0;
	uint64_t d = ((const uint64_t *)(uintptr_t)table->base)[sel >> 3];
	return ((d >> 40) & 0x1F) == 0x0B; /* S = 0, type 1011 */
}

const char *ring3_run_vmcall(struct ring3_vmcall *h)
{
	if (read_cr4() & (CR4_SMEP | CR4_SMAP))
		return "SMEP or SMAP is on";
	if (read_cr4() & CR4_LA57)
		return "5-level paging";
	if (!below_4g(ring3_ud2_insn, 16) || !below_4g(ring3_out, sizeof(uint64_t[3])) ||
	    !below_4g(user_stack, sizeof(user_stack)) || !below_4g(kernel_stack, sizeof(kernel_stack)))
		return "the selftest image lies above 4 GiB";
	struct dtr fw_gdt;
	sgdt(&fw_gdt);
	unsigned n = (fw_gdt.limit + 1u) / 8;
	if (n + 4 > GDT_MAX)
		return "the firmware's GDT is too large to copy";

	/* page tables */
	uint64_t fw_cr3 = read_cr3();
	const uint64_t *fw_pml4 = (const uint64_t *)(uintptr_t)(fw_cr3 & PTE_ADDR);
	memcpy(pml4, fw_pml4, sizeof(pml4));
	if ((fw_pml4[0] & PTE_P) && !(fw_pml4[0] & PTE_PS))
		memcpy(pdpt, (const void *)(uintptr_t)(fw_pml4[0] & PTE_ADDR), sizeof(pdpt));
	else
		memset(pdpt, 0, sizeof(pdpt));
	for (uint64_t i = 0; i < 4; i++) {
		for (uint64_t j = 0; j < 512; j++)
			pd[i][j] = (i << 30 | j << 21) | PTE_P | PTE_RW | PTE_US | PTE_PS;
		pdpt[i] = (uint64_t)(uintptr_t)pd[i] | PTE_P | PTE_RW | PTE_US;
	}
	pml4[0] = (uint64_t)(uintptr_t)pdpt | PTE_P | PTE_RW | PTE_US;

	/* GDT and TSS */
	memcpy(gdt, (const void *)(uintptr_t)fw_gdt.base, n * 8);
	uint16_t user_ds = (uint16_t)(n * 8 | 3), user_cs = (uint16_t)((n + 1) * 8 | 3), tr = (uint16_t)((n + 2) * 8);
	gdt[n] = 0x00CFF2000000FFFFULL;     /* data, DPL 3, writable, 4 GiB */
	gdt[n + 1] = 0x00AFFA000000FFFFULL; /* code, DPL 3, 64-bit (L) */
	memset(&tss, 0, sizeof(tss));
	tss.rsp[0] = (uint64_t)(uintptr_t)(kernel_stack + sizeof(kernel_stack));
	tss.iomap_base = sizeof(tss);
	uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof(tss) - 1;
	gdt[n + 2] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ULL << 40 | (limit >> 16 & 0xF) << 48 |
		     (base >> 24 & 0xFF) << 56; /* present 64-bit TSS, available */
	gdt[n + 3] = base >> 32;

	uint64_t flags = read_rflags();
	uint16_t ds = read_ds(), es = read_es(), fs = read_fs(), gs = read_gs(), old_tr = str();
	int restore_tr = is_busy_tss(&fw_gdt, old_tr);
	struct dtr mine = { (uint16_t)((n + 4) * 8 - 1), (uint64_t)(uintptr_t)gdt };
	cli();
	write_cr3((uint64_t)(uintptr_t)pml4);
	lgdt(&mine);
	ltr(tr);

	struct ring3_frame f = {
		.rip = (uint64_t)(uintptr_t)ring3_vmcall_insn,
		.cs = user_cs,
		.rflags = RFLAGS_FIXED1, /* IF = 0: no interrupt reaches the firmware from ring 3 */
		.rsp = (uint64_t)(uintptr_t)(user_stack + sizeof(user_stack)),
		.ss = user_ds,
		.rax = h->rax,
		.rbx = h->rbx,
		.rcx = h->rcx,
	};
	ring3_out[0] = ring3_out[1] = ring3_out[2] = 0;
	h->fault = trap_catch(enter, &f);

	/* Back at CPL 0: the firmware's GDT, TR (its descriptor made available again), tables. */
	lgdt(&fw_gdt);
	/* Without a firmware TR ours stays loaded, pointing past the firmware's GDT limit, which
	 * nothing reads at CPL 0 (and it is no firmware TR to restore on the next run). */
	if (restore_tr) {
		((uint64_t *)(uintptr_t)fw_gdt.base)[old_tr / 8] &= ~(2ULL << 40); /* busy -> available */
		ltr(old_tr);
	}
	write_cr3(fw_cr3);
	load_data_segments(ds, es, fs, gs);
	write_rflags(flags);

	h->completed = h->fault.vector == VEC_UD && h->fault.rip == (uint64_t)(uintptr_t)ring3_ud2_insn;
	if (h->completed) {
		h->rax = ring3_out[0];
		h->rbx = ring3_out[1];
		h->rcx = ring3_out[2];
	}
	return 0;
}
