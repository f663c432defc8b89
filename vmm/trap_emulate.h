/* The rules of the trap= classes (docs/trap-and-emulate.md) as pure functions: what the CPU would
 * do for the trapped instruction, decided from decoded operands. No VMCS access, so the host unit
 * tests call them directly; each is defined in its class's file. */
#ifndef KEEL_VMM_TRAP_EMULATE_H
#define KEEL_VMM_TRAP_EMULATE_H

#include <stdint.h>

/* vmm/dr.c. MOV to (write) or from DR dr at cpl, in 64-bit mode or not (SDM Vol. 2B MOV DR,
 * Vol. 3A 18.2): 0 with *real the register accessed (DR4/DR5 alias DR6/DR7 with CR4.DE clear), or
 * the vector to raise: VEC_GP (error 0) at CPL > 0 or for a 64-bit write of DR6/DR7 with bits 63:32
 * set, VEC_UD for DR4/DR5 with CR4.DE, VEC_DB with DR7.GD. */
int dr_access_check(unsigned dr, int write, uint64_t val, int mode64, unsigned cpl, uint64_t cr4, uint64_t dr7,
		    unsigned *real);
/* The DR7 a MOV to DR7 leaves: bit 10 reads as 1, bits 12, 14 and 15 as 0. */
uint64_t dr7_write_value(uint64_t val);

/* vmm/cr.c. MOV to CR8 raises #GP(0) when bits 63:4 are set (SDM Vol. 3A 10.8.6.1). */
static inline int cr8_write_faults(uint64_t val) { return (val >> 4) != 0; }

/* vmm/pmc.c. RDPMC's ECX against CPUID leaf 0xA (SDM Vol. 2B RDPMC, Vol. 3B 20.2): bit 30 selects
 * the fixed counters; the index must be below the number of counters of that kind, every other bit
 * 0. True when RDPMC raises #GP(0). */
int pmc_index_faults(uint32_t ecx, uint32_t cpuid_a_eax, uint32_t cpuid_a_edx);

/* vmm/tlb.c. INVPCID of type with descriptor {lo: PCID in 11:0, bits 63:12 reserved; hi: linear
 * address} (SDM Vol. 2A INVPCID): true when it raises #GP(0). */
int invpcid_faults(uint64_t type, uint64_t lo, uint64_t hi, int pcide);

/* vmm/desc.c. The bytes SGDT/SIDT store and LGDT/LIDT read: 10 in 64-bit mode, else 6. */
static inline unsigned desc_dtr_size(int mode64) { return mode64 ? 10 : 6; }
/* The base and limit LGDT/LIDT load from m (SDM Vol. 2A LGDT): 64-bit base in 64-bit mode (#GP(0)
 * when not canonical: returns 1), 32-bit with a 32-bit operand size, else 24-bit. */
int desc_dtr_load(const uint8_t *m, int mode64, int osize32, uint16_t *limit, uint64_t *base);
void desc_dtr_store(uint8_t *m, int mode64, uint16_t limit, uint64_t base);

/* A system descriptor for LLDT (ltr = 0) or LTR (ltr = 1): 8 bytes lo, and in IA-32e mode the
 * upper 8 bytes hi. Returns 0 with base, limit and VMCS access rights (busy for a TSS), or the
 * vector: VEC_GP for a wrong type or a bad upper half, VEC_NP when not present (both with the
 * selector as error code). */
int desc_system_load(uint64_t lo, uint64_t hi, int ia32e, int ltr, uint64_t *base, uint32_t *limit, uint32_t *ar);

/* The operand size of the instruction at bytes (len bytes): 2, 4 or 8, from the default size (CS.D
 * or 64-bit mode), 66H and REX.W prefixes. For SLDT/STR with a register operand, whose VM-exit
 * instruction information has no operand size. */
unsigned insn_operand_size(const uint8_t *bytes, unsigned len, int mode64, int cs_d);

#endif
