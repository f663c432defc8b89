# Keel: one plain Makefile. Out-of-tree objects in build/, quiet by default, V=1 for commands.
# `make help` lists the targets.

KEEL_VERSION := 0.1.0
KEEL_VERSION_CODE := $(shell echo $(KEEL_VERSION) | awk -F. '{ printf "0x%02x%02x%02x", $$1, $$2, $$3 }')
BUILD := build
V ?= 0
ifeq ($(V),0)
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
else
Q :=
say =
endif

CC := gcc
LD := ld
NASM := nasm
OBJCOPY := objcopy

EFI_INC := /usr/include/efi
EFI_LIB := /usr/lib
EFI_CRT0 := $(EFI_LIB)/crt0-efi-x86_64.o
LIBGCC := $(shell $(CC) -print-libgcc-file-name)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -fno-stack-protector -fno-stack-check -fpic \
	-fshort-wchar -mno-red-zone -mgeneral-regs-only -maccumulate-outgoing-args \
	-fno-tree-loop-distribute-patterns -fno-strict-aliasing -fno-asynchronous-unwind-tables \
	-DKEEL_VERSION='"$(KEEL_VERSION)"' -DKEEL_VERSION_CODE=$(KEEL_VERSION_CODE) -MMD -MP
# DEBUG=1: a debug build of keel (KEEL_DEBUG: the VM-entry checker on by default, check=on). The
# flags are recorded in build/cflags, so switching rebuilds every object.
DEBUG ?= 0
ifneq ($(DEBUG),0)
CFLAGS += -DKEEL_DEBUG
endif
CFLAGS_STAMP := $(BUILD)/cflags
# Only boot/ and guest/ may see the firmware's headers.
EFI_CFLAGS := -DGNU_EFI_USE_MS_ABI -isystem $(EFI_INC) -isystem $(EFI_INC)/x86_64
LDFLAGS := -nostdlib -znocombreloc -shared -Bsymbolic -T linker.ld --no-undefined
PE_SECTIONS := -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela -j .reloc

# ---- keel.efi ----
# The shadow MMU (mm/shadow*.c, docs/memory-virtualization.md): one concept per file.
SHADOW_SRCS := mm/shadow.c mm/shadow_pool.c mm/shadow_inval.c mm/shadow_walk.c mm/shadow_fill.c
KEEL_BOOT := boot/main.c boot/efi.c boot/relocate.c
KEEL_C := boot/config.c \
	lib/string.c lib/fmt.c lib/log.c \
	drivers/uart.c \
	mm/memmap.c mm/pool.c mm/paging.c mm/mtrr.c mm/ept.c $(SHADOW_SRCS) \
	vmm/caps.c vmm/vmm.c vmm/vmx.c vmm/vmcs.c vmm/exit.c vmm/vcpu.c vmm/guest_mem.c vmm/events.c \
	vmm/cpuid.c vmm/msr.c vmm/cr.c vmm/io.c vmm/ept_fault.c vmm/insn.c vmm/emulate.c \
	vmm/hypercall.c vmm/sipi.c vmm/task.c vmm/host.c vmm/vmcheck.c vmm/platform.c \
	vmm/operand.c vmm/idle.c vmm/tsc.c vmm/pmc.c vmm/dr.c vmm/desc.c vmm/tlb.c vmm/cache.c vmm/exception.c \
	vmm/msr_guest.c vmm/shadow_exit.c vmm/guest_msrs.c
KEEL_ASM := arch/x86/vmx_entry.asm
KEEL_OBJS := $(addprefix $(BUILD)/,$(KEEL_BOOT:.c=.o) $(KEEL_C:.c=.o) $(KEEL_ASM:.asm=.o))

# ---- guest programs (UEFI applications run inside the virtualized machine) ----
GUEST_LIB := lib/string.c lib/fmt.c
GUESTS := selftest bench acpi
selftest_SRCS := guest/selftest/main.c guest/selftest/cases.c guest/selftest/fastpath.c guest/selftest/trapcases.c guest/common/efi_io.c guest/selftest/trap.c guest/selftest/ring3.c guest/selftest/x2apic.c
selftest_ASM := guest/selftest/stubs.asm guest/selftest/sipi_tramp.asm
bench_SRCS := guest/bench/main.c guest/bench/ops.c guest/common/efi_io.c
bench_ASM :=
acpi_SRCS := guest/acpi/main.c guest/acpi/tables.c guest/common/efi_io.c
acpi_ASM :=
GUEST_EFIS := $(addprefix $(BUILD)/guest/,$(addsuffix .efi,$(GUESTS)))

.PHONY: all keel guests clean check check-unit check-tools check-boot check-models check-long run run-kvm run-linux bench help deps deps-boot unit-bins \
	image debug fuzz fuzz-bin trace
