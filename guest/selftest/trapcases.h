/* The trap= class cases (trapcases.c), named in the case table in cases.c: what each class of
 * docs/trap-and-emulate.md must preserve. UEFI boot services, CPL 0, BSP. */
#ifndef SELFTEST_TRAPCASES_H
#define SELFTEST_TRAPCASES_H

#include "selftest.h"

void tc_hlt_wakes(struct result *r);
void tc_pause_keeps_registers(struct result *r);
void tc_mwait_completes(struct result *r);
void tc_mwait_reserved_ecx_gp(struct result *r);
void tc_monitor_ecx_gp(struct result *r);
void tc_rdtsc_monotonic(struct result *r);
void tc_rdtscp_aux(struct result *r);
void tc_rdpmc_valid(struct result *r);
void tc_rdpmc_invalid_gp(struct result *r);
void tc_cr3_reload(struct result *r);
void tc_cr8_roundtrip(struct result *r);
void tc_cr8_reserved_gp(struct result *r);
void tc_dr_roundtrip(struct result *r);
void tc_dr7_high_gp(struct result *r);
void tc_dr4_alias(struct result *r);
void tc_dr_gd_db(struct result *r);
void tc_dr_data_breakpoint_db(struct result *r);
void tc_desc_sgdt_loaded(struct result *r);
void tc_desc_sidt_loaded(struct result *r);
void tc_desc_lldt_sldt(struct result *r);
void tc_desc_str_widths(struct result *r);
void tc_desc_sldt_widths(struct result *r);
void tc_desc_sgdt_noncanonical_gp(struct result *r);
void tc_desc_sgdt_not_present_pf(struct result *r);
void tc_desc_sidt_not_present_pf(struct result *r);
void tc_desc_lgdt_noncanonical_base_gp(struct result *r);
void tc_invlpg_mapped(struct result *r);
void tc_invlpg_noncanonical_nop(struct result *r);
void tc_wbinvd_keeps_memory(struct result *r);
void tc_io_in_widths(struct result *r);
void tc_io_rep_insb(struct result *r);
void tc_io_rep_insb_down(struct result *r);
void tc_io_rep_outsb(struct result *r);
void tc_exceptions_pf_read(struct result *r);
void tc_exceptions_pf_write(struct result *r);
void tc_exceptions_pf_fetch(struct result *r);
void tc_exceptions_gp_selector(struct result *r);

#endif
