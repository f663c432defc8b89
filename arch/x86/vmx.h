/* VMX control bits, exit reasons and VM-instruction errors (Intel SDM Vol. 3C chapters 24-27,
 * Vol. 3D appendix C). Pure definitions. */
#ifndef KEEL_ARCH_X86_VMX_H
#define KEEL_ARCH_X86_VMX_H

#include "cpu.h"

/* Pin-based VM-execution controls (SDM 24.6.1) */
#define PIN_EXTINT_EXITING BIT(0)
#define PIN_NMI_EXITING BIT(3)
#define PIN_VIRTUAL_NMIS BIT(5)
#define PIN_PREEMPTION_TIMER BIT(6)
#define PIN_POSTED_INTERRUPTS BIT(7)

/* Primary processor-based controls (SDM 24.6.2, table 24-6) */
#define PROC_INTR_WINDOW_EXITING BIT(2)
#define PROC_TSC_OFFSETTING BIT(3)
#define PROC_HLT_EXITING BIT(7)
#define PROC_INVLPG_EXITING BIT(9)
#define PROC_MWAIT_EXITING BIT(10)
#define PROC_RDPMC_EXITING BIT(11)
#define PROC_RDTSC_EXITING BIT(12)
#define PROC_CR3_LOAD_EXITING BIT(15)
#define PROC_CR3_STORE_EXITING BIT(16)
#define PROC_CR8_LOAD_EXITING BIT(19)
#define PROC_CR8_STORE_EXITING BIT(20)
#define PROC_TPR_SHADOW BIT(21)
#define PROC_NMI_WINDOW_EXITING BIT(22)
#define PROC_MOV_DR_EXITING BIT(23)
#define PROC_UNCOND_IO_EXITING BIT(24)
#define PROC_USE_IO_BITMAPS BIT(25)
#define PROC_MONITOR_TRAP_FLAG BIT(27)
#define PROC_USE_MSR_BITMAPS BIT(28)
#define PROC_MONITOR_EXITING BIT(29)
#define PROC_PAUSE_EXITING BIT(30)
#define PROC_SECONDARY_CONTROLS BIT(31)

/* Secondary processor-based controls (SDM 24.6.2, table 24-7) */
#define PROC2_VIRT_APIC_ACCESSES BIT(0)
#define PROC2_ENABLE_EPT BIT(1)
#define PROC2_DESC_TABLE_EXITING BIT(2)
#define PROC2_ENABLE_RDTSCP BIT(3)
#define PROC2_VIRT_X2APIC BIT(4)
#define PROC2_ENABLE_VPID BIT(5)
#define PROC2_WBINVD_EXITING BIT(6)
#define PROC2_UNRESTRICTED_GUEST BIT(7)
#define PROC2_APIC_REG_VIRT BIT(8)
#define PROC2_VIRT_INTR_DELIVERY BIT(9)
#define PROC2_PAUSE_LOOP_EXITING BIT(10)
#define PROC2_RDRAND_EXITING BIT(11)
#define PROC2_ENABLE_INVPCID BIT(12)
#define PROC2_ENABLE_VMFUNC BIT(13)
#define PROC2_VMCS_SHADOWING BIT(14)
#define PROC2_ENCLS_EXITING BIT(15)
#define PROC2_RDSEED_EXITING BIT(16)
#define PROC2_ENABLE_PML BIT(17)
#define PROC2_EPT_VE BIT(18)
#define PROC2_CONCEAL_FROM_PT BIT(19)
#define PROC2_ENABLE_XSAVES BIT(20)
#define PROC2_MODE_BASED_EPT_EXEC BIT(22)
#define PROC2_TSC_SCALING BIT(25)
#define PROC2_ENABLE_USER_WAIT_PAUSE BIT(26)
#define PROC2_ENABLE_PCONFIG BIT(27)
#define PROC2_ENCLV_EXITING BIT(28)