.DEFAULT_GOAL := all

all: $(BUILD)/keel.efi $(GUEST_EFIS)
keel: $(BUILD)/keel.efi
guests: $(GUEST_EFIS)

$(BUILD)/boot/%.o: boot/%.c Makefile $(CFLAGS_STAMP)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(EFI_CFLAGS) -c $< -o $@

$(BUILD)/guest/%.o: guest/%.c Makefile $(CFLAGS_STAMP)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(EFI_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c Makefile $(CFLAGS_STAMP)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(CFLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(CFLAGS)' | cmp -s - $@ || echo '$(CFLAGS)' > $@

.PHONY: FORCE
FORCE:

$(BUILD)/%.o: %.asm Makefile
	$(call say,NASM,$<)
	@mkdir -p $(dir $@)
	$(Q)$(NASM) -f elf64 -g -MD $(@:.o=.d) -MP -o $@ $<

$(BUILD)/keel.so: $(KEEL_OBJS) linker.ld
	$(call say,LD,$@)
	$(Q)$(LD) $(LDFLAGS) -o $@ $(EFI_CRT0) $(KEEL_OBJS) $(EFI_LIB)/libgnuefi.a $(LIBGCC)

# An EFI application (boot managers start nothing else from Boot#### or removable media); keel moves
# itself into runtime-services memory at entry (boot/relocate.c).
$(BUILD)/keel.efi: $(BUILD)/keel.so
	$(call say,OBJCOPY,$@)
	$(Q)$(OBJCOPY) $(PE_SECTIONS) --target efi-app-x86_64 $< $@

define GUEST_RULES
$(1)_OBJS := $$(addprefix $(BUILD)/,$$($(1)_SRCS:.c=.o) $$($(1)_ASM:.asm=.o)) \
	$$(addprefix $(BUILD)/guest/lib/,$$(notdir $$(GUEST_LIB:.c=.o)))
$(BUILD)/guest/$(1).so: $$($(1)_OBJS) linker.ld
	$$(call say,LD,$$@)
	$$(Q)$$(LD) $$(LDFLAGS) -o $$@ $$(EFI_CRT0) $$($(1)_OBJS) $$(EFI_LIB)/libgnuefi.a $$(LIBGCC)
$(BUILD)/guest/$(1).efi: $(BUILD)/guest/$(1).so
	$$(call say,OBJCOPY,$$@)
	$$(Q)$$(OBJCOPY) $$(PE_SECTIONS) --target efi-app-x86_64 $$< $$@
endef
$(foreach g,$(GUESTS),$(eval $(call GUEST_RULES,$(g))))

# Guests get their own copy of lib/ objects (same flags; kept apart so they never mix with keel's).
$(BUILD)/guest/lib/%.o: lib/%.c Makefile $(CFLAGS_STAMP)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# ---- host unit tests (cmocka) ----
HOST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-prototypes \
	-fno-tree-loop-distribute-patterns -DKEEL_VERSION='"$(KEEL_VERSION)"' \
	-DKEEL_VERSION_CODE=$(KEEL_VERSION_CODE) -DKEEL_HOST_TEST -MMD -MP
# The exit path as the host tests and the fuzzer link it: dispatcher, shared helpers, handlers.
EXIT_PATH_SRCS := vmm/exit.c vmm/vcpu.c vmm/guest_mem.c vmm/events.c vmm/cpuid.c vmm/msr.c vmm/cr.c \
	vmm/io.c vmm/ept_fault.c vmm/insn.c vmm/emulate.c vmm/hypercall.c vmm/sipi.c vmm/task.c \
	vmm/operand.c vmm/idle.c vmm/tsc.c vmm/pmc.c vmm/dr.c vmm/desc.c vmm/tlb.c vmm/cache.c vmm/exception.c \
	vmm/msr_guest.c vmm/shadow_exit.c vmm/guest_msrs.c
UNIT_TESTS := config fmt log memmap caps mtrr ept shadow paging pool emulate vmx hypercall exit vmcheck platform task uart
test_config_SRCS := boot/config.c lib/fmt.c lib/string.c
test_fmt_SRCS := lib/fmt.c
test_log_SRCS := lib/log.c lib/fmt.c lib/string.c
test_memmap_SRCS := mm/memmap.c lib/string.c
test_caps_SRCS := vmm/caps.c lib/log.c lib/fmt.c lib/string.c
test_mtrr_SRCS := mm/mtrr.c
test_ept_SRCS := mm/ept.c mm/mtrr.c tests/unit/host_pages.c
test_shadow_SRCS := $(SHADOW_SRCS)
test_paging_SRCS := mm/paging.c tests/unit/host_pages.c
test_pool_SRCS := mm/pool.c lib/string.c
test_emulate_SRCS := vmm/emulate.c
test_vmx_SRCS := vmm/vmx.c vmm/guest_msrs.c vmm/emulate.c vmm/caps.c lib/log.c lib/fmt.c lib/string.c tests/unit/vmcs_fake.c
test_hypercall_SRCS := vmm/hypercall.c lib/log.c lib/fmt.c lib/string.c
test_exit_SRCS := $(EXIT_PATH_SRCS) vmm/vmx.c vmm/caps.c mm/ept.c $(SHADOW_SRCS) mm/pool.c mm/mtrr.c lib/log.c lib/fmt.c lib/string.c tests/unit/vmcs_fake.c tests/unit/cpu_fakes.c
test_exit_CFLAGS := -DKEEL_HOST_FAKES
test_task_SRCS := $(test_exit_SRCS)
test_task_CFLAGS := -DKEEL_HOST_FAKES
test_uart_SRCS := drivers/uart.c tests/unit/cpu_fakes.c
test_uart_CFLAGS := -DKEEL_HOST_FAKES
test_vmcheck_SRCS := vmm/vmcheck.c vmm/vmx.c vmm/guest_msrs.c vmm/emulate.c vmm/caps.c lib/log.c lib/fmt.c lib/string.c tests/unit/vmcs_fake.c tests/unit/vmcs_valid.c
test_platform_SRCS := vmm/platform.c lib/log.c lib/fmt.c lib/string.c
UNIT_BINS := $(addprefix $(BUILD)/tests/test_,$(UNIT_TESTS)) $(BUILD)/tests/test_config_debug

define UNIT_RULES
$(BUILD)/tests/test_$(1): tests/unit/test_$(1).c $$(test_$(1)_SRCS) tests/unit/*.h Makefile
	$$(call say,HOSTCC,$$@)
	@mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(HOST_CFLAGS) $$(test_$(1)_CFLAGS) -o $$@ tests/unit/test_$(1).c $$(test_$(1)_SRCS) -lcmocka
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call UNIT_RULES,$(t))))

# The configuration defaults of a debug build (make DEBUG=1).
$(BUILD)/tests/test_config_debug: tests/unit/test_config.c $(test_config_SRCS) tests/unit/*.h Makefile
	$(call say,HOSTCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -DKEEL_DEBUG -o $@ tests/unit/test_config.c $(test_config_SRCS) -lcmocka

unit-bins: $(UNIT_BINS)

# ---- exit-path fuzzer (libFuzzer; tests/fuzz/fuzz_exit.c, docs/testing.md) ----
# lib/string.c stays out: its memcpy/memmove would replace libc's for libFuzzer and ASan too.
FUZZ_CC := clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wno-missing-prototypes \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-fsanitize-coverage-allowlist=tests/fuzz/coverage.allow \
	-DKEEL_VERSION='"$(KEEL_VERSION)"' -DKEEL_VERSION_CODE=$(KEEL_VERSION_CODE) -DKEEL_HOST_TEST -DKEEL_HOST_FAKES
FUZZ_SRCS := tests/fuzz/fuzz_exit.c $(EXIT_PATH_SRCS) \
	vmm/vmx.c vmm/caps.c vmm/vmcheck.c mm/ept.c $(SHADOW_SRCS) mm/pool.c mm/mtrr.c lib/log.c lib/fmt.c \
	tests/unit/vmcs_fake.c tests/unit/vmcs_valid.c tests/unit/host_pages.c tests/unit/cpu_fakes.c
FUZZ_BIN := $(BUILD)/fuzz/fuzz_exit

$(FUZZ_BIN): $(FUZZ_SRCS) tests/fuzz/coverage.allow $(wildcard */*.h */*/*.h tests/*/*.h) Makefile
	$(call say,FUZZCC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_SRCS) -lcmocka

fuzz-bin: $(FUZZ_BIN)

# A bounded campaign: FUZZ_SECONDS of libFuzzer over the exit handlers, corpus in build/fuzz/corpus.
fuzz:
	$(Q)tools/deps.sh build fuzz
	$(Q)$(MAKE) --no-print-directory fuzz-bin
	$(Q)tools/fuzz.sh --seconds $(FUZZ_SECONDS) $(FUZZ_BIN)

deps:
	$(Q)tools/deps.sh build

deps-boot:
	$(Q)tools/deps.sh build boot

check-unit: deps
	$(Q)$(MAKE) --no-print-directory unit-bins
	$(Q)tools/run-unit.sh $(UNIT_BINS)

# Tests of the host tools (tools/trace, ...) on recorded inputs: no build, no emulator.
check-tools:
	$(Q)tests/tools/run-all.sh

check-boot: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/boot/run-all.sh

# The Bochs 3.0 CPU-model matrix alone (check-boot runs it too; docs/testing.md).
check-models: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/boot/run-all.sh bochs3-models

check:
	$(Q)tools/deps.sh build boot fuzz
	$(Q)$(MAKE) --no-print-directory all unit-bins fuzz-bin
	$(Q)FUZZ_BIN=$(FUZZ_BIN) tools/check.sh $(UNIT_BINS)

run: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/run.sh $(PLATFORM)

run-kvm: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/run.sh kvm

# Boot tests too long for check (tests/boot/long/): make debug's stops at an exit
# (docs/bochs-debugging.md).
check-long: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/boot/run-all.sh --long

# The Linux guest under keel (docs/smp.md): CPUS=N (default 1), MMU=MODE, KEEL_CFG='key=value ...',
# LINUX_ARGS='...', PLATFORM= as for run. Returns when the guest powers off.
run-linux: deps-boot
	$(Q)$(MAKE) --no-print-directory all linux-guest
	$(Q)CPUS=$(CPUS) MMU=$(MMU) KEEL_CFG='$(KEEL_CFG)' LINUX_ARGS='$(LINUX_ARGS)' tools/run.sh --linux $(PLATFORM)

# A 64 MiB GPT disk image with keel, keel.cfg and the guests (docs/hardware.md). IMAGE_NEXT= picks the
# next stage (default \EFI\keel\selftest.efi; none; a vmlinuz path installs the Linux guest),
# IMAGE_CFG_EXTRA= adds keel.cfg lines. Both reach tools/mkimage.sh through the environment.
image: deps $(if $(findstring vmlinuz,$(IMAGE_NEXT)),linux-guest)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/mkimage.sh

# Bochs with its debugger and keel's symbols, stopping at keel's magic breakpoints
# (DEBUG_BREAK=launch|exit|launch,exit), at VM exit N (STOP_AT_EXIT=N), or at the K-th exit of a
# reason (STOP_AT=REASON:K, REASON a number or a name as tools/trace prints it; docs/bochs-debugging.md).
debug: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/debug.sh

# keel under the instrumented Bochs 3.0 (tools/bochs3.sh --instrumented): every VM exit and entry in
# TRACE_OUT, then a summary. TRACE_NEXT=selftest|linux, TRACE_CFG= more keel.cfg lines ("\n" between).
TRACE_NEXT ?= selftest
TRACE_CPUS ?= 2
TRACE_OUT ?= build/trace/trace.txt
trace: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/trace run --next '$(TRACE_NEXT)' --cpus $(TRACE_CPUS) --cfg-extra '$(TRACE_CFG)' --out $(TRACE_OUT)

# Not part of check: it reports against the exit-cost goals and fails only when a run or a number fails.
bench: deps-boot
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench.sh
	$(Q)tools/bench-trap.sh
	$(Q)tools/bench-linux.sh
	$(Q)tools/bench-mmu.sh

# ---- the Linux guest: Debian's kernel and a busybox initramfs with keelctl (tools/linux-guest.sh) ----
LINUX_GUEST_DIR := $(BUILD)/guest/linux
.PHONY: linux-guest
linux-guest:
	$(Q)tools/deps.sh build linux
	$(Q)CC=$(CC) tools/linux-guest.sh --out $(LINUX_GUEST_DIR)

clean:
	rm -rf $(BUILD)

help:
	@echo "make            build build/keel.efi and build/guest/*.efi (DEBUG=1: debug build, check=on)"
	@echo "make run        boot keel with its default guest (PLATFORM=kvm|bochs|qemu to choose)"
	@echo "make run-linux  boot Debian's kernel under keel (CPUS=N, MMU=, KEEL_CFG='k=v ...', LINUX_ARGS=)"
	@echo "make check      unit tests, then boot tests; ends with 'N passed, N failed'"
	@echo "make check-unit host unit tests only"
	@echo "make check-tools tests of the host tools (tools/trace) only"
	@echo "make check-models selftest natively and under keel on ten Bochs 3.0 CPU models"
	@echo "make check-long long boot tests: debugger stops"
	@echo "make fuzz       libFuzzer over the exit handlers for FUZZ_SECONDS (default 60)"
	@echo "make bench      exit costs, Linux boot and MMU workloads under Bochs, native vs keel (build/bench/*.txt)"
	@echo "make image      build/keel.img, a disk image for a USB stick or an emulator (IMAGE_NEXT=...)"
	@echo "make debug      keel under the Bochs debugger with symbols (DEBUG_BREAK=launch,exit, STOP_AT_EXIT=N, STOP_AT=CPUID:K)"
	@echo "make trace      every VM exit under the instrumented Bochs 3.0, summarized (TRACE_NEXT=selftest|linux)"
	@echo "make run-kvm    QEMU with KVM and nested VMX (an Intel host with kvm_intel nested=1)"
	@echo "make clean      remove build/"

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
