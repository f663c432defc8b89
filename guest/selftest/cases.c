/* The selftest's cases: each states what the hardware does (SDM) and checks it. Run natively they
 * are the baseline; under keel they check its emulation. UEFI boot services, CPL 0, any CPU. */
#include "insn.h"
#include "selftest.h"
#include "../common/efi_io.h"
#include "fastpath.h"
#include "ring3.h"
#include "trap.h"
#include "trapcases.h"

#include "../../arch/x86/cr.h"
#include "../../arch/x86/msr.h"
#include "../../lib/fmt.h"
#include "../../lib/string.h"
#include "../../vmm/hypercall_abi.h"

#define NONCANONICAL 0x8000000000000000ULL /* not canonical with 48- or 57-bit addresses */
#define DR6_BS BIT(14)
#define DR6_INIT 0xFFFF0FF0ULL
#define XCR0_X87 BIT(0)
#define XCR0_AVX BIT(2)

/* ---- expectations ---- */

/* Passes if f is the expected vector (and error code, for vectors that push one); else fails r
 * with "what: expected X, got Y". Returns 1 if it matched. */
static int expect_fault(struct result *r, const char *what, const struct fault *f, int vector,
			uint64_t error)
{
	if (f->vector == vector && f->error == error)
		return 1;
	char want[32], got[32];
	struct fault w = { .vector = vector, .error = error };
	trap_describe(&w, want, sizeof(want));
	trap_describe(f, got, sizeof(got));
	if (f->vector == TRAP_NONE)
		result_fail(r, "%s: expected %s, got no exception", what, want);
	else
		result_fail(r, "%s: expected %s, got %s at rip 0x%lx", what, want, got, (unsigned long)f->rip);
	return 0;
}

static int expect_gp0(struct result *r, const char *what, const struct fault *f)
{
	return expect_fault(r, what, f, VEC_GP, 0);
}

static int expect_ud(struct result *r, const char *what, const struct fault *f)
{
	return expect_fault(r, what, f, VEC_UD, 0);
}

static int expect_none(struct result *r, const char *what, const struct fault *f)
{
	return expect_fault(r, what, f, TRAP_NONE, 0);
}

/* An emulator known to depart from the SDM here: when it did, the case reports SKIP with the
 * reason instead of FAIL. Returns 1 if the quirk explained the outcome. */
static int quirk(struct result *r, int platform_matches, const struct fault *f, int vector, const char *why)
{
	if (!platform_matches || f->vector == vector)
		return 0;
	result_skip(r, "%s", why);
	return 1;
}

static int need_keel(struct result *r)
{
	if (platform.keel)
		return 1;
	result_skip(r, "keel not present");
	return 0;
}

static int cpuid1_ecx_has(uint64_t bit)
{
	struct cpuid_regs c;
	cpuid(1, 0, &c);
	return !!(c.ecx & bit);
}

/* ---- probes: one instruction run under trap_catch ---- */

struct msr_op {
	uint32_t msr;
	uint64_t val;
	uint64_t restore; /* written back at once if the write did not fault */
};

static void do_rdmsr(void *p)
{
	struct msr_op *o = p;
	o->val = rdmsr(o->msr);
}

static void do_wrmsr_restore(void *p)
{
	struct msr_op *o = p;
	wrmsr(o->msr, o->val);
	wrmsr(o->msr, o->restore);
}

static struct fault try_rdmsr(uint32_t msr, uint64_t *val)
{
	struct msr_op o = { .msr = msr };
	struct fault f = trap_catch(do_rdmsr, &o);
	*val = o.val;
	return f;
}

/* WRMSR msr = val; should it not fault, the old value goes straight back. */
static struct fault try_wrmsr(uint32_t msr, uint64_t val, uint64_t old)
{
	struct msr_op o = { .msr = msr, .val = val, .restore = old };
	return trap_catch(do_wrmsr_restore, &o);
}

/* MOV CRn, new then, should that not fault, MOV CRn, old: a failed expectation cannot leave the
 * control register changed (the restore runs before anything else executes). */
struct cr_op {
	uint64_t new_val, old_val;
};

static void do_cr0_write(void *p)
{
	struct cr_op *o = p;
	__asm__ volatile("mov %0, %%cr0\n\tmov %1, %%cr0" ::"r"(o->new_val), "r"(o->old_val) : "memory");
}

static void do_cr4_write(void *p)
{
	struct cr_op *o = p;
	__asm__ volatile("mov %0, %%cr4\n\tmov %1, %%cr4" ::"r"(o->new_val), "r"(o->old_val) : "memory");
}

/* ---- cpuid ---- */

/* Leaf 0: EAX = highest basic leaf (>= 1 on anything 64-bit), EBX:EDX:ECX = vendor, printable. */
static void cpuid_basic_leaf(struct result *r)
{
	struct cpuid_regs c;
	cpuid(0, 0, &c);
	if (c.eax < 1)
		result_fail(r, "max basic leaf %u", c.eax);
	uint32_t words[3] = { c.ebx, c.edx, c.ecx };
	const char *v = (const char *)words;
	for (int i = 0; i < 12; i++)
		if (v[i] < 0x20 || v[i] > 0x7E)
			result_fail(r, "vendor byte %d is 0x%x", i, (unsigned char)v[i]);
}

/* CPUID.1:ECX[31] is set iff leaf 0x40000000 answers with a hypervisor's signature. */
static void cpuid_hypervisor_bit(struct result *r)
{
	struct cpuid_regs c;
	int leaf = hv_leaf_read(&c);
	int bit = cpuid1_ecx_has(CPUID1_ECX_HYPERVISOR);
	if (bit != leaf)
		result_fail(r, "CPUID.1:ECX[31]=%d but leaf 0x40000000 %s (eax 0x%x)", bit,
			    leaf ? "has a signature" : "has none", c.eax);
}

/* keel's leaf: EAX >= 0x40000001, EBX:ECX:EDX = "KeelKeelKeel", on every CPU. */
static void cpuid_keel_leaf(struct result *r)
{
	if (!need_keel(r))
		return;
	struct cpuid_regs c;
	cpuid(KEEL_CPUID_LEAF, 0, &c);
	if (c.ebx != KEEL_CPUID_SIG_EBX || c.ecx != KEEL_CPUID_SIG_ECX || c.edx != KEEL_CPUID_SIG_EDX)
		result_fail(r, "signature 0x%x 0x%x 0x%x", c.ebx, c.ecx, c.edx);
	if (c.eax < KEEL_CPUID_MAX_LEAF)
		result_fail(r, "max hypervisor leaf 0x%x", c.eax);
}

/* keel keeps VMX for itself: CPUID.1:ECX[5] reads 0. */
static void cpuid_vmx_hidden(struct result *r)
{
	if (need_keel(r) && cpuid1_ecx_has(CPUID1_ECX_VMX))
		result_fail(r, "CPUID.1:ECX.VMX is set");
}

/* CPUID.1:ECX.OSXSAVE (bit 27) mirrors CR4.OSXSAVE (SDM Vol. 2A, CPUID, Table 3-10). */
static void cpuid_osxsave_follows_cr4(struct result *r)
{
	if (!cpuid1_ecx_has(CPUID1_ECX_XSAVE)) {
		result_skip(r, "no XSAVE in CPUID");
		return;
	}
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CR4_OSXSAVE);
	int on = cpuid1_ecx_has(CPUID1_ECX_OSXSAVE);
	write_cr4(cr4 & ~CR4_OSXSAVE);
	int off = cpuid1_ecx_has(CPUID1_ECX_OSXSAVE);
	write_cr4(cr4);
	if (!on || off)
		result_fail(r, "OSXSAVE reads %d with CR4.OSXSAVE=1, %d with 0", on, off);
}

/* ---- msr ---- */

/* No Intel or AMD MSR is defined at this index (SDM Vol. 4 lists none between 0x1B01 and 0x1FFF). */
#define MSR_UNDEFINED 0x1EFF

/* QEMU 7.2 TCG reads unknown MSRs as 0 and drops writes to them ("XXX: exception?" in its
 * helper_rdmsr/helper_wrmsr); Bochs does the same while its cpu option ignore_bad_msrs is on (the
 * default). Real hardware raises #GP(0). */
static int unknown_msr_quirk(struct result *r, const struct fault *f)
{
	if (quirk(r, platform.qemu_tcg, f, VEC_GP, "QEMU TCG ignores unknown MSRs (no #GP)"))
		return 1;
	return quirk(r, platform.bochs, f, VEC_GP, "Bochs ignores unknown MSRs (cpu: ignore_bad_msrs=1)");
}

