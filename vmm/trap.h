/* The trap-and-emulate classes of `trap=` (docs/trap-and-emulate.md): one bit per class of guest
 * operation keel can be told to intercept. Pure definitions, shared by boot/config.c and vmm/. */
#ifndef KEEL_VMM_TRAP_H
#define KEEL_VMM_TRAP_H

/* X(NAME, "name"): the order is the order of the config line and of the documentation. */
#define TRAP_CLASSES(X)                                                                            \
	X(HLT, "hlt")                                                                              \
	X(PAUSE, "pause")                                                                          \
	X(MWAIT, "mwait")                                                                          \
	X(MONITOR, "monitor")                                                                      \
	X(RDTSC, "rdtsc")                                                                          \
	X(RDPMC, "rdpmc")                                                                          \
	X(CR3, "cr3")                                                                              \
	X(CR8, "cr8")                                                                              \
	X(DR, "dr")                                                                                \
	X(DESC, "desc")                                                                            \
	X(INVLPG, "invlpg")                                                                        \
	X(INVPCID, "invpcid")                                                                      \
	X(WBINVD, "wbinvd")                                                                        \
	X(IO, "io")                                                                                \
	X(MSR, "msr")                                                                              \
	X(EXCEPTIONS, "exceptions")

#define TRAP_BIT_ENUM(n, s) TRAP_BIT_##n,
enum trap_bit { TRAP_CLASSES(TRAP_BIT_ENUM) TRAP_CLASS_COUNT };
#undef TRAP_BIT_ENUM

#define TRAP_MASK_ENUM(n, s) TRAP_##n = 1u << TRAP_BIT_##n,
enum trap_mask { TRAP_CLASSES(TRAP_MASK_ENUM) };
#undef TRAP_MASK_ENUM

#define TRAP_MINIMAL 0u /* what keel traps anyway: CPUID, VMX, a few MSRs, CR0/CR4 bits, ... */
#define TRAP_ALL ((1u << TRAP_CLASS_COUNT) - 1)

/* The class's name in trap=, or NULL beyond the last class. */
static inline const char *trap_class_name(unsigned bit)
{
#define TRAP_NAME(n, s) s,
	static const char *const names[TRAP_CLASS_COUNT] = { TRAP_CLASSES(TRAP_NAME) };
#undef TRAP_NAME
	return bit < TRAP_CLASS_COUNT ? names[bit] : 0;
}

#endif
