/* keel.efi entry point: configuration, platform report, virtualization, next stage.
 * UEFI boot services, BSP. */
#include <efi.h>

#include "config.h"
#include "efi.h"
#include "relocate.h"

#include "../arch/x86/cpu.h"
#include "../drivers/uart.h"
#include "../lib/log.h"
#include "../lib/string.h"
#include "../mm/memmap.h"
#include "../vmm/caps.h"
#include "../vmm/platform.h"
#include "../vmm/vmm.h"

#define KEEL_CFG_PATH "\\EFI\\keel\\keel.cfg"
#define MAX_REGIONS 2048

static struct keel_config cfg;
static uint64_t t_entry;
static int relocate_failed;
static struct mem_region regions[MAX_REGIONS];
static int nregions;
static uint32_t bsp_apic_id;
static int console_ok = 1;

static uint32_t apic_id(void)
{
	struct cpuid_regs r;
	cpuid(1, 0, &r);
	return r.ebx >> 24;
}

/* The firmware console is not MP-safe nor usable from VMX root: BSP, boot code only. */
static int console_usable(void) { return console_ok && !vmm_in_root() && apic_id() == bsp_apic_id; }

static void console_output(const char *s, size_t n)
{
	if (console_usable())
		efi_console_write(s, n);
}

/*
 * log=serial,console where the firmware console already writes to COM1 (OVMF under QEMU and
 * Bochs): one output for both, so that each line reaches COM1 once. While the console is usable it
 * carries the line to the screen and COM1; elsewhere (VMX root, the APs, after the hand-off) keel
 * writes COM1 itself. Being one output, each piece of the ring is decided once, when it is written.
 */
static void console_serial_output(const char *s, size_t n)
{
	if (console_usable())
		efi_console_write(s, n);
	else
		uart_write(s, n);
}

/* Without waiting only where keel drives COM1 itself; console lines wait for a flush point. */
static size_t console_serial_try(const char *s, size_t n) { return console_usable() ? 0 : uart_try_write(s, n); }

static void config_report(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("%s", msg);
}

static void read_config(void)
{
	static char text[16 * 1024], opts[2048];

	config_defaults(&cfg);
	long n = efi_read_file(KEEL_CFG_PATH, text, sizeof(text));
	if (n >= 0) {
		log_info("keel: config: read %s (%ld bytes)", KEEL_CFG_PATH, n);
		config_parse_file(&cfg, text, (size_t)n, "keel.cfg", config_report, 0);
	} else if (n == -1) {
		log_info("keel: config: no %s; using defaults and load options", KEEL_CFG_PATH);
	} else if (n == -2) {
		log_warn("keel: config: %s is larger than %u bytes; ignored, using defaults", KEEL_CFG_PATH,
			 (unsigned)sizeof(text));
	}
	size_t on = efi_load_options(opts, sizeof(opts));
	if (on)
		config_parse_options(&cfg, opts, on, config_report, 0);
}

static void remove_outputs(void)
{
	log_remove_output(uart_write);
	log_remove_output(debugcon_write);
	log_remove_output(console_output);
	log_remove_output(console_serial_output);
}

static void setup_outputs(unsigned mask);

/* Removing an output hands it its queued lines first, so nothing logged so far is lost. */
static void apply_log_mask(void)
{
	remove_outputs();
	setup_outputs(cfg.log_mask);
}

static void report_memory(void)
{
	struct memmap_summary s;

	nregions = efi_memory_map(regions, MAX_REGIONS);
	if (nregions < 0) {
		nregions = 0;
		return;
	}
	unsigned problems = memmap_summarize(regions, (size_t)nregions, &s);
	log_info("keel: memory map: %u regions, %llu MiB usable, RAM top 0x%llx, address top 0x%llx", s.regions,
		 (unsigned long long)(s.usable_bytes >> 20), (unsigned long long)s.ram_top,
		 (unsigned long long)s.phys_top);
	log_info("keel: memory map: usable %u, reserved %u, runtime %u, acpi %u, nvs %u, mmio %u, other %u",
		 s.by_type[MEM_USABLE], s.by_type[MEM_RESERVED], s.by_type[MEM_RUNTIME], s.by_type[MEM_ACPI],
		 s.by_type[MEM_NVS], s.by_type[MEM_MMIO], s.by_type[MEM_UNUSABLE] + s.by_type[MEM_PERSISTENT]);
	if (problems)
		log_warn("keel: memory map: %u problems (empty %u, unaligned %u, wrapped %u, overlapping %u, "
			 "unsorted %u, bad type %u)",
			 problems, s.empty, s.unaligned, s.wrapped, s.overlaps, s.unsorted, s.bad_type);
}