static void rdmsr_gp(struct result *r, uint32_t msr)
{
	uint64_t v;
	struct fault f = try_rdmsr(msr, &v);
	if (!unknown_msr_quirk(r, &f))
		expect_gp0(r, "rdmsr", &f);
}

static void wrmsr_gp(struct result *r, uint32_t msr)
{
	struct fault f = try_wrmsr(msr, 0, 0);
	if (!unknown_msr_quirk(r, &f))
		expect_gp0(r, "wrmsr", &f);
}

/* RDMSR/WRMSR of an MSR that does not exist: #GP(0) (SDM Vol. 2B, RDMSR/WRMSR). */
static void msr_unknown_rdmsr_gp(struct result *r) { rdmsr_gp(r, MSR_UNDEFINED); }
static void msr_unknown_wrmsr_gp(struct result *r) { wrmsr_gp(r, MSR_UNDEFINED); }

/* The MSR-bitmap ranges end at 0x1FFF and 0xC0001FFF (SDM Vol. 3C 25.6.9): the last index inside
 * and the first outside each, none of them implemented, read and written. */
static void msr_edge(struct result *r, uint32_t msr)
{
	rdmsr_gp(r, msr);
	if (r->verdict == VERDICT_PASS)
		wrmsr_gp(r, msr);
}
static void msr_edge_1fff(struct result *r) { msr_edge(r, 0x1FFF); }
static void msr_edge_2000(struct result *r) { msr_edge(r, 0x2000); }
static void msr_edge_c0001fff(struct result *r) { msr_edge(r, 0xC0001FFF); }
static void msr_edge_c0002000(struct result *r) { msr_edge(r, 0xC0002000); }

/* WRMSR of a non-canonical address to a base/entry-point MSR: #GP(0) (SDM Vol. 2B, WRMSR), and the
 * MSR keeps its value. QEMU 7.2 TCG stores any value there without a check. */
static void noncanonical_gp(struct result *r, uint32_t msr)
{
	uint64_t before = rdmsr(msr);
	struct fault f = try_wrmsr(msr, NONCANONICAL, before);
	if (quirk(r, platform.qemu_tcg, &f, VEC_GP, "QEMU TCG accepts non-canonical MSR values (no #GP)"))
		return;
	expect_gp0(r, "wrmsr 0x8000000000000000", &f);
	uint64_t after = rdmsr(msr);
	if (after != before)
		result_fail(r, "value changed from 0x%lx to 0x%lx", (unsigned long)before, (unsigned long)after);
}
static void msr_fs_base_noncanonical_gp(struct result *r) { noncanonical_gp(r, MSR_FS_BASE); }
static void msr_gs_base_noncanonical_gp(struct result *r) { noncanonical_gp(r, MSR_GS_BASE); }
static void msr_kernel_gs_base_noncanonical_gp(struct result *r) { noncanonical_gp(r, MSR_KERNEL_GS_BASE); }
static void msr_lstar_noncanonical_gp(struct result *r) { noncanonical_gp(r, MSR_LSTAR); }

/* IA32_KERNEL_GS_BASE holds any canonical address (nothing in the firmware uses it). */
static void msr_kernel_gs_base_roundtrip(struct result *r)
{
	const uint64_t v = 0x00007FFFFFFFF000ULL;
	uint64_t old = rdmsr(MSR_KERNEL_GS_BASE);
	wrmsr(MSR_KERNEL_GS_BASE, v);
	uint64_t got = rdmsr(MSR_KERNEL_GS_BASE);
	wrmsr(MSR_KERNEL_GS_BASE, old);
	if (got != v)
		result_fail(r, "wrote 0x%lx, read 0x%lx", (unsigned long)v, (unsigned long)got);
}

/* RDMSR ignores RCX[63:32] (SDM Vol. 2B, RDMSR): IA32_FEATURE_CONTROL, which keel traps, read with
 * garbage in the high half, equals a plain read. Falls back to EFER where 0x3A does not exist. */
struct rdmsr_rcx_op {
	uint64_t rcx, val;
};

static void do_rdmsr_full_rcx(void *p)
{
	struct rdmsr_rcx_op *o = p;
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(o->rcx));
	o->val = (uint64_t)hi << 32 | lo;
}

static void msr_rcx_high_ignored(struct result *r)
{
	uint64_t plain;
	uint32_t msr = MSR_IA32_FEATURE_CONTROL;
	struct fault f = try_rdmsr(msr, &plain);
	if (f.vector != TRAP_NONE) {
		msr = MSR_EFER;
		plain = rdmsr(msr);
	}
	struct rdmsr_rcx_op o = { .rcx = 0xFFFFFFFF00000000ULL | msr };
	f = trap_catch(do_rdmsr_full_rcx, &o);
	if (expect_none(r, "rdmsr with RCX[63:32] set", &f) && o.val != plain)
		result_fail(r, "MSR 0x%x reads 0x%lx, 0x%lx with RCX[63:32] set", msr, (unsigned long)plain,
			    (unsigned long)o.val);
}

/* A locked IA32_FEATURE_CONTROL rejects every WRMSR with #GP(0) (SDM Vol. 3C 24.7); writing the
 * value it already has changes nothing should that expectation fail. keel locks it. */
static void msr_feature_control_locked_gp(struct result *r)
{
	uint64_t v;
	struct fault f = try_rdmsr(MSR_IA32_FEATURE_CONTROL, &v);
	if (f.vector != TRAP_NONE) {
		result_skip(r, "no IA32_FEATURE_CONTROL (rdmsr 0x3a faults)");
		return;
	}
	if (!(v & FEATURE_CONTROL_LOCK)) {
		if (platform.keel)
			result_fail(r, "unlocked under keel (0x%lx)", (unsigned long)v);
		else
			result_skip(r, "unlocked (0x%lx): the firmware left it open, and locking it is not ours to do",
				    (unsigned long)v);
		return;
	}
	f = try_wrmsr(MSR_IA32_FEATURE_CONTROL, v, v);
	expect_gp0(r, "wrmsr to a locked IA32_FEATURE_CONTROL", &f);
}

/* ---- vmx: outside VMX operation (CR4.VMXE=0) every VMX instruction raises #UD (SDM Vol. 3C
 * 24.7 and each instruction's exceptions); under keel, keel injects it. ---- */

static uint8_t vmx_region[4096] __attribute__((aligned(4096)));

static int vmx_precheck(struct result *r)
{
	if (read_cr4() & CR4_VMXE) {
		result_skip(r, "CR4.VMXE is set: VMX instructions would not #UD");
		return 0;
	}
	return 1;
}

static void do_vmxon(void *p) { (void)p; vmxon((uint64_t)(uintptr_t)vmx_region); }
static void do_vmptrld(void *p) { (void)p; vmptrld((uint64_t)(uintptr_t)vmx_region); }
static void do_vmclear(void *p) { (void)p; vmclear((uint64_t)(uintptr_t)vmx_region); }
static void do_vmread(void *p) { uint64_t v; (void)p; vmread(0x681E /* guest RIP */, &v); }
static void do_vmwrite(void *p) { (void)p; vmwrite(0x681E, 0); }
static void do_invept(void *p) { (void)p; invept(2 /* all contexts */, 0); }
static void do_invvpid(void *p) { (void)p; invvpid(2 /* all contexts */, 1); }
static void do_vmlaunch(void *p) { (void)p; __asm__ volatile("vmlaunch" ::: "cc", "memory"); }
static void do_vmresume(void *p) { (void)p; __asm__ volatile("vmresume" ::: "cc", "memory"); }
static void do_vmxoff(void *p) { (void)p; __asm__ volatile("vmxoff" ::: "cc", "memory"); }
static void do_vmcall(void *p) { (void)p; __asm__ volatile("vmcall" ::: "cc", "memory"); }

