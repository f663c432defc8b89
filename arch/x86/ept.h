/* EPT paging-structure entry and EPTP formats (Intel SDM Vol. 3C 28.3.2-28.3.3). Pure definitions.
 *
 *  63     52 51                         12 11 10  9   8   7   6  5   3  2  1  0
 * +---------+-----------------------------+-----+---+---+---+---+------+--+--+--+
 * | ignored |  physical address           | ign | D | A |PS |IPAT| MT  |X |W |R |
 * +---------+-----------------------------+-----+---+---+---+---+------+--+--+--+
 * PS (bit 7) marks a 1 GiB (PDPTE) or 2 MiB (PDE) leaf; MT and IPAT exist in leaves only. */
#ifndef KEEL_ARCH_X86_EPT_H
#define KEEL_ARCH_X86_EPT_H

#include "cpu.h"

#define EPT_R BIT(0)
#define EPT_W BIT(1)
#define EPT_X BIT(2)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3
#define EPT_MT_MASK (7ULL << EPT_MT_SHIFT)
#define EPT_IPAT BIT(6)
#define EPT_PS BIT(7)
#define EPT_ADDR_MASK 0x000FFFFFFFFFF000ULL

#define EPT_ENTRIES 512
#define EPT_LEVEL_SHIFT(level) (12 + 9 * (level)) /* level 0 = PTE (4 KiB) ... 3 = PML4E, 4 = PML5E */

/*
 * Index of the entry for gpa in a table at `level`. A walk of n levels translates GPA bits
 * 12 + 9n - 1 .. 0 only: bits 47:0 for 4 levels (SDM Vol. 3C 28.2.2), 56:0 for 5 levels, where
 * the PML5E index (level 4) holds bits 56:48 and so every bit up to MAXPHYADDR (at most 52).
 * The & 511 drops every bit above the top level's: a walker must first check ept_walk_covers(),
 * or a GPA with bits 51:48 set aliases the page 2^48 below it.
 */
#define EPT_INDEX(gpa, level) (((gpa) >> EPT_LEVEL_SHIFT(level)) & 511)

/* True when an EPT walk of `levels` levels (4 or 5) can translate gpa. */
static inline int ept_walk_covers(uint64_t gpa, unsigned levels) { return (gpa >> EPT_LEVEL_SHIFT(levels)) == 0; }

static inline uint64_t ept_entry_addr(uint64_t e) { return e & EPT_ADDR_MASK; }
static inline unsigned ept_entry_type(uint64_t e) { return (unsigned)((e & EPT_MT_MASK) >> EPT_MT_SHIFT); }
static inline int ept_entry_present(uint64_t e) { return (e & EPT_RWX) != 0; }

/* EPTP: bits 2:0 memory type of the paging structures, 5:3 walk length - 1, 6 A/D enable
 * (SDM Vol. 3C 24.6.11). A walk length of 5 needs IA32_VMX_EPT_VPID_CAP bit 7 (Appendix A.10). */
#define EPTP_WALK(levels) ((uint64_t)((levels) - 1) << 3)
#define EPTP_WALK_4 EPTP_WALK(4)
#define EPTP_WALK_5 EPTP_WALK(5)
static inline uint64_t eptp_make(uint64_t root_pa, unsigned levels, unsigned memtype)
{
	return root_pa | EPTP_WALK(levels) | memtype;
}

#endif