/* VM-exit controls (SDM 24.7.1) */
#define EXIT_SAVE_DEBUG_CONTROLS BIT(2)
#define EXIT_HOST_ADDR_SPACE_SIZE BIT(9)
#define EXIT_LOAD_PERF_GLOBAL_CTRL BIT(12)
#define EXIT_ACK_INTR_ON_EXIT BIT(15)
#define EXIT_SAVE_PAT BIT(18)
#define EXIT_LOAD_PAT BIT(19)
#define EXIT_SAVE_EFER BIT(20)
#define EXIT_LOAD_EFER BIT(21)
#define EXIT_SAVE_PREEMPTION_TIMER BIT(22)

/* VM-entry controls (SDM 24.8.1) */
#define ENTRY_LOAD_DEBUG_CONTROLS BIT(2)
#define ENTRY_IA32E_MODE_GUEST BIT(9)
#define ENTRY_SMM BIT(10)
#define ENTRY_DEACT_DUAL_MONITOR BIT(11)
#define ENTRY_LOAD_PERF_GLOBAL_CTRL BIT(13)
#define ENTRY_LOAD_PAT BIT(14)
#define ENTRY_LOAD_EFER BIT(15)

/* Basic exit reasons (SDM Vol. 3D appendix C) */
enum vmx_exit_reason {
	EXIT_REASON_EXCEPTION_NMI = 0,
	EXIT_REASON_EXTERNAL_INTERRUPT = 1,
	EXIT_REASON_TRIPLE_FAULT = 2,
	EXIT_REASON_INIT = 3,
	EXIT_REASON_SIPI = 4,
	EXIT_REASON_IO_SMI = 5,
	EXIT_REASON_OTHER_SMI = 6,
	EXIT_REASON_INTERRUPT_WINDOW = 7,
	EXIT_REASON_NMI_WINDOW = 8,
	EXIT_REASON_TASK_SWITCH = 9,
	EXIT_REASON_CPUID = 10,
	EXIT_REASON_GETSEC = 11,
	EXIT_REASON_HLT = 12,
	EXIT_REASON_INVD = 13,
	EXIT_REASON_INVLPG = 14,
	EXIT_REASON_RDPMC = 15,
	EXIT_REASON_RDTSC = 16,
	EXIT_REASON_RSM = 17,
	EXIT_REASON_VMCALL = 18,
	EXIT_REASON_VMCLEAR = 19,
	EXIT_REASON_VMLAUNCH = 20,
	EXIT_REASON_VMPTRLD = 21,
	EXIT_REASON_VMPTRST = 22,
	EXIT_REASON_VMREAD = 23,
	EXIT_REASON_VMRESUME = 24,
	EXIT_REASON_VMWRITE = 25,
	EXIT_REASON_VMXOFF = 26,
	EXIT_REASON_VMXON = 27,
	EXIT_REASON_CR_ACCESS = 28,
	EXIT_REASON_DR_ACCESS = 29,
	EXIT_REASON_IO_INSTRUCTION = 30,
	EXIT_REASON_MSR_READ = 31,
	EXIT_REASON_MSR_WRITE = 32,
	EXIT_REASON_INVALID_GUEST_STATE = 33,
	EXIT_REASON_MSR_LOADING = 34,
	EXIT_REASON_MWAIT = 36,
	EXIT_REASON_MONITOR_TRAP_FLAG = 37,
	EXIT_REASON_MONITOR = 39,
	EXIT_REASON_PAUSE = 40,
	EXIT_REASON_MCE_DURING_ENTRY = 41,
	EXIT_REASON_TPR_BELOW_THRESHOLD = 43,
	EXIT_REASON_APIC_ACCESS = 44,
	EXIT_REASON_VIRTUALIZED_EOI = 45,
	EXIT_REASON_GDTR_IDTR = 46,
	EXIT_REASON_LDTR_TR = 47,
	EXIT_REASON_EPT_VIOLATION = 48,
	EXIT_REASON_EPT_MISCONFIG = 49,
	EXIT_REASON_INVEPT = 50,
	EXIT_REASON_RDTSCP = 51,
	EXIT_REASON_PREEMPTION_TIMER = 52,
	EXIT_REASON_INVVPID = 53,
	EXIT_REASON_WBINVD = 54,
	EXIT_REASON_XSETBV = 55,
	EXIT_REASON_APIC_WRITE = 56,
	EXIT_REASON_RDRAND = 57,
	EXIT_REASON_INVPCID = 58,
	EXIT_REASON_VMFUNC = 59,
	EXIT_REASON_ENCLS = 60,
	EXIT_REASON_RDSEED = 61,
	EXIT_REASON_PML_FULL = 62,
	EXIT_REASON_XSAVES = 63,
	EXIT_REASON_XRSTORS = 64,
	EXIT_REASON_COUNT = 65
};