static void vmx_ud(struct result *r, void (*insn)(void *), const char *name)
{
	if (!vmx_precheck(r))
		return;
	struct fault f = trap_catch(insn, 0);
	expect_ud(r, name, &f);
}
static void vmx_vmxon_ud(struct result *r) { vmx_ud(r, do_vmxon, "vmxon"); }
static void vmx_vmptrld_ud(struct result *r) { vmx_ud(r, do_vmptrld, "vmptrld"); }
static void vmx_vmclear_ud(struct result *r) { vmx_ud(r, do_vmclear, "vmclear"); }
static void vmx_vmread_ud(struct result *r) { vmx_ud(r, do_vmread, "vmread"); }
static void vmx_vmwrite_ud(struct result *r) { vmx_ud(r, do_vmwrite, "vmwrite"); }
static void vmx_invept_ud(struct result *r) { vmx_ud(r, do_invept, "invept"); }
static void vmx_invvpid_ud(struct result *r) { vmx_ud(r, do_invvpid, "invvpid"); }
static void vmx_vmlaunch_ud(struct result *r) { vmx_ud(r, do_vmlaunch, "vmlaunch"); }
static void vmx_vmresume_ud(struct result *r) { vmx_ud(r, do_vmresume, "vmresume"); }
static void vmx_vmxoff_ud(struct result *r) { vmx_ud(r, do_vmxoff, "vmxoff"); }

/* VMCALL outside VMX non-root operation: #UD. A hypervisor turns it into a hypercall instead
 * (keel: see hc.*), so only bare hardware and QEMU's TCG emulator can state this. */
static void vmx_vmcall_native(struct result *r)
{
	if (platform.keel) {
		result_skip(r, "under keel VMCALL is a hypercall");
		return;
	}
	if (platform.hv_bit && !platform.qemu_tcg) {
		result_skip(r, "hypervisor %s may take VMCALL as a hypercall", platform.hv_sig);
		return;
	}
	vmx_ud(r, do_vmcall, "vmcall");
}

/* ---- control registers (SDM Vol. 3A 2.5 and Vol. 2B, MOV to/from CR) ---- */

/* QEMU 7.2 TCG treats a reserved CR4 bit as an SVM #VMEXIT even outside a guest (helper_write_crN
 * calls cpu_vmexit): tried once, the machine hung with no exception. Never tried there. */
#define TCG_CR4_RESERVED_SKIP "QEMU TCG mishandles reserved CR4 bits (SVM #VMEXIT outside a guest)"

/* CR4[63:32] are reserved: setting bit 63 raises #GP(0) and CR4 keeps its value. */
static void cr_cr4_reserved_gp(struct result *r)
{
	if (platform.qemu_tcg) {
		result_skip(r, TCG_CR4_RESERVED_SKIP);
		return;
	}
	struct cr_op o = { .old_val = read_cr4() };
	o.new_val = o.old_val | BIT(63);
	struct fault f = trap_catch(do_cr4_write, &o);
	expect_gp0(r, "mov cr4 with bit 63", &f);
	if (read_cr4() != o.old_val)
		result_fail(r, "CR4 changed to 0x%lx", (unsigned long)read_cr4());
}

/* Natively nobody has run VMXON; under keel the guest must not see the VMXE keel needs. */
static void cr_cr4_vmxe_reads_zero(struct result *r)
{
	if (read_cr4() & CR4_VMXE)
		result_fail(r, "CR4 = 0x%lx has VMXE", (unsigned long)read_cr4());
}

/* Where CPUID reports no VMX, CR4.VMXE is a reserved bit: setting it raises #GP(0) (SDM Vol. 3A
 * 2.5). Under keel, which hides VMX, the same must hold. */
static void cr_cr4_vmxe_gp_without_vmx(struct result *r)
{
	if (cpuid1_ecx_has(CPUID1_ECX_VMX)) {
		result_skip(r, "CPUID reports VMX: setting CR4.VMXE is legal here");
		return;
	}
	if (platform.qemu_tcg) {
		result_skip(r, TCG_CR4_RESERVED_SKIP);
		return;
	}
	struct cr_op o = { .old_val = read_cr4() };
	o.new_val = o.old_val | CR4_VMXE;
	struct fault f = trap_catch(do_cr4_write, &o);
	expect_gp0(r, "mov cr4 with VMXE", &f);
}

/* CR0.PG=1 with PE=0 is invalid: #GP(0). QEMU 7.2 TCG performs the write (helper_write_crN checks
 * nothing); the next instruction, still decoded as 64-bit code, puts CR0 back. */
static void cr_cr0_pg_without_pe_gp(struct result *r)
{
	struct cr_op o = { .old_val = read_cr0() };
	o.new_val = (o.old_val | CR0_PG) & ~CR0_PE;
	struct fault f = trap_catch(do_cr0_write, &o);
	if (!quirk(r, platform.qemu_tcg, &f, VEC_GP, "QEMU TCG accepts PG=1 PE=0 (no #GP)"))
		expect_gp0(r, "mov cr0 with PG=1 PE=0", &f);
	if (read_cr0() != o.old_val)
		result_fail(r, "CR0 changed to 0x%lx", (unsigned long)read_cr0());
}

/* CR0.NW=1 with CD=0 is invalid: #GP(0). */
static void cr_cr0_nw_without_cd_gp(struct result *r)
{
	struct cr_op o = { .old_val = read_cr0() };
	o.new_val = (o.old_val | CR0_NW) & ~CR0_CD;
	struct fault f = trap_catch(do_cr0_write, &o);
	if (!quirk(r, platform.qemu_tcg, &f, VEC_GP, "QEMU TCG accepts NW=1 CD=0 (no #GP)"))
		expect_gp0(r, "mov cr0 with NW=1 CD=0", &f);
	if (read_cr0() != o.old_val)
		result_fail(r, "CR0 changed to 0x%lx", (unsigned long)read_cr0());
}

/* CR0[63:32] are reserved: #GP(0). */
static void cr_cr0_reserved_high_gp(struct result *r)
{
	struct cr_op o = { .old_val = read_cr0() };
	o.new_val = o.old_val | BIT(32);
	struct fault f = trap_catch(do_cr0_write, &o);
	if (!quirk(r, platform.qemu_tcg, &f, VEC_GP, "QEMU TCG accepts CR0[63:32] (no #GP)"))
		expect_gp0(r, "mov cr0 with bit 32", &f);
	if (read_cr0() != o.old_val)
		result_fail(r, "CR0 changed to 0x%lx", (unsigned long)read_cr0());
}

/* ---- XSAVE: XSETBV/XGETBV (SDM Vol. 2C, XSETBV; Vol. 1 13.3) ---- */

struct xcr_op {
	uint32_t index;
	uint64_t val;  /* XSETBV: written to XCR[index]; XGETBV: read from it */
	uint64_t xcr0; /* XSETBV: put back into XCR0 at once should the write not fault */
};

static void do_xsetbv_restore(void *p)
{
	struct xcr_op *o = p;
	xsetbv(o->index, o->val);
	xsetbv(0, o->xcr0);
}

static void do_xgetbv(void *p)
{
	struct xcr_op *o = p;
	o->val = xgetbv(o->index);
}

/* XSETBV under CR4.OSXSAVE=1 (OVMF leaves it clear, so it is set for the case), each value
 * expected to raise #GP(0). CR4 is put back on every path. */
static void xsetbv_expect_gp(struct result *r, uint32_t index, const uint64_t *vals, int n)
{
	if (!cpuid1_ecx_has(CPUID1_ECX_XSAVE)) {
		result_skip(r, "no XSAVE in CPUID");
		return;
	}
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CR4_OSXSAVE);
	struct xcr_op o = { .index = 0 };
	struct fault f = trap_catch(do_xgetbv, &o);
	if (expect_none(r, "xgetbv XCR0", &f)) {
		o.xcr0 = o.val;
		for (int i = 0; i < n; i++) {
			char what[48];
			o.index = index;
			o.val = vals[i];
			f = trap_catch(do_xsetbv_restore, &o);
			fmt_snprintf(what, sizeof(what), "xsetbv XCR%u=0x%lx", index, (unsigned long)vals[i]);
			expect_gp0(r, what, &f);
		}
	}
	write_cr4(cr4);
}

/* XCR0.x87 must be 1, and AVX state needs SSE state: XCR0=0 and XCR0=x87|AVX raise #GP(0). */
static void xsetbv_invalid_gp(struct result *r)
{
	static const uint64_t bad[] = { 0, XCR0_X87 | XCR0_AVX };
	xsetbv_expect_gp(r, 0, bad, 2);
}

/* Only XCR0 can be written: XSETBV with ECX=1 raises #GP(0), even of a value valid for XCR0. */
static void xsetbv_bad_index_gp(struct result *r)
{
	uint64_t v[1] = { XCR0_X87 };
	xsetbv_expect_gp(r, 1, v, 1);
}

