/* Wrappers for the instructions the selftest needs that arch/x86/cpu.h does not have (yet).
 * Any CPU, CPL 0. */
#ifndef SELFTEST_INSN_H
#define SELFTEST_INSN_H

#include <stdint.h>

#include "../../arch/x86/cpu.h" /* read_dr6, write_dr6 */

static inline void invd(void) { __asm__ volatile("invd" ::: "memory"); }

#endif
