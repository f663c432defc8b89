/* The VMCALL hypercall interface (ABI in vmm/hypercall_abi.h, docs/hypercalls.md) and the exit
 * statistics it reports. VMX root. */
#include "hypercall.h"

#include "../lib/log.h"
#include "../mm/shadow.h"
#include "emulate.h"
#include "vmcs.h"

int hypercall_allowed_from_user(uint64_t nr)
{
	return nr == KEEL_HC_VERSION || nr == KEEL_HC_NOP || nr == KEEL_HC_STATS || nr == KEEL_HC_MMU_STATS;
}

void stats_print(const struct vm *vm)
{
	log_info("keel: exit statistics (%u CPUs virtualized) under mmu=%s", vm->nvirt, vm->shadow ? "shadow" : "ept");
	for (unsigned c = 0; c < KEEL_MAX_CPUS; c++) {
		const struct vcpu *v = vm->vcpus[c];
		if (!v || !v->launched)
			continue;
		log_info("keel:   cpu%u total %llu", c, (unsigned long long)vcpu_exits_total(v));
		if (v->nmis_in_root)
			log_info("keel:   cpu%u NMIs taken in VMX root, passed to the guest: %llu", c,
				 (unsigned long long)v->nmis_in_root);
		for (unsigned i = 0; i < EXIT_REASON_COUNT; i++)
			if (v->exits[i])
				log_info("keel:   cpu%u %-22s %llu", c, exit_reason_name(i), (unsigned long long)v->exits[i]);
		if (v->shadow_mmu) {
			const struct shadow_stats *s = &v->shadow_mmu->stats;
			log_info("keel:   cpu%u shadow MMU: %llu hidden faults, %llu reflected, %llu CR3 loads (%llu cached), "
				 "%llu INVLPGs, %llu flushes, %llu maps of keel's memory, %llu reclaims, %u of %u pages in use",
				 c, (unsigned long long)s->hidden_faults, (unsigned long long)s->reflected_faults,
				 (unsigned long long)s->cr3_loads, (unsigned long long)s->root_hits,
				 (unsigned long long)s->invlpgs, (unsigned long long)s->flushes,
				 (unsigned long long)s->keel_page_maps, (unsigned long long)s->reclaims, s->pages_in_use,
				 s->pages_total);
		}
	}
}

static long hc_stats(const struct vm *vm, uint64_t cpu, uint64_t reason, uint64_t *count)
{
	if (cpu >= KEEL_MAX_CPUS || !vm->vcpus[cpu])
		return KEEL_HC_EINVAL;
	if (reason == KEEL_STATS_TOTAL)
		*count = vcpu_exits_total(vm->vcpus[cpu]);
	else if (reason < EXIT_REASON_COUNT)
		*count = vm->vcpus[cpu]->exits[reason];
	else
		return KEEL_HC_EINVAL;
	return KEEL_HC_OK;
}

static long hc_mmu_stats(const struct vm *vm, uint64_t cpu, uint64_t index, uint64_t *val, uint64_t *mode)
{
	if (cpu >= KEEL_MAX_CPUS || !vm->vcpus[cpu] || index >= KEEL_MMU_STAT_COUNT)
		return KEEL_HC_EINVAL;
	const struct shadow_mmu *sh = vm->vcpus[cpu]->shadow_mmu;
	*mode = sh ? KEEL_MMU_SHADOW : KEEL_MMU_EPT;
	if (!sh)
		return KEEL_HC_OK; /* EPT mode keeps no MMU counters: all read 0 */
	const struct shadow_stats *s = &sh->stats;
	const uint64_t counters[KEEL_MMU_STAT_COUNT] = {
		[KEEL_MMU_STAT_HIDDEN_FAULTS] = s->hidden_faults,
		[KEEL_MMU_STAT_REFLECTED_FAULTS] = s->reflected_faults,
		[KEEL_MMU_STAT_CR3_LOADS] = s->cr3_loads,
		[KEEL_MMU_STAT_ROOT_HITS] = s->root_hits,
		[KEEL_MMU_STAT_INVLPGS] = s->invlpgs,
		[KEEL_MMU_STAT_FLUSHES] = s->flushes,
		[KEEL_MMU_STAT_KEEL_PAGE_MAPS] = s->keel_page_maps,
		[KEEL_MMU_STAT_RECLAIMS] = s->reclaims,
		[KEEL_MMU_STAT_PAGES_IN_USE] = s->pages_in_use,
		[KEEL_MMU_STAT_PAGES_TOTAL] = s->pages_total,
	};
	*val = counters[index];
	return KEEL_HC_OK;
}