/* With CR4.OSXSAVE=0 (or no XSAVE at all), XGETBV raises #UD. */
static void xsave_xgetbv_ud_without_osxsave(struct result *r)
{
	uint64_t cr4 = read_cr4();
	if (cr4 & CR4_OSXSAVE)
		write_cr4(cr4 & ~CR4_OSXSAVE);
	struct xcr_op o = { .index = 0 };
	struct fault f = trap_catch(do_xgetbv, &o);
	write_cr4(cr4);
	expect_ud(r, "xgetbv with CR4.OSXSAVE=0", &f);
}

/* ---- instructions CPUID advertises: each must execute without #UD (SDM Vol. 2, each
 * instruction's "#UD If CPUID.(...)=0"). In VMX non-root several need a VM-execution control as
 * well (SDM Vol. 3C 25.3, Table 25-7: RDTSCP and RDPID "enable RDTSCP", INVPCID "enable INVPCID",
 * XSAVES/XRSTORS "enable XSAVES/XRSTORS", TPAUSE/UMONITOR/UMWAIT "enable user wait and pause");
 * a hypervisor that shows the CPUID bit without the control makes these fail. ---- */

enum cpuid_reg { REG_EAX, REG_EBX, REG_ECX, REG_EDX };

/* Skips r unless CPUID.leaf.sub:reg has bit (a leaf above the processor's maximum has none). */
static int need_cpuid(struct result *r, uint32_t leaf, uint32_t sub, enum cpuid_reg reg, uint64_t bit,
		      const char *feature)
{
	static const char names[] = "ABCD";
	struct cpuid_regs c;
	cpuid(leaf & 0x80000000u, 0, &c);
	if (c.eax >= leaf) {
		cpuid(leaf, sub, &c);
		uint32_t v[4] = { c.eax, c.ebx, c.ecx, c.edx };
		if (v[reg] & bit)
			return 1;
	}
	result_skip(r, "not advertised (CPUID.0x%x.%u:E%cX[%d] %s is 0)", leaf, sub, names[reg],
		    __builtin_ctzll(bit), feature);
	return 0;
}

/* TPAUSE and UMWAIT wait until this many TSC ticks from now at most (Bochs: instructions). */
#define WAIT_TICKS 4000

struct wait_op {
	volatile uint64_t line; /* what UMONITOR watches */
	int cf;
};

static void do_tpause(void *p)
{
	struct wait_op *o = p;
	o->cf = tpause(0, rdtsc() + WAIT_TICKS);
}

static void do_umonitor(void *p)
{
	struct wait_op *o = p;
	umonitor(&o->line);
}

static void do_umonitor_umwait(void *p)
{
	struct wait_op *o = p;
	umonitor(&o->line);
	o->cf = umwait(0, rdtsc() + WAIT_TICKS);
}

static void waitpkg_case(struct result *r, void (*fn)(void *), const char *what)
{
	if (!need_cpuid(r, 7, 0, REG_ECX, CPUID7_ECX_WAITPKG, "WAITPKG"))
		return;
	struct wait_op o = { 0, 0 };
	struct fault f = trap_catch(fn, &o);
	expect_none(r, what, &f);
}
static void insn_waitpkg_tpause(struct result *r) { waitpkg_case(r, do_tpause, "tpause"); }
static void insn_waitpkg_umonitor(struct result *r) { waitpkg_case(r, do_umonitor, "umonitor"); }
static void insn_waitpkg_umwait(struct result *r) { waitpkg_case(r, do_umonitor_umwait, "umonitor+umwait"); }

struct tsc_aux_op {
	uint64_t aux, tsc_before, tsc;
	uint32_t ecx;
};

static void do_rdpid(void *p)
{
	struct tsc_aux_op *o = p;
	o->aux = rdpid();
}

static void do_rdtscp(void *p)
{
	struct tsc_aux_op *o = p;
	o->tsc_before = rdtsc();
	o->tsc = rdtscp(&o->ecx);
}

/* RDPID reads IA32_TSC_AUX. */
static void insn_rdpid(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_ECX, CPUID7_ECX_RDPID, "RDPID"))
		return;
	struct tsc_aux_op o = { 0 };
	struct fault f = trap_catch(do_rdpid, &o);
	uint64_t msr = rdmsr(MSR_IA32_TSC_AUX);
	if (expect_none(r, "rdpid", &f) && o.aux != msr)
		result_fail(r, "rdpid 0x%lx, IA32_TSC_AUX 0x%lx", (unsigned long)o.aux, (unsigned long)msr);
}

/* RDTSCP: the TSC (not behind an RDTSC just before it) and IA32_TSC_AUX[31:0] in ECX. */
static void insn_rdtscp(struct result *r)
{
	if (!need_cpuid(r, 0x80000001, 0, REG_EDX, CPUID80000001_EDX_RDTSCP, "RDTSCP"))
		return;
	struct tsc_aux_op o = { 0 };
	struct fault f = trap_catch(do_rdtscp, &o);
	if (!expect_none(r, "rdtscp", &f))
		return;
	uint64_t msr = rdmsr(MSR_IA32_TSC_AUX);
	if (o.ecx != (uint32_t)msr)
		result_fail(r, "rdtscp ECX 0x%x, IA32_TSC_AUX 0x%lx", o.ecx, (unsigned long)msr);
	if (o.tsc < o.tsc_before)
		result_fail(r, "rdtscp 0x%lx is behind rdtsc 0x%lx", (unsigned long)o.tsc,
			    (unsigned long)o.tsc_before);
}

/* RDRAND and RDSEED may answer CF=0 (nothing ready yet); software retries (Intel's DRNG guide:
 * RDRAND failing 10 times in a row means a broken generator; RDSEED needs more patience). */
struct rand_op {
	int (*insn)(uint64_t *);
	int tries, ok;
	uint64_t v;
};

static void do_rand(void *p)
{
	struct rand_op *o = p;
	for (int i = 0; i < o->tries && !o->ok; i++) {
		o->ok = o->insn(&o->v);
		if (!o->ok)
			pause();
	}
}

static void rand_case(struct result *r, struct rand_op *o, const char *what)
{
	struct fault f = trap_catch(do_rand, o);
	if (expect_none(r, what, &f) && !o->ok)
		result_fail(r, "%s: CF=0 on %d tries in a row", what, o->tries);
}

static void insn_rdrand(struct result *r)
{
	if (!need_cpuid(r, 1, 0, REG_ECX, CPUID1_ECX_RDRAND, "RDRAND"))
		return;
	struct rand_op o = { .insn = rdrand64, .tries = 10 };
	rand_case(r, &o, "rdrand");
}

static void insn_rdseed(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_EBX, CPUID7_EBX_RDSEED, "RDSEED"))
		return;
	struct rand_op o = { .insn = rdseed64, .tries = 1000 };
	rand_case(r, &o, "rdseed");
}

/* INVPCID types 2 (all contexts, globals too) and 3 (all but globals) need no CR4.PCIDE and
 * ignore the descriptor. */
static void do_invpcid_all(void *p)
{
	static const struct invpcid_desc d = { 0, 0 };
	invpcid(*(const uint64_t *)p, &d);
}

static void insn_invpcid(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_EBX, CPUID7_EBX_INVPCID, "INVPCID"))
		return;
	for (uint64_t type = 2; type <= 3; type++) {
		char what[24];
		fmt_snprintf(what, sizeof(what), "invpcid type %lu", (unsigned long)type);
		struct fault f = trap_catch(do_invpcid_all, &type);
		expect_none(r, what, &f);
	}
}

/* XSAVES/XRSTORS need CR4.OSXSAVE (set for the case, as for xsetbv.*). XSAVES writes the
 * compacted format: XCOMP_BV (header bytes 8-15, at 520) has bit 63 set (SDM Vol. 1 13.11); XRSTORS
 * of that image completes. Both at CPL 0; EDX:EAX = all ones asks for every enabled component. */
static uint8_t xsave_area[4096] __attribute__((aligned(64)));

static void do_xsaves_xrstors(void *p)
{
	(void)p;
	xsaves(xsave_area, ~0ULL);
	__asm__ volatile("" ::: "memory");
	xrstors(xsave_area, ~0ULL);
}

