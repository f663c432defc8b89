/* Memory-type range registers: decoding the firmware's MTRRs into the memory type of a physical
 * range (Intel SDM Vol. 3A 11.11). Pure logic over a snapshot; mtrr_read() takes the snapshot. */
#ifndef KEEL_MM_MTRR_H
#define KEEL_MM_MTRR_H

#include <stdint.h>

#define MT_UC 0
#define MT_WC 1
#define MT_WT 4
#define MT_WP 5
#define MT_WB 6
#define MTRR_MAX_VAR 16
#define MTRR_FIXED_COUNT 11

struct mtrr_state {
	uint64_t def_type;                /* IA32_MTRR_DEF_TYPE */
	uint64_t fixed[MTRR_FIXED_COUNT]; /* FIX64K_00000, FIX16K_80000, FIX16K_A0000, FIX4K_C0000..F8000 */
	unsigned var_count;
	uint64_t var_base[MTRR_MAX_VAR], var_mask[MTRR_MAX_VAR];
	int have_fixed;                   /* IA32_MTRRCAP.FIX */
	uint64_t phys_mask;               /* (1 << MAXPHYADDR) - 1 */
};

/* Reads the MTRR MSRs of this CPU (CPL 0). When CPUID reports no MTRRs, E stays 0: all UC. */
void mtrr_read(struct mtrr_state *s, unsigned max_phys_bits);

/*
 * Memory type of [base, base + size), size a power of two and base aligned to it (a page of any
 * level). Returns 1 and stores the type when the whole range has one type, else 0.
 * Precedence per SDM 11.11.4.1: fixed ranges below 1 MiB when enabled; among variable ranges,
 * UC wins, WT wins over WB, other conflicts are undefined and treated as UC; none matching gives
 * the default type; MTRRs disabled (E = 0) gives UC.
 */
int mtrr_range_type(const struct mtrr_state *s, uint64_t base, uint64_t size, unsigned *type);

const char *mtrr_type_name(unsigned t);

#endif
