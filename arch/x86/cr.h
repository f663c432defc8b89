/* Control-register, RFLAGS and CPUID feature bits (Intel SDM Vol. 3A 2.5, Vol. 2A CPUID).
 * Pure definitions. */
#ifndef KEEL_ARCH_X86_CR_H
#define KEEL_ARCH_X86_CR_H

#include "cpu.h"

#define CR0_PE BIT(0)
#define CR0_MP BIT(1)
#define CR0_EM BIT(2)
#define CR0_TS BIT(3)
#define CR0_ET BIT(4)
#define CR0_NE BIT(5)
#define CR0_WP BIT(16)
#define CR0_AM BIT(18)
#define CR0_NW BIT(29)
#define CR0_CD BIT(30)
#define CR0_PG BIT(31)

#define CR4_VME BIT(0)
#define CR4_PVI BIT(1)
#define CR4_TSD BIT(2)
#define CR4_DE BIT(3)
#define CR4_PSE BIT(4)
#define CR4_PAE BIT(5)
#define CR4_MCE BIT(6)
#define CR4_PGE BIT(7)
#define CR4_PCE BIT(8)
#define CR4_OSFXSR BIT(9)
#define CR4_OSXMMEXCPT BIT(10)
#define CR4_UMIP BIT(11)
#define CR4_LA57 BIT(12)
#define CR4_VMXE BIT(13)
#define CR4_SMXE BIT(14)
#define CR4_FSGSBASE BIT(16)
#define CR4_PCIDE BIT(17)
#define CR4_OSXSAVE BIT(18)
#define CR4_SMEP BIT(20)
#define CR4_SMAP BIT(21)
#define CR4_PKE BIT(22)
#define CR4_CET BIT(23)
#define CR4_PKS BIT(24)
#define CR4_UINTR BIT(25)

#define RFLAGS_CF BIT(0)
#define RFLAGS_FIXED1 BIT(1)
#define RFLAGS_TF BIT(8)
#define RFLAGS_IF BIT(9)
#define RFLAGS_DF BIT(10)
#define RFLAGS_IOPL (3ULL << 12)
#define RFLAGS_NT BIT(14)
#define RFLAGS_VM BIT(17)
#define RFLAGS_RF BIT(16)
#define RFLAGS_AC BIT(18)
/* Bits 63:22, 15, 5 and 3 are reserved (VM entry demands them 0, SDM Vol. 3C 26.3.1.4). */
#define RFLAGS_DEFINED 0x3F7FD7ULL

/* Debug registers (SDM Vol. 3A 17.2.3, 17.2.4) */
#define DR6_BT BIT(15)
#define DR7_LOCAL_ENABLES 0x55ULL /* L0-L3: cleared by every hardware task switch */

/* CPUID.1 */
#define CPUID1_ECX_VMX BIT(5)
#define CPUID1_ECX_SMX BIT(6)
#define CPUID1_ECX_XSAVE BIT(26)
#define CPUID1_ECX_OSXSAVE BIT(27)
#define CPUID1_ECX_HYPERVISOR BIT(31)
/* CPUID.80000001 */
#define CPUID1_ECX_PCID BIT(17)
/* CPUID.(EAX=7,ECX=0) */
#define CPUID7_EBX_FSGSBASE BIT(0)
#define CPUID7_EBX_SMEP BIT(7)
#define CPUID7_EBX_INVPCID BIT(10)
#define CPUID7_EBX_SMAP BIT(20)
#define CPUID7_ECX_UMIP BIT(2)
#define CPUID7_ECX_PKU BIT(3)
#define CPUID7_ECX_OSPKE BIT(4)
#define CPUID7_ECX_WAITPKG BIT(5)
#define CPUID7_ECX_CET_SS BIT(7)
#define CPUID7_ECX_LA57 BIT(16)
#define CPUID7_ECX_RDPID BIT(22)
#define CPUID7_ECX_PKS BIT(31)
#define CPUID7_EDX_UINTR BIT(5)
#define CPUID7_EDX_PCONFIG BIT(18)
#define CPUID7_EDX_CET_IBT BIT(20)
/* CPUID.(EAX=0DH,ECX=1) */
#define CPUIDD1_EAX_XSAVES BIT(3)
#define CPUID81_EDX_RDTSCP BIT(27)
#define CPUID81_EDX_PAGE1GB BIT(26)
#define CPUID81_EDX_LM BIT(29)

#endif