static void insn_xsaves(struct result *r)
{
	if (!cpuid1_ecx_has(CPUID1_ECX_XSAVE)) {
		result_skip(r, "no XSAVE in CPUID");
		return;
	}
	if (!need_cpuid(r, 0xD, 1, REG_EAX, CPUIDD1_EAX_XSAVES, "XSAVES"))
		return;
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CR4_OSXSAVE);
	struct cpuid_regs c;
	cpuid(0xD, 1, &c); /* EBX: bytes for XCR0 | IA32_XSS in the compacted format */
	uint64_t xss;
	struct fault f = try_rdmsr(MSR_IA32_XSS, &xss);
	if (!expect_none(r, "rdmsr IA32_XSS", &f)) {
		write_cr4(cr4);
		return;
	}
	if (c.ebx > sizeof(xsave_area)) {
		write_cr4(cr4);
		result_skip(r, "XSAVES area of %u bytes is over %u", c.ebx, (unsigned)sizeof(xsave_area));
		return;
	}
	memset(xsave_area, 0, sizeof(xsave_area));
	f = trap_catch(do_xsaves_xrstors, 0);
	write_cr4(cr4);
	uint64_t xcomp_bv;
	memcpy(&xcomp_bv, xsave_area + 520, sizeof(xcomp_bv));
	if (expect_none(r, "xsaves+xrstors", &f) && !(xcomp_bv & BIT(63)))
		result_fail(r, "XCOMP_BV 0x%lx after XSAVES, bit 63 clear", (unsigned long)xcomp_bv);
}

/* With CR4.OSXSAVE=1, XGETBV of XCR0 completes with bit 0 (x87) set; XGETBV(1) (XINUSE) too where
 * CPUID.(0xD,1):EAX[2] says so. */
static void insn_xgetbv(struct result *r)
{
	if (!cpuid1_ecx_has(CPUID1_ECX_XSAVE)) {
		result_skip(r, "no XSAVE in CPUID");
		return;
	}
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CR4_OSXSAVE);
	struct xcr_op o = { .index = 0 };
	struct fault f = trap_catch(do_xgetbv, &o);
	if (expect_none(r, "xgetbv XCR0", &f) && !(o.val & XCR0_X87))
		result_fail(r, "XCR0 0x%lx without x87", (unsigned long)o.val);
	struct cpuid_regs c;
	cpuid(0xD, 1, &c);
	if (c.eax & CPUIDD1_EAX_XGETBV_ECX1) {
		o.index = 1;
		f = trap_catch(do_xgetbv, &o);
		expect_none(r, "xgetbv XCR1 (XINUSE)", &f);
	}
	write_cr4(cr4);
}

/* RDFSBASE/RDGSBASE need CR4.FSGSBASE (set for the case) and read what the MSRs hold. */
struct base_op {
	uint64_t fs, gs;
};

static void do_rdfsgsbase(void *p)
{
	struct base_op *o = p;
	o->fs = rdfsbase();
	o->gs = rdgsbase();
}

static void insn_rdfsbase(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_EBX, CPUID7_EBX_FSGSBASE, "FSGSBASE"))
		return;
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CR4_FSGSBASE);
	struct base_op o = { 0, 0 };
	struct fault f = trap_catch(do_rdfsgsbase, &o);
	write_cr4(cr4);
	if (!expect_none(r, "rdfsbase+rdgsbase", &f))
		return;
	uint64_t fs = rdmsr(MSR_FS_BASE), gs = rdmsr(MSR_GS_BASE);
	if (o.fs != fs || o.gs != gs)
		result_fail(r, "rdfsbase 0x%lx rdgsbase 0x%lx, MSRs 0x%lx 0x%lx", (unsigned long)o.fs,
			    (unsigned long)o.gs, (unsigned long)fs, (unsigned long)gs);
}

/* RDPKRU/WRPKRU need CR4.PKE (set for the case; PKRU 0 lets every key access everything, so the
 * firmware's pages stay usable). With PKE set CPUID.7.0:ECX.OSPKE (bit 4) reads 1, and clear 0. */
struct pkru_op {
	uint32_t before, after;
};

static void do_pkru_roundtrip(void *p)
{
	struct pkru_op *o = p;
	o->before = rdpkru();
	wrpkru(o->before);
	o->after = rdpkru();
}

static int cpuid7_ecx_has(uint64_t bit)
{
	struct cpuid_regs c;
	cpuid(7, 0, &c);
	return !!(c.ecx & bit);
}

static void insn_rdpkru(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_ECX, CPUID7_ECX_PKU, "PKU"))
		return;
	uint64_t cr4 = read_cr4();
	write_cr4(cr4 | CR4_PKE);
	int ospke_on = cpuid7_ecx_has(CPUID7_ECX_OSPKE);
	struct pkru_op o = { 0, 0 };
	struct fault f = trap_catch(do_pkru_roundtrip, &o);
	write_cr4(cr4 & ~CR4_PKE);
	int ospke_off = cpuid7_ecx_has(CPUID7_ECX_OSPKE);
	write_cr4(cr4);
	if (expect_none(r, "rdpkru+wrpkru", &f) && o.before != o.after)
		result_fail(r, "PKRU 0x%x, 0x%x after writing it back", o.before, o.after);
	if (!ospke_on || ospke_off)
		result_fail(r, "OSPKE reads %d with CR4.PKE=1, %d with 0", ospke_on, ospke_off);
}

static void do_clflushopt(void *p) { clflushopt(p); }
static void do_clwb(void *p) { clwb(p); }

static void insn_clflushopt(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_EBX, CPUID7_EBX_CLFLUSHOPT, "CLFLUSHOPT"))
		return;
	volatile uint64_t v = 1;
	struct fault f = trap_catch(do_clflushopt, (void *)&v);
	expect_none(r, "clflushopt", &f);
}

static void insn_clwb(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_EBX, CPUID7_EBX_CLWB, "CLWB"))
		return;
	volatile uint64_t v = 1;
	struct fault f = trap_catch(do_clwb, (void *)&v);
	expect_none(r, "clwb", &f);
}

/* PCONFIG with a leaf no processor defines: #GP(0), not #UD (in VMX non-root "enable PCONFIG"
 * decides between the two). */
static void do_pconfig_bad_leaf(void *p) { (void)p; pconfig(0xFFFFFFFF); }

static void insn_pconfig(struct result *r)
{
	if (!need_cpuid(r, 7, 0, REG_EDX, CPUID7_EDX_PCONFIG, "PCONFIG"))
		return;
	struct fault f = trap_catch(do_pconfig_bad_leaf, 0);
	expect_gp0(r, "pconfig leaf 0xffffffff", &f);
}

/* ---- cache instructions ---- */

/* INVD completes; a value just written still reads back. Only meaningful under keel, which must
 * not really discard caches: on hardware INVD drops dirty lines, firmware data included. */
static void do_invd(void *p)
{
	volatile uint64_t *v = p;
	*v = 0x1BADB002;
	invd();
}

static void invd_completes(struct result *r)
{
	if (!need_keel(r))
		return;
	volatile uint64_t v = 0;
	struct fault f = trap_catch(do_invd, (void *)&v);
	if (expect_none(r, "invd", &f) && v != 0x1BADB002)
		result_fail(r, "value written before INVD reads 0x%lx", (unsigned long)v);
}

/* WBINVD at CPL 0 completes. */
static void do_wbinvd(void *p) { (void)p; wbinvd(); }

static void wbinvd_completes(struct result *r)
{
	struct fault f = trap_catch(do_wbinvd, 0);
	expect_none(r, "wbinvd", &f);
}

/* ---- hypercalls (vmm/hypercall_abi.h) ---- */

struct hc_regs {
	uint64_t rax, rbx, rcx, rdx;
};

static void do_hypercall(void *p)
{
	struct hc_regs *h = p;
	__asm__ volatile("vmcall" : "+a"(h->rax), "+b"(h->rbx), "+c"(h->rcx), "+d"(h->rdx)::"memory");
}

/* VMCALL with RAX=call, RBX/RCX args; fails r (and returns 0) on any exception. */
static int hypercall(struct result *r, struct hc_regs *h)
{
	uint64_t call = h->rax;
	struct fault f = trap_catch(do_hypercall, h);
	if (f.vector == TRAP_NONE)
		return 1;
	char what[32];
	trap_describe(&f, what, sizeof(what));
	result_fail(r, "hypercall %lu raised %s", (unsigned long)call, what);
	return 0;
}

static int hc_status_is(struct result *r, const struct hc_regs *h, long want, const char *what)
{
	if ((long)h->rax == want)
		return 1;
	result_fail(r, "%s: status %ld, expected %ld", what, (long)h->rax, want);
	return 0;
}