static const char *virtualize(const struct vmx_caps *caps, unsigned ncpus, int shadow)
{
	struct vmm_platform p = {
		.caps = caps,
		.t_entry = t_entry,
		.pool_pages = vmm_pool_pages(ncpus, shadow),
		.image_base = relocate_base(),
		.image_size = relocate_size(),
		.regions = regions,
		.nregions = (size_t)nregions,
		.ncpus = ncpus,
		.run_on_aps = efi_run_on_aps,
		.check = cfg.check,
		.break_mask = (cfg.break_mask & CONFIG_BREAK_LAUNCH ? VMM_BREAK_LAUNCH : 0) |
			      (cfg.break_mask & CONFIG_BREAK_EXIT ? VMM_BREAK_EXIT : 0),
		.stats_interval = cfg.stats_interval,
		.corrupt_guest_tr = cfg.debug_corrupt == CONFIG_CORRUPT_GUEST_TR,
		.trap_mask = cfg.trap_mask,
		.shadow = shadow,
	};
	p.pool_base = efi_alloc_pages(p.pool_pages);
	if (!p.pool_base)
		return "the firmware could not give keel its memory pool";
	/* Re-read the map so the EPT sees the layout after keel's own allocation. */
	int n = efi_memory_map(regions, MAX_REGIONS);
	if (n > 0)
		p.nregions = (size_t)(nregions = n);
	return vmm_start(&p);
}

static void halt_forever(const char *why)
{
	log_err("keel: on_error=halt: stopping here (%s)", why);
	log_flush();
	for (;;) {
		cli();
		hlt();
	}
}


/* What keel's copy in runtime memory hands back to the loader image for the hand-off. */
struct handoff {
	char next[CONFIG_PATH_MAX];
	char next_args[CONFIG_ARGS_MAX];
	unsigned log_mask;
	enum config_on_error on_error;
	int virtualized;
};

/* -1 not probed yet, else whether the firmware console writes to COM1 too. */
static int console_mirrors_com1 = -1;
static int uart_ready = -1;

static void setup_outputs(unsigned mask)
{
	int serial = 0;

	/* Probed once per copy of keel: re-programming a transmitting UART can garble a byte. */
	if ((mask & CONFIG_LOG_SERIAL) && uart_ready < 0)
		uart_ready = uart_init(UART_COM1) == 0;
	serial = (mask & CONFIG_LOG_SERIAL) && uart_ready > 0;
	if (serial && (mask & CONFIG_LOG_CONSOLE) && console_mirrors_com1 < 0)
		console_mirrors_com1 = efi_console_mirrors_com1();
	/* Slow devices are buffered (lib/log.c): keel's timing then measures keel, not 115200 baud. */
	if (serial && (mask & CONFIG_LOG_CONSOLE) && console_mirrors_com1 > 0) {
		log_add_buffered_output(console_serial_try, console_serial_output);
	} else {
		if (serial)
			log_add_buffered_output(uart_try_write, uart_write);
		if (mask & CONFIG_LOG_CONSOLE)
			log_add_buffered_output(0, console_output);
	}
	if (mask & CONFIG_LOG_E9)
		log_add_output(debugcon_write);
}

/* Runs in the copy of keel that lives in runtime-services memory (boot/relocate.c). */
#ifdef KEEL_DEBUG
#define KEEL_BUILD_KIND " (debug build)"
#else
#define KEEL_BUILD_KIND ""
#endif