#define EXIT_REASON_BASIC(r) ((r) & 0xFFFF)
#define EXIT_REASON_FAILED_ENTRY BIT(31)

/* Exit qualification for control-register accesses (SDM table 27-3) */
#define CRQ_CR(q) ((unsigned)(q) & 0xF)
#define CRQ_TYPE(q) ((unsigned)((q) >> 4) & 3)
#define   CRQ_TYPE_MOV_TO 0
#define   CRQ_TYPE_MOV_FROM 1
#define   CRQ_TYPE_CLTS 2
#define   CRQ_TYPE_LMSW 3
#define CRQ_GPR(q) ((unsigned)((q) >> 8) & 0xF)
#define CRQ_LMSW_SRC(q) ((uint16_t)((q) >> 16))

/* Exit qualification for I/O instructions (SDM table 27-5) */
#define IOQ_SIZE(q) (((unsigned)(q) & 7) + 1)
#define IOQ_IN(q) (((q) >> 3) & 1)
#define IOQ_STRING(q) (((q) >> 4) & 1)
#define IOQ_REP(q) (((q) >> 5) & 1)
#define IOQ_PORT(q) ((uint16_t)((q) >> 16))

/* Exit qualification for task switches (SDM Vol. 3C 27.2.1 table 27-2) */
#define TSQ_SELECTOR(q) ((uint16_t)(q))
#define TSQ_SOURCE(q) ((unsigned)((q) >> 30) & 3)
#define   TSQ_SOURCE_CALL 0
#define   TSQ_SOURCE_IRET 1
#define   TSQ_SOURCE_JMP 2
#define   TSQ_SOURCE_TASK_GATE 3

/* Exit qualification for MOV DR (SDM Vol. 3C table 28-4) */
#define DRQ_DR(q) ((unsigned)(q) & 7)
#define DRQ_FROM_DR(q) (((q) >> 4) & 1) /* 1: MOV from DR (a read) */
#define DRQ_GPR(q) ((unsigned)((q) >> 8) & 0xF)

/* Exit qualification for debug exceptions (SDM Vol. 3C table 28-1): the DR6 bits the CPU would
 * have set */
#define DBQ_B0_3 0xFULL
#define DBQ_BD BIT(13)
#define DBQ_BS BIT(14)
#define DBQ_RTM BIT(16)

/*
 * VM-exit instruction information for instructions with a memory or register operand (SDM Vol. 3C
 * 28.2.5, tables 28-9 to 28-13). One layout for the fields they share:
 *   1:0 scaling   6:3 reg1 (LDTR/TR, register operand)   9:7 address size (0 16, 1 32, 2 64)
 *   10 register operand (LDTR/TR)   11 operand size 32 (GDTR/IDTR)   17:15 segment
 *   21:18 index   22 index invalid   26:23 base   27 base invalid
 *   29:28 identity (GDTR/IDTR: SGDT SIDT LGDT LIDT; LDTR/TR: SLDT STR LLDT LTR)
 *   31:28 reg2 (INVEPT, INVPCID, INVVPID: the type register)
 */