/* VERSION: OK, RBX = CPUID 0x40000001 EAX, RCX = CPUs virtualized (>= 1). */
static void hc_version(struct result *r)
{
	if (!need_keel(r))
		return;
	struct cpuid_regs c;
	cpuid(KEEL_CPUID_MAX_LEAF, 0, &c);
	struct hc_regs h = { .rax = KEEL_HC_VERSION };
	if (!hypercall(r, &h) || !hc_status_is(r, &h, KEEL_HC_OK, "version"))
		return;
	if (h.rbx != c.eax)
		result_fail(r, "version 0x%lx, CPUID says 0x%x", (unsigned long)h.rbx, c.eax);
	if (h.rcx < 1)
		result_fail(r, "%lu CPUs virtualized", (unsigned long)h.rcx);
}

/* NOP: OK. */
static void hc_nop(struct result *r)
{
	if (!need_keel(r))
		return;
	struct hc_regs h = { .rax = KEEL_HC_NOP };
	if (hypercall(r, &h))
		hc_status_is(r, &h, KEEL_HC_OK, "nop");
}

/* STATS for CPU 0, all reasons: OK, some exits counted already (our CPUIDs at least). */
static void hc_stats(struct result *r)
{
	if (!need_keel(r))
		return;
	struct hc_regs h = { .rax = KEEL_HC_STATS, .rbx = 0, .rcx = KEEL_STATS_TOTAL };
	if (!hypercall(r, &h) || !hc_status_is(r, &h, KEEL_HC_OK, "stats"))
		return;
	if (h.rbx == 0)
		result_fail(r, "no exits counted on cpu 0");
	if (h.rcx < 1)
		result_fail(r, "%lu CPUs", (unsigned long)h.rcx);
}

/* LOG of a short string: OK; of 10000 bytes (over KEEL_HC_LOG_MAX): EINVAL. */
static void hc_log(struct result *r)
{
	static const char msg[] = "selftest: hello from the guest";
	if (!need_keel(r))
		return;
	struct hc_regs h = { .rax = KEEL_HC_LOG, .rbx = (uint64_t)(uintptr_t)msg, .rcx = sizeof(msg) - 1 };
	if (hypercall(r, &h))
		hc_status_is(r, &h, KEEL_HC_OK, "log");
	h = (struct hc_regs){ .rax = KEEL_HC_LOG, .rbx = (uint64_t)(uintptr_t)msg, .rcx = 10000 };
	if (hypercall(r, &h))
		hc_status_is(r, &h, KEEL_HC_EINVAL, "log of 10000 bytes");
}

/* An unknown call number: ENOSYS. */
static void hc_unknown_enosys(struct result *r)
{
	if (!need_keel(r))
		return;
	struct hc_regs h = { .rax = 0x7FFF };
	if (hypercall(r, &h))
		hc_status_is(r, &h, KEEL_HC_ENOSYS, "call 0x7fff");
}

/* VMCALL at CPL 3 through the ring-3 harness; returns 0 (and skips r) when it cannot run here. */
static int ring3_vmcall(struct result *r, struct ring3_vmcall *h)
{
	const char *why = ring3_run_vmcall(h);
	if (why)
		result_skip(r, "no ring-3 harness here: %s", why);
	return !why;
}

/* A call keel allows only at CPL 0 (LOG), made at CPL 3: #UD at the VMCALL, as on a CPU without
 * a hypervisor (natively VMCALL always raises #UD). */
static void hc_cpl3_ud(struct result *r)
{
	static const char msg[] = "selftest: this line must not appear";
	struct ring3_vmcall h = { .rax = KEEL_HC_LOG, .rbx = (uint64_t)(uintptr_t)msg, .rcx = sizeof(msg) - 1 };
	if (!ring3_vmcall(r, &h))
		return;
	char what[32];
	trap_describe(&h.fault, what, sizeof(what));
	if (h.fault.vector != VEC_UD)
		result_fail(r, "ring 3 ended with %s, expected #UD", what);
	else if (h.fault.rip != (uint64_t)(uintptr_t)ring3_vmcall_insn)
		result_fail(r, "#UD at 0x%lx, expected at the VMCALL (0x%lx)%s", (unsigned long)h.fault.rip,
			    (unsigned long)(uintptr_t)ring3_vmcall_insn, h.completed ? ": the call completed" : "");
}

/* VERSION at CPL 3: keel allows it (so user programs such as keelctl can find keel): it completes
 * with keel's version. Natively: #UD at the VMCALL. */
static void hc_cpl3_version(struct result *r)
{
	struct ring3_vmcall h = { .rax = KEEL_HC_VERSION };
	if (!ring3_vmcall(r, &h))
		return;
	if (!platform.keel) {
		if (h.fault.vector != VEC_UD || h.fault.rip != (uint64_t)(uintptr_t)ring3_vmcall_insn)
			result_fail(r, "natively VMCALL at CPL 3 must raise #UD at the VMCALL");
		return;
	}
	struct cpuid_regs c;
	cpuid(KEEL_CPUID_MAX_LEAF, 0, &c);
	if (!h.completed) {
		char what[32];
		trap_describe(&h.fault, what, sizeof(what));
		result_fail(r, "VERSION at CPL 3 raised %s at 0x%lx", what, (unsigned long)h.fault.rip);
	} else if (h.rax != KEEL_HC_OK || h.rbx != c.eax) {
		result_fail(r, "status %ld, version 0x%lx (CPUID says 0x%x)", (long)h.rax, (unsigned long)h.rbx, c.eax);
	}
}

/* ---- exceptions delivered by the CPU itself ---- */

struct rip_probe {
	uint64_t rip; /* where the exception should report RIP; set by the probe before it fires */
};

static int expect_rip(struct result *r, const struct fault *f, uint64_t want)
{
	if (f->rip == want)
		return 1;
	result_fail(r, "rip 0x%lx, expected 0x%lx", (unsigned long)f->rip, (unsigned long)want);
	return 0;
}

/* TF=1 over CPUID: a single-step #DB (a trap) with RIP after CPUID and DR6.BS set (SDM Vol. 3B
 * 17.3.1.4). POPF sets TF, so the trap follows the instruction after it: CPUID, which keel emulates
 * and must then deliver the #DB itself. */
static void do_tf_over_cpuid(void *p)
{
	struct rip_probe *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n\t"
			 "xor %%eax, %%eax\n\t"
			 "xor %%ecx, %%ecx\n\t"
			 "pushfq\n\t"
			 "orq $0x100, (%%rsp)\n\t"
			 "popfq\n\t"
			 "cpuid\n"
			 "1:\n\t"
			 "pushfq\n\t"
			 "andq $~0x100, (%%rsp)\n\t"
			 "popfq"
			 : "=m"(o->rip)::"rax", "rbx", "rcx", "rdx", "cc", "memory");
}

static void trap_tf_over_cpuid_db(struct result *r)
{
	struct rip_probe o;
	write_dr6(DR6_INIT);
	struct fault f = trap_catch(do_tf_over_cpuid, &o);
	if (!expect_fault(r, "single-step over cpuid", &f, VEC_DB, 0) || !expect_rip(r, &f, o.rip))
		return;
	if (!(f.dr6 & DR6_BS))
		result_fail(r, "DR6 = 0x%lx without BS", (unsigned long)f.dr6);
}

/* INT3: #BP, a trap: RIP is the next instruction. */
static void do_int3(void *p)
{
	struct rip_probe *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n\t"
			 "int3\n"
			 "1:"
			 : "=m"(o->rip)::"rax", "memory");
}

static void trap_int3_bp(struct result *r)
{
	struct rip_probe o;
	struct fault f = trap_catch(do_int3, &o);
	if (expect_fault(r, "int3", &f, VEC_BP, 0))
		expect_rip(r, &f, o.rip);
}

/* UD2: #UD, a fault: RIP is UD2 itself. */
static void do_ud2(void *p)
{
	struct rip_probe *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n"
			 "1:\tud2"
			 : "=m"(o->rip)::"rax", "memory");
}

static void trap_ud2_ud(struct result *r)
{
	struct rip_probe o;
	struct fault f = trap_catch(do_ud2, &o);
	if (expect_ud(r, "ud2", &f))
		expect_rip(r, &f, o.rip);
}

