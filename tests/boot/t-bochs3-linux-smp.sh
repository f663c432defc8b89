#!/bin/bash
# Bochs 3.0 (tools/bochs3.sh), 4 CPUs, 512 MiB: Debian's 6.1 kernel on all four, natively (keel.cfg
# virtualize=off), under keel with EPT, and under keel with mmu=shadow, the three boots at once.
# acpi.efi (guest/acpi) installs the MADT and FADT that OVMF under Bochs lacks, then starts the
# kernel (docs/smp.md). Linux starts its APs itself with INIT-SIPI-SIPI; under keel that goes
# through keel's INIT/SIPI emulation on every AP, then 3 rounds of CPU hotplug (offline/online of
# every AP) restart each AP 3 more times. Under mmu=shadow each AP's real-mode start runs on the
# EPT and moves to its own shadow tables when Linux turns paging on (docs/memory-virtualization.md,
# "Unpaged phases").
# In make check since tsc_early_khz=200000 (SPEED_ARGS, all boots) and the boots running at once:
# 11.25 G ticks natively, 11.36 G under keel, 11.60 G under mmu=shadow (docs/smp.md, "The boot
# test").
set -euo pipefail
PROG=t-bochs3-linux-smp
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"
CPUS=4
ROUNDS=3

t_init bochs3-linux-smp
t_need build/keel.efi build/guest/acpi.efi
LINUX=build/guest/linux
if ! make --no-print-directory linux-guest >/dev/null; then
	echo "  FAIL could not build the Linux guest with 'make linux-guest'"
	echo "$T_NAME: FAIL"
	exit 1
fi
t_need "$LINUX/vmlinuz" "$LINUX/initrd.img"
if ! BOCHS3=$(tools/bochs3.sh); then
	echo "  FAIL could not build Bochs 3.0 (tools/bochs3.sh)"
	echo "$T_NAME: FAIL"
	exit 1
fi

# Kernel command-line words of both boots, for speed only (docs/smp.md, "The boot test"):
# tsc_early_khz=200000 tells Linux the TSC's true rate in this Bochs (one TSC count per Bochs tick,
# ips=200000000 ticks per emulated second; CPUID 0x15/0x16 claim 3.5 GHz), so that its timers,
# delays and timeouts run in the same time base as the PIT, PM timer and HPET.
SPEED_ARGS='tsc_early_khz=200000'

# boot_start NAME CFG: builds NAME's ESP with the keel.cfg line CFG and starts its Bochs run in the
# background (output in build/boot/NAME.out); the boots run at once.
RUNNERS=()
boot_start() {
	local name=$1 esp=$ROOT/build/boot/$1-esp
	tools/mkesp.sh --out "$esp" --guests /nonexistent --add build/guest/acpi.efi:EFI/keel/acpi.efi \
		--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
		--cfg "log=serial\\n$2\\nnext=\\\\EFI\\\\keel\\\\acpi.efi\\nnext_args=\\\\EFI\\\\keel\\\\vmlinuz console=ttyS0,115200 initrd=\\\\EFI\\\\keel\\\\initrd.img loglevel=4 keel.hotplug=$ROUNDS $SPEED_ARGS\\n"
	tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$esp" --name "$name" --cpus $CPUS --megs 512 \
		--timeout 1500 --grace 60 --end 'keel-linux: done|Kernel panic' >"$ROOT/build/boot/$name.out" 2>&1 &
	RUNNERS+=($!)
}
# An interrupted test stops its runners (bochs.sh kills its Bochs on TERM).
stop_runners() {
	local p
	for p in "${RUNNERS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
}
trap stop_runners EXIT
trap 'echo "$PROG: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# boot_check NAME PID: waits for NAME's runner, shows its output, and checks its cleaned serial
# log, which becomes T_TEXT for the checks after it.
boot_check() {
	local name=$1
	T_NAME=$name # the checks name the log they read
	T_SERIAL=$ROOT/build/boot/$name/serial.log
	T_TEXT=$ROOT/build/boot/$name/serial.text
	# Poweroff must end Bochs by itself: bochs.sh's verdict does not need it, so check below.
	t_run wait "$2"
	cat "$ROOT/build/boot/$name.out"
	t_check "poweroff ended Bochs" grep -aq 'Shutdown port: shutdown requested\|ACPI control: soft power off' \
		"$ROOT/build/boot/$name/bochs.log"
	t_expect "acpi.efi described $CPUS CPUs" "acpi: MADT cpu$((CPUS - 1)) APIC ID"
	t_expect "acpi.efi installed the FADT" 'acpi: FADT PM1a_EVT'
	t_expect "Linux brought up $CPUS CPUs" "keel-linux: dmesg: .*smp: Brought up 1 node, $CPUS CPUs"
	t_expect "Linux reached userspace" 'keel-linux: userspace reached'
	# Linux 6.1 declines x2APIC without interrupt remapping (docs/smp.md, "x2APIC"): should a model
	# ever make it use x2APIC, this fails, and an x2APIC Linux boot belongs here.
	t_expect "Linux stayed in xAPIC mode (no interrupt remapping)" \
		"keel-linux: dmesg: .*x2apic: IRQ remapping doesn't support X2APIC mode"
	t_expect "$CPUS CPUs online" "keel-linux: cpus online 0-$((CPUS - 1))"
	t_expect "the workload ran on every CPU" "keelctl: [0-9] of $CPUS online CPUs run under keel, workload ok on $CPUS"
	t_expect "$ROUNDS hotplug rounds without a failure" "keel-linux: hotplug $ROUNDS rounds, 0 failures"
	t_expect "all CPUs back online after hotplug" "keel-linux: hotplug round $ROUNDS: .*back online \\(online: 0-$((CPUS - 1))\\)"
	t_expect "init finished" 'keel-linux: done'
	t_check "no Kernel panic" bash -c "! grep -aq 'Kernel panic' '$T_TEXT'"
}


