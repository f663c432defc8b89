/* keel's configuration: keys, defaults, and the parser for keel.cfg and the image's load options.
 * Pure logic (no firmware calls), so the host unit tests compile it as it is. */
#ifndef KEEL_BOOT_CONFIG_H
#define KEEL_BOOT_CONFIG_H

#include <stddef.h>

#include "../vmm/trap.h"

#define CONFIG_PATH_MAX 256 /* including the terminating NUL */
#define CONFIG_ARGS_MAX 512
#define CONFIG_LINE_MAX 1024

#define CONFIG_LOG_SERIAL 0x1u
#define CONFIG_LOG_E9 0x2u
#define CONFIG_LOG_CONSOLE 0x4u
#define CONFIG_LOG_ALL (CONFIG_LOG_SERIAL | CONFIG_LOG_E9 | CONFIG_LOG_CONSOLE)

#define CONFIG_BREAK_LAUNCH 0x1u /* just before the first VMLAUNCH on each CPU */
#define CONFIG_BREAK_EXIT 0x2u   /* on entry to the VM-exit handler */
#define CONFIG_STATS_INTERVAL_MAX 3600
#define CONFIG_CORRUPT_NONE 0
#define CONFIG_CORRUPT_GUEST_TR 1 /* guest TR made unusable: the entry fails its guest-state checks */

enum config_on_error { ON_ERROR_CONTINUE, ON_ERROR_HALT };

/* mmu=: how guest memory is virtualized (docs/memory-virtualization.md). auto: EPT where the CPU
 * offers EPT with unrestricted guest, else shadow paging. */
enum config_mmu { CONFIG_MMU_AUTO, CONFIG_MMU_EPT, CONFIG_MMU_SHADOW };

struct keel_config {
	char next[CONFIG_PATH_MAX];      /* "" = return to the firmware's boot manager */
	char next_args[CONFIG_ARGS_MAX]; /* load options for next, ASCII here */
	unsigned log_mask;               /* CONFIG_LOG_* */
	enum config_on_error on_error;
	int check;                       /* run the VM-entry checker before launch */
	int virtualize;                  /* 0: report only, never VMXON */
	unsigned break_mask;             /* CONFIG_BREAK_*: Bochs magic breakpoints (xchg bx, bx) */
	unsigned stats_interval;         /* seconds between exit-statistics tables; 0 = off */
	int debug_corrupt;               /* CONFIG_CORRUPT_*: break one VMCS field before launch (tests) */
	unsigned trap_mask;              /* TRAP_* classes keel intercepts beyond its minimal set */
	enum config_mmu mmu;
};

/* Receives one finished diagnostic line (no trailing newline). */
typedef void (*config_report_fn)(void *ctx, const char *msg);

void config_defaults(struct keel_config *c);

/*
 * keel.cfg: "key=value" per line, '#' starts a comment line, blank lines and surrounding blanks
 * ignored, CR LF or LF line ends. A value runs to the end of its line. `origin` names the source in
 * messages. Every rejected line is reported once and leaves that key's previous value. Returns the
 * number of problems reported.
 */
int config_parse_file(struct keel_config *c, const char *text, size_t len, const char *origin,
		      config_report_fn report, void *ctx);

/*
 * Load options: whitespace-separated key=value words; a value may be double-quoted to hold blanks
 * (next_args="console=ttyS0 initrd=\x"). Words without '=' (the image's own name, as the UEFI shell
 * passes it) are skipped. Same reporting and return value as config_parse_file.
 */
int config_parse_options(struct keel_config *c, const char *text, size_t len, config_report_fn report,
			 void *ctx);

/* The trap classes for messages, and room for all of their names. */
#define CONFIG_TRAP_LIST                                                                                  \
	"hlt, pause, mwait, monitor, rdtsc, rdpmc, cr3, cr8, dr, desc, invlpg, invpcid, wbinvd, io, msr, "  \
	"exceptions"
#define CONFIG_TRAP_NAME_MAX 160
/* "minimal", "all" or "hlt,rdtsc,..." for a trap mask, for the config line. */
const char *config_trap_name(unsigned mask, char *buf, size_t size);

/* "auto", "ept" or "shadow", for the config line. */
const char *config_mmu_name(enum config_mmu m);

/* "serial,e9,console" style text for a log mask, for the banner. */
const char *config_log_mask_name(unsigned mask, char *buf, size_t size);

#endif