/* DIV by zero: #DE, a fault at the DIV. */
static void do_div0(void *p)
{
	struct rip_probe *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n\t"
			 "mov $1, %%eax\n\t"
			 "xor %%edx, %%edx\n\t"
			 "xor %%ecx, %%ecx\n"
			 "1:\tdiv %%ecx"
			 : "=m"(o->rip)::"rax", "rcx", "rdx", "cc", "memory");
}

static void trap_div0_de(struct result *r)
{
	struct rip_probe o;
	struct fault f = trap_catch(do_div0, &o);
	if (expect_fault(r, "div by 0", &f, VEC_DE, 0))
		expect_rip(r, &f, o.rip);
}

/* A load from a non-canonical address (not through RSP/RBP): #GP(0) (SDM Vol. 3A 6.15, #GP). */
static void do_noncanonical_load(void *p)
{
	struct rip_probe *o = p;
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %0\n\t"
			 "movabs $0x8000000000000000, %%rax\n"
			 "1:\tmov (%%rax), %%rax"
			 : "=m"(o->rip)::"rax", "memory");
}

static void trap_noncanonical_load_gp(struct result *r)
{
	struct rip_probe o;
	struct fault f = trap_catch(do_noncanonical_load, &o);
	if (expect_gp0(r, "load from 0x8000000000000000", &f))
		expect_rip(r, &f, o.rip);
}

/* Alignment checking needs CPL 3 (SDM Vol. 3A 6.15, #AC): at CPL 0, with CR0.AM and RFLAGS.AC
 * both set, an unaligned load completes. */
static void do_unaligned_with_ac(void *p)
{
	const uint8_t *buf = p;
	uint32_t v;
	__asm__ volatile("pushfq\n\t"
			 "orq $0x40000, (%%rsp)\n\t"
			 "popfq\n\t"
			 "movl 1(%1), %0\n\t"
			 "pushfq\n\t"
			 "andq $~0x40000, (%%rsp)\n\t"
			 "popfq"
			 : "=r"(v)
			 : "r"(buf)
			 : "cc", "memory");
}

static void trap_ac_cpl0_no_fault(struct result *r)
{
	static uint8_t buf[16] __attribute__((aligned(8)));
	uint64_t cr0 = read_cr0();
	write_cr0(cr0 | CR0_AM);
	struct fault f = trap_catch(do_unaligned_with_ac, buf);
	write_cr0(cr0);
	expect_none(r, "unaligned load at CPL 0 with AM and AC", &f);
}

/* ---- the table, in run order ---- */
/* ---- keel's memory is not the guest's (EPT) ---- */

/*
 * keel keeps a 64-byte canary in its hidden memory whose first 16 bytes are "KeEl-CaNary-64B!".
 * Scan every page the memory map reports for that marker: under keel there must be no copy (keel's
 * pages read as all ones). The marker is compared from two halves XORed with 0x33, so this program
 * never holds a copy of it itself. Then read keel's own range (KEEL_HC_MEMRANGE): all ones, and
 * keel is still answering afterwards.
 */
static const uint8_t canary_x[16] = {
	'K' ^ 0x33, 'e' ^ 0x33, 'E' ^ 0x33, 'l' ^ 0x33, '-' ^ 0x33, 'C' ^ 0x33, 'a' ^ 0x33, 'N' ^ 0x33,
	'a' ^ 0x33, 'r' ^ 0x33, 'y' ^ 0x33, '-' ^ 0x33, '6' ^ 0x33, '4' ^ 0x33, 'B' ^ 0x33, '!' ^ 0x33,
};

struct canary_scan {
	uint64_t found, first, pages;
};

static void scan_region(uint64_t base, uint64_t bytes, void *arg)
{
	struct canary_scan *cs = arg;
	uint64_t lo = 0, hi = 0;
	for (int i = 0; i < 8; i++) {
		lo |= (uint64_t)(canary_x[i] ^ 0x33) << (8 * i);
		hi |= (uint64_t)(canary_x[8 + i] ^ 0x33) << (8 * i);
	}
	cs->pages += bytes / 4096;
	for (uint64_t a = base; a + 16 <= base + bytes; a += 8) {
		const volatile uint64_t *q = (const volatile uint64_t *)(uintptr_t)a;
		if (q[0] == lo && q[1] == hi) {
			if (!cs->found++)
				cs->first = a;
		}
	}
	lo = hi = 0;
}

static void ept_hidden_canary(struct result *r)
{
	if (!need_keel(r))
		return;
	struct canary_scan cs = { 0, 0, 0 };
	if (io_memory_regions(scan_region, &cs) < 0) {
		result_fail(r, "cannot read the memory map");
		return;
	}
	if (cs.found) {
		result_fail(r, "%lu copies of keel's canary in guest memory, first at 0x%lx (of %lu pages)",
			    (unsigned long)cs.found, (unsigned long)cs.first, (unsigned long)cs.pages);
		return;
	}
	struct hc_regs h = { .rax = KEEL_HC_MEMRANGE };
	if (!hypercall(r, &h) || !hc_status_is(r, &h, KEEL_HC_OK, "memrange"))
		return;
	if (!h.rbx || !h.rcx) {
		result_fail(r, "keel reports an empty range");
		return;
	}
	const volatile uint64_t *k = (const volatile uint64_t *)(uintptr_t)h.rbx;
	uint64_t all = ~0ULL;
	for (uint64_t i = 0; i < 4096 / 8; i++)
		all &= k[i];
	if (all != ~0ULL)
		result_fail(r, "keel's first page at 0x%lx reads 0x%lx, not all ones", (unsigned long)h.rbx,
			    (unsigned long)all);
	struct hc_regs again = { .rax = KEEL_HC_VERSION };
	if (hypercall(r, &again))
		hc_status_is(r, &again, KEEL_HC_OK, "version after reading keel's range");
}