echo "  -- natively (virtualize=off), under keel, and under keel with mmu=shadow, all at once"
boot_start bochs3-linux-smp-native virtualize=off
boot_start bochs3-linux-smp mmu=ept
boot_start bochs3-linux-smp-shadow mmu=shadow
echo "  -- natively (virtualize=off)"
boot_check bochs3-linux-smp-native "${RUNNERS[0]}"
t_expect "natively no CPU answers with keel's signature" "keelctl: 0 of $CPUS online CPUs run under keel"

# keel_checks: what every boot under keel shows (after its boot_check).
keel_checks() {
	t_expect "keel virtualized all CPUs" "keel: virtualized $CPUS of $CPUS CPUs"
	t_expect "keelctl sees $CPUS CPUs virtualized" "keelctl: keel [0-9.]+, $CPUS CPUs virtualized"
	t_expect "every CPU answered CPUID 0x40000000 with keel's signature" "keelctl: $CPUS of $CPUS online CPUs run under keel, workload ok on $CPUS"
	t_check "every CPU still under keel after hotplug" \
		bash -c "[ \$(grep -ac 'keelctl: $CPUS of $CPUS online CPUs run under keel, workload ok on $CPUS' '$T_TEXT') -ge 2 ]"
	for ((c = 1; c < CPUS; c++)); do
		# Linux's boot start and ROUNDS restarts, each INIT-SIPI-SIPI (the firmware's parking adds more).
		t_check "cpu$c took at least $((ROUNDS + 1)) INITs from Linux" bash -c \
			"grep -aE 'keelctl: cpu$c INIT +[0-9]+' '$T_TEXT' | awk '{ exit !(\$NF >= $((ROUNDS + 1))) }'"
		t_expect "cpu$c SIPI counted" "keelctl: cpu$c SIPI +[1-9]"
	done
	t_check "every APIC write emulated (the xAPIC trap of vmm/sipi.c never lifted)" \
		bash -c "! grep -aq 'APIC writes no longer trapped' '$T_TEXT'"
	t_check "no unhandled VM exit" bash -c "! grep -aq 'keel: unhandled VM exit' '$T_TEXT'"
	t_check "no vCPU stopped" bash -c "! grep -aq 'stopped: ' '$T_TEXT'"
}

echo "  -- under keel"
boot_check bochs3-linux-smp "${RUNNERS[1]}"
keel_checks
t_expect "keel ran the guest on EPT" 'keel: cpu0 virtualized .*mmu ept'

echo "  -- under keel, mmu=shadow"
boot_check bochs3-linux-smp-shadow "${RUNNERS[2]}"
keel_checks
t_expect "mmu=shadow, unpaged phases on the EPT" 'keel: mmu=shadow: a vCPU with CR0.PG = 0 .* runs on the EPT'
t_expect "the BSP's APIC writes on shadow tables reach keel" 'keel: cpu0: guest write to the xAPIC page \(GPA 0xfee00[0-9a-f]+\) on shadow tables: emulated'
for ((c = 1; c < CPUS; c++)); do
	t_expect "cpu$c went onto the EPT at INIT" "keel: cpu$c: guest paging off \\(CR0 0x60000010\\): runs on the EPT"
	t_expect "and onto its shadow tables when it turned paging on" "keel: cpu$c: guest paging on .*back on its shadow tables"
	t_expect "cpu$c's shadow MMU filled translations" "keelctl: cpu$c mmu shadow hidden-faults=[1-9][0-9]* "
done
t_done