#define II_SCALE(i) ((unsigned)(i) & 3)
#define II_REG1(i) (((unsigned)(i) >> 3) & 0xF)
#define II_ASIZE(i) (((unsigned)(i) >> 7) & 7)
#define II_REG_OPERAND(i) (((unsigned)(i) >> 10) & 1)
#define II_OSIZE32(i) (((unsigned)(i) >> 11) & 1)
#define II_SEG(i) (((unsigned)(i) >> 15) & 7)
#define II_INDEX(i) (((unsigned)(i) >> 18) & 0xF)
#define II_INDEX_INVALID(i) (((unsigned)(i) >> 22) & 1)
#define II_BASE(i) (((unsigned)(i) >> 23) & 0xF)
#define II_BASE_INVALID(i) (((unsigned)(i) >> 27) & 1)
#define II_IDENTITY(i) (((unsigned)(i) >> 28) & 3)
#define II_REG2(i) (((unsigned)(i) >> 28) & 0xF)
#define SEG_ES 0
#define SEG_CS 1
#define SEG_SS 2
#define SEG_DS 3
#define SEG_FS 4
#define SEG_GS 5

/* Exit qualification for EPT violations (SDM table 27-7) */
#define EPTQ_READ BIT(0)
#define EPTQ_WRITE BIT(1)
#define EPTQ_FETCH BIT(2)
#define EPTQ_GLA_VALID BIT(7)

/* VM-entry interruption-information and IDT-vectoring information (SDM 24.8.3, 24.9.3) */
#define INTR_INFO_VECTOR(v) ((v) & 0xFF)
#define INTR_INFO_TYPE(v) (((v) >> 8) & 7)
#define INTR_INFO_DELIVER_CODE BIT(11)
#define INTR_INFO_NMI_UNBLOCK_IRET BIT(12)
#define INTR_INFO_VALID BIT(31)
#define INTR_TYPE_EXT_INTR 0
#define INTR_TYPE_NMI 2
#define INTR_TYPE_HW_EXCEPTION 3
#define INTR_TYPE_SW_INTR 4
#define INTR_TYPE_PRIV_SW_EXCEPTION 5
#define INTR_TYPE_SW_EXCEPTION 6
#define INTR_TYPE_OTHER 7

/* Guest interruptibility state (SDM 24.4.2) */
#define INTERRUPTIBILITY_STI BIT(0)
#define INTERRUPTIBILITY_MOV_SS BIT(1)
#define INTERRUPTIBILITY_SMI BIT(2)
#define INTERRUPTIBILITY_NMI BIT(3)

/* Guest activity state */
#define ACTIVITY_ACTIVE 0
#define ACTIVITY_HLT 1
#define ACTIVITY_SHUTDOWN 2
#define ACTIVITY_WAIT_SIPI 3

/* Segment access rights in the VMCS format (SDM 24.4.1 table 24-2) */
#define AR_TYPE(ar) ((ar) & 0xF)
#define AR_S BIT(4)
#define AR_DPL(ar) (((ar) >> 5) & 3)
#define AR_P BIT(7)
#define AR_AVL BIT(12)
#define AR_L BIT(13)
#define AR_DB BIT(14)
#define AR_G BIT(15)
#define AR_UNUSABLE BIT(16)
#define AR_TYPE_ACCESSED 1
#define AR_TYPE_BUSY_TSS64 11

/* Exception vectors */
#define VEC_DE 0
#define VEC_DB 1
#define VEC_NMI 2
#define VEC_BP 3
#define VEC_OF 4
#define VEC_UD 6
#define VEC_NM 7
#define VEC_DF 8
#define VEC_TS 10
#define VEC_NP 11
#define VEC_SS 12
#define VEC_GP 13
#define VEC_PF 14
#define VEC_AC 17
#define VEC_MC 18

/* INVEPT / INVVPID types */
#define INVEPT_SINGLE_CONTEXT 1
#define INVEPT_ALL_CONTEXT 2
#define INVVPID_INDIVIDUAL_ADDR 0
#define INVVPID_SINGLE_CONTEXT 1
#define INVVPID_ALL_CONTEXT 2

/* VM-instruction error numbers (SDM Vol. 3C 30.4), decoded by vmx_instruction_error_name(). */
#define VMX_ERROR_COUNT 29

#endif