const struct selftest_case selftest_cases[] = {
	{ "cpuid.basic_leaf", cpuid_basic_leaf, CASE_ON_APS },
	{ "cpuid.hypervisor_bit", cpuid_hypervisor_bit, CASE_ON_APS },
	{ "cpuid.keel_leaf", cpuid_keel_leaf, CASE_ON_APS },
	{ "cpuid.vmx_hidden", cpuid_vmx_hidden, CASE_ON_APS },
	{ "cpuid.osxsave_follows_cr4", cpuid_osxsave_follows_cr4, CASE_ON_APS },
	{ "msr.unknown_rdmsr_gp", msr_unknown_rdmsr_gp, CASE_ON_APS },
	{ "msr.unknown_wrmsr_gp", msr_unknown_wrmsr_gp, CASE_ON_APS },
	{ "msr.edge_1fff", msr_edge_1fff, CASE_ON_APS },
	{ "msr.edge_2000", msr_edge_2000, CASE_ON_APS },
	{ "msr.edge_c0001fff", msr_edge_c0001fff, CASE_ON_APS },
	{ "msr.edge_c0002000", msr_edge_c0002000, CASE_ON_APS },
	{ "msr.fs_base_noncanonical_gp", msr_fs_base_noncanonical_gp, CASE_ON_APS },
	{ "msr.gs_base_noncanonical_gp", msr_gs_base_noncanonical_gp, CASE_ON_APS },
	{ "msr.kernel_gs_base_noncanonical_gp", msr_kernel_gs_base_noncanonical_gp, CASE_ON_APS },
	{ "msr.lstar_noncanonical_gp", msr_lstar_noncanonical_gp, CASE_ON_APS },
	{ "msr.kernel_gs_base_roundtrip", msr_kernel_gs_base_roundtrip, CASE_ON_APS },
	{ "msr.rcx_high_ignored", msr_rcx_high_ignored, CASE_ON_APS },
	{ "msr.feature_control_locked_gp", msr_feature_control_locked_gp, CASE_ON_APS },
	{ "vmx.vmxon_ud", vmx_vmxon_ud, CASE_ON_APS },
	{ "vmx.vmptrld_ud", vmx_vmptrld_ud, CASE_ON_APS },
	{ "vmx.vmclear_ud", vmx_vmclear_ud, CASE_ON_APS },
	{ "vmx.vmread_ud", vmx_vmread_ud, CASE_ON_APS },
	{ "vmx.vmwrite_ud", vmx_vmwrite_ud, CASE_ON_APS },
	{ "vmx.vmlaunch_ud", vmx_vmlaunch_ud, CASE_ON_APS },
	{ "vmx.vmresume_ud", vmx_vmresume_ud, CASE_ON_APS },
	{ "vmx.vmxoff_ud", vmx_vmxoff_ud, CASE_ON_APS },
	{ "vmx.invept_ud", vmx_invept_ud, CASE_ON_APS },
	{ "vmx.invvpid_ud", vmx_invvpid_ud, CASE_ON_APS },
	{ "vmx.vmcall_native", vmx_vmcall_native, 0 },
	{ "cr.cr4_reserved_gp", cr_cr4_reserved_gp, CASE_ON_APS },
	{ "cr.cr4_vmxe_reads_zero", cr_cr4_vmxe_reads_zero, CASE_ON_APS },
	{ "cr.cr4_vmxe_gp_without_vmx", cr_cr4_vmxe_gp_without_vmx, CASE_ON_APS },
	{ "cr.cr0_pg_without_pe_gp", cr_cr0_pg_without_pe_gp, CASE_ON_APS },
	{ "cr.cr0_nw_without_cd_gp", cr_cr0_nw_without_cd_gp, CASE_ON_APS },
	{ "cr.cr0_reserved_high_gp", cr_cr0_reserved_high_gp, CASE_ON_APS },
	{ "xsetbv.invalid_gp", xsetbv_invalid_gp, CASE_ON_APS },
	{ "xsetbv.bad_index_gp", xsetbv_bad_index_gp, CASE_ON_APS },
	{ "xsave.xgetbv_ud_without_osxsave", xsave_xgetbv_ud_without_osxsave, CASE_ON_APS },
	{ "insn.waitpkg_tpause", insn_waitpkg_tpause, CASE_ON_APS },
	{ "insn.waitpkg_umonitor", insn_waitpkg_umonitor, CASE_ON_APS },
	{ "insn.waitpkg_umwait", insn_waitpkg_umwait, CASE_ON_APS },
	{ "insn.rdpid", insn_rdpid, CASE_ON_APS },
	{ "insn.rdtscp", insn_rdtscp, CASE_ON_APS },
	{ "insn.rdrand", insn_rdrand, CASE_ON_APS },
	{ "insn.rdseed", insn_rdseed, CASE_ON_APS },
	{ "insn.invpcid", insn_invpcid, CASE_ON_APS },
	{ "insn.xsaves", insn_xsaves, CASE_ON_APS },
	{ "insn.xgetbv", insn_xgetbv, CASE_ON_APS },
	{ "insn.rdfsbase", insn_rdfsbase, CASE_ON_APS },
	{ "insn.rdpkru", insn_rdpkru, CASE_ON_APS },
	{ "insn.clflushopt", insn_clflushopt, CASE_ON_APS },
	{ "insn.clwb", insn_clwb, CASE_ON_APS },
	{ "insn.pconfig", insn_pconfig, CASE_ON_APS },
	{ "cache.wbinvd_completes", wbinvd_completes, CASE_ON_APS },
	{ "invd.completes", invd_completes, CASE_ON_APS },
	{ "hc.version", hc_version, CASE_ON_APS },
	{ "ept.hidden_canary", ept_hidden_canary, 0 },
	{ "hc.nop", hc_nop, CASE_ON_APS },
	{ "hc.stats", hc_stats, CASE_ON_APS },
	{ "hc.log", hc_log, CASE_ON_APS },
	{ "hc.unknown_enosys", hc_unknown_enosys, CASE_ON_APS },
	{ "hc.cpl3_ud", hc_cpl3_ud, 0 },
	{ "hc.cpl3_version", hc_cpl3_version, 0 },
	{ "trap.tf_over_cpuid_db", trap_tf_over_cpuid_db, CASE_ON_APS },
	{ "trap.int3_bp", trap_int3_bp, CASE_ON_APS },
	{ "trap.ud2_ud", trap_ud2_ud, CASE_ON_APS },
	{ "trap.div0_de", trap_div0_de, CASE_ON_APS },
	{ "trap.noncanonical_load_gp", trap_noncanonical_load_gp, CASE_ON_APS },
	{ "trap.ac_cpl0_no_fault", trap_ac_cpl0_no_fault, CASE_ON_APS },
	{ "trap.hlt_wakes_on_interrupt", tc_hlt_wakes, 0 },
	{ "trap.pause_keeps_registers", tc_pause_keeps_registers, 0 },
	{ "trap.mwait_completes", tc_mwait_completes, 0 },
	{ "trap.mwait_reserved_ecx_gp", tc_mwait_reserved_ecx_gp, 0 },
	{ "trap.monitor_ecx_gp", tc_monitor_ecx_gp, 0 },
	{ "trap.rdtsc_monotonic", tc_rdtsc_monotonic, 0 },
	{ "trap.rdtscp_aux", tc_rdtscp_aux, 0 },
	{ "trap.rdpmc_valid", tc_rdpmc_valid, 0 },
	{ "trap.rdpmc_invalid_gp", tc_rdpmc_invalid_gp, 0 },
	{ "trap.cr3_reload", tc_cr3_reload, 0 },
	{ "trap.cr8_roundtrip", tc_cr8_roundtrip, 0 },
	{ "trap.cr8_reserved_gp", tc_cr8_reserved_gp, 0 },
	{ "trap.dr_roundtrip", tc_dr_roundtrip, 0 },
	{ "trap.dr_dr7_high_gp", tc_dr7_high_gp, 0 },
	{ "trap.dr_dr4_alias", tc_dr4_alias, 0 },
	{ "trap.dr_gd_db", tc_dr_gd_db, 0 },
	{ "trap.dr_data_breakpoint_db", tc_dr_data_breakpoint_db, 0 },
	{ "trap.desc_sgdt_loaded", tc_desc_sgdt_loaded, 0 },
	{ "trap.desc_sidt_loaded", tc_desc_sidt_loaded, 0 },
	{ "trap.desc_lldt_sldt", tc_desc_lldt_sldt, 0 },
	{ "trap.desc_str_widths", tc_desc_str_widths, 0 },
	{ "trap.desc_sldt_widths", tc_desc_sldt_widths, 0 },
	{ "trap.desc_sgdt_noncanonical_gp", tc_desc_sgdt_noncanonical_gp, 0 },
	{ "trap.desc_sgdt_not_present_pf", tc_desc_sgdt_not_present_pf, 0 },
	{ "trap.desc_sidt_not_present_pf", tc_desc_sidt_not_present_pf, 0 },
	{ "trap.desc_lgdt_noncanonical_base_gp", tc_desc_lgdt_noncanonical_base_gp, 0 },
	{ "trap.invlpg_mapped", tc_invlpg_mapped, 0 },
	{ "trap.invlpg_noncanonical_nop", tc_invlpg_noncanonical_nop, 0 },
	{ "trap.wbinvd_keeps_memory", tc_wbinvd_keeps_memory, 0 },
	{ "trap.io_in_widths", tc_io_in_widths, 0 },
	{ "trap.io_rep_insb", tc_io_rep_insb, 0 },
	{ "trap.io_rep_insb_down", tc_io_rep_insb_down, 0 },
	{ "trap.io_rep_outsb", tc_io_rep_outsb, 0 },
	{ "trap.exceptions_pf_read", tc_exceptions_pf_read, 0 },
	{ "trap.exceptions_pf_write", tc_exceptions_pf_write, 0 },
	{ "trap.exceptions_pf_fetch", tc_exceptions_pf_fetch, 0 },
	{ "trap.exceptions_gp_selector", tc_exceptions_gp_selector, 0 },
	{ "fast.step_cpuid_cached", fast_step_cpuid_cached, 0 },
	{ "fast.step_cpuid_leaf1", fast_step_cpuid_leaf1, 0 },
	{ "fast.step_rdmsr_feature_control", fast_step_rdmsr, 0 },
	{ "fast.step_wrmsr_misc_enable", fast_step_wrmsr, 0 },
	{ "fast.step_in_e9", fast_step_in, 0 },
	{ "fast.step_out_e9", fast_step_out, 0 },
	{ "fast.step_vmcall_nop", fast_step_vmcall, 0 },
	{ "fast.mov_ss_shadow_cpuid", fast_mov_ss_shadow_cpuid, 0 },
	{ "fast.sti_shadow_cpuid", fast_sti_shadow_cpuid, 0 },
	{ "fast.nmi_self_during_cpuid", fast_nmi_self_during_cpuid, 0 },
};
const size_t selftest_case_count = sizeof(selftest_cases) / sizeof(selftest_cases[0]);