static uint64_t keel_main(void *handoff, void *unused)
{
	struct handoff *h = handoff;
	char mask_name[64];
	char trap_name[CONFIG_TRAP_NAME_MAX];
	struct vmx_caps caps;
	struct platform_facts platform;

	(void)unused;
	setup_outputs(CONFIG_LOG_ALL);
	log_info("keel: keel %s%s starting, image base 0x%llx, size %llu KiB%s", KEEL_VERSION, KEEL_BUILD_KIND,
		 (unsigned long long)relocate_base(), (unsigned long long)(relocate_size() >> 10),
		 relocate_is_runtime() ? "" : " (loader memory)");
	if (relocate_failed)
		log_err("keel: could not move keel into runtime-services memory (error %d)", relocate_failed);

	read_config();
	apply_log_mask();
	if (console_mirrors_com1 > 0 && (cfg.log_mask & CONFIG_LOG_SERIAL) && (cfg.log_mask & CONFIG_LOG_CONSOLE))
		log_info("keel: log: the firmware console writes to COM1 too: keel's serial lines go through it "
			 "while it is usable, and straight to COM1 elsewhere");
	log_info("keel: config: next=%s next_args=%s log=%s on_error=%s check=%s virtualize=%s break=%s%s "
		 "stats_interval=%u trap=%s mmu=%s",
		 cfg.next[0] ? cfg.next : "(none)", cfg.next_args[0] ? cfg.next_args : "(none)",
		 config_log_mask_name(cfg.log_mask, mask_name, sizeof(mask_name)),
		 cfg.on_error == ON_ERROR_HALT ? "halt" : "continue", cfg.check ? "on" : "off",
		 cfg.virtualize ? "on" : "off", cfg.break_mask & CONFIG_BREAK_LAUNCH ? "launch" : "",
		 cfg.break_mask == (CONFIG_BREAK_LAUNCH | CONFIG_BREAK_EXIT) ? ",exit"
		 : cfg.break_mask == CONFIG_BREAK_EXIT			    ? "exit"
		 : cfg.break_mask					    ? ""
									    : "none",
		 cfg.stats_interval, config_trap_name(cfg.trap_mask, trap_name, sizeof(trap_name)),
		 config_mmu_name(cfg.mmu));


	report_memory();
	unsigned total, enabled;
	if (efi_cpu_count(&total, &enabled))
		log_warn("keel: MP services protocol missing: assuming one CPU");
	log_info("keel: logical CPUs: %u (%u enabled)", total, enabled);

	vmx_caps_probe(&caps);
	vmx_caps_report(&caps);
	platform_probe(&platform, &caps);
	platform_report(&platform);

	/* mmu=auto: EPT where the CPU has all EPT mode needs, else shadow paging, said on one line. */
	const char *no_ept = vmx_caps_ept_unavailable_reason(&caps);
	int shadow = cfg.mmu == CONFIG_MMU_SHADOW || (cfg.mmu == CONFIG_MMU_AUTO && no_ept);
	const char *why = shadow ? vmx_caps_shadow_unavailable_reason(&caps) : vmx_caps_unavailable_reason(&caps);
	if (!why)
		log_info("keel: mmu: %s (mmu=%s%s%s)", shadow ? "shadow paging" : "EPT", config_mmu_name(cfg.mmu),
			 cfg.mmu == CONFIG_MMU_AUTO && no_ept ? ", since " : "",
			 cfg.mmu == CONFIG_MMU_AUTO && no_ept ? no_ept : "");
	if (!why && !relocate_is_runtime())
		why = "keel is not in memory that outlives ExitBootServices";
	if (!why && !cfg.virtualize)
		why = "virtualize=off in the configuration";
	if (!why)
		why = virtualize(&caps, enabled, shadow);
	if (why) {
		log_info("keel: VT-x unavailable: %s; continuing without virtualization", why);
		if (cfg.on_error == ON_ERROR_HALT)
			halt_forever(why);
	}
	memcpy(h->next, cfg.next, sizeof(h->next));
	memcpy(h->next_args, cfg.next_args, sizeof(h->next_args));
	h->log_mask = cfg.log_mask;
	h->on_error = cfg.on_error;
	h->virtualized = !why;
	/* From now on this copy of keel logs only from VMX root: no buffering there. */
	log_flush();
	log_set_buffering(0);
	return 0;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);

/*
 * Entry point, in the loader's image. keel proper runs in its copy (relocate_and_call); once that
 * has virtualized the machine, keel's memory is sealed from the guest, so the hand-off below runs
 * from this image, which the OS may reclaim afterwards: by then nothing needs it.
 */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	struct handoff h;
	uint64_t ret;

	t_entry = rdtsc();
	bsp_apic_id = apic_id();
	if (efi_init(image, systab))
		return EFI_LOAD_ERROR;
	memset(&h, 0, sizeof(h));
	relocate_failed = relocate_and_call(keel_main, &h, 0, &ret);
	if (relocate_failed) {
		keel_main(&h, 0);
		log_flush();
		remove_outputs();
	}

	/* From here on: the loader image's own copy of every static. Once virtualized, port 0xE9 is
	 * keel's trapped debug port: every byte written from here would be a VM exit, so the loader's
	 * few remaining lines go to the serial port and the console only. */
	setup_outputs(h.virtualized ? h.log_mask & ~CONFIG_LOG_E9 : h.log_mask);
	/* The other CPUs flush their EPT caches themselves at their next exit (vmm/exit.c). */
	if (h.virtualized && vmm_seal_this_cpu())
		log_err("keel: sealing keel's memory failed on the BSP");
	log_set_buffering(0);
	if (h.next[0]) {
		if (efi_start_image(h.next, h.next_args) && h.on_error == ON_ERROR_HALT)
			halt_forever("the next stage could not be started");
	} else {
		log_info("keel: no next= configured; returning to the firmware boot manager");
	}
	console_ok = 0;
	return EFI_SUCCESS;
}