static long hc_log(struct vcpu *v, uint64_t gva, uint64_t len)
{
	char buf[KEEL_HC_LOG_MAX + 1];
	if (len > KEEL_HC_LOG_MAX)
		return KEEL_HC_EINVAL;
	if (vcpu_read_guest(v, gva, buf, len))
		return KEEL_HC_EFAULT;
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7E)
			buf[i] = '.';
	buf[len] = 0;
	log_info("keel: guest cpu%u says: %s", v->index, buf);
	return KEEL_HC_OK;
}

void hypercall_handle(struct vcpu *v, struct guest_regs *r, const struct exit_info *e)
{
	(void)e;
	uint64_t nr = r->gpr[GPR_RAX], a = r->gpr[GPR_RBX], b = r->gpr[GPR_RCX];
	long status = KEEL_HC_OK;

	if (hypercall_simple(v, r)) {
		vcpu_skip_instruction(v);
		return;
	}
	if (!hypercall_allowed_from_user(nr) && vcpu_cpl() != 0) {
		vcpu_inject_ud(v); /* what VMCALL does at CPL > 0 without a hypervisor that allows it */
		return;
	}
	switch (nr) {
	case KEEL_HC_STATS: {
		uint64_t count = 0;
		status = hc_stats(v->vm, a, b, &count);
		r->gpr[GPR_RBX] = count;
		r->gpr[GPR_RCX] = v->vm->nvirt;
		break;
	}
	case KEEL_HC_MMU_STATS: {
		uint64_t val = 0, mode = 0;
		status = hc_mmu_stats(v->vm, a, b, &val, &mode);
		r->gpr[GPR_RBX] = val;
		r->gpr[GPR_RCX] = mode;
		break;
	}
	case KEEL_HC_LOG:
		status = hc_log(v, a, b);
		break;
	case KEEL_HC_STATS_PRINT:
		stats_print(v->vm);
		break;
	case KEEL_HC_SEAL:
		if (v->vm->nvirt < v->vm->ncpus) {
			/* Native CPUs would still see keel's memory: hiding it from some is no protection. */
			status = KEEL_HC_EBUSY;
			break;
		}
		if (!v->vm->sealed) {
			/* Under shadow paging each vCPU drops the ranges from its shadow tables before its
			 * next entry on them (shadow_before_entry); there are EPT tables only where the
			 * unpaged phases run on them (vm->unpaged_ept), and their hidden pages go too. */
			unsigned n = v->vm->shadow && !v->vm->unpaged_ept ? ept_hidden_pages(&v->vm->ept)
									   : ept_set_hidden_present(&v->vm->ept, 0);
			__atomic_store_n(&v->vm->sealed, 1, __ATOMIC_RELEASE);
			for (unsigned i = 0; i < KEEL_MAX_CPUS; i++) /* each flushes at its next exit */
				if (v->vm->vcpus[i])
					vcpu_make_slow(v->vm->vcpus[i]);
			log_info("keel: sealed: %u pages of keel's memory removed from the guest's view", n);
		}
		vcpu_flush_ept(v);
		v->seen_seal = 1;
		break;
	case KEEL_HC_MEMRANGE:
		r->gpr[GPR_RBX] = v->vm->mem_base;
		r->gpr[GPR_RCX] = v->vm->mem_size;
		break;
	default:
		status = KEEL_HC_ENOSYS;
	}
	r->gpr[GPR_RAX] = (uint64_t)status;
	vcpu_skip_instruction(v);
}
