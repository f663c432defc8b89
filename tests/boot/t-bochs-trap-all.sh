#!/bin/bash
# Bochs 2.7, 2 CPUs: selftest natively (virtualize=off), under keel with trap=minimal (the
# default) and under keel with trap=all (every trap-and-emulate class of docs/trap-and-emulate.md
# the CPU offers). Every case that passes natively must pass under both profiles, the trap.* class
# cases (guest/selftest/trapcases.c) among them, and every case passing under trap=minimal must
# pass under trap=all.
set -euo pipefail
PROG=t-bochs-trap-all
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

# passes LOG: the names of the cases LOG reports PASS, plus those skipped "under keel" (cases that
# only apply without a hypervisor), sorted.
passes() {
	{ grep -aoE '^PASS [a-z0-9_.]+' "$1"; grep -aoE '^SKIP [a-z0-9_.]+: under keel' "$1"; } |
		cut -d' ' -f2 | tr -d ':' | sort -u
}

# ---- baseline ----
t_init bochs-trap-native
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --cfg 'virtualize=off\nlog=serial\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 600
t_expect "native selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
classes=$(grep -aoE '^PASS trap\.[a-z0-9]+_[a-z0-9_]+' "$T_TEXT" | sort -u | wc -l)
t_check "natively at least 30 trap.* cases pass ($classes)" test "$classes" -ge 30
NATIVE_TEXT=$T_TEXT
FAILS=$T_FAILS

# ---- trap=minimal ----
t_init bochs-trap-minimal
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\ncheck=on\ntrap=minimal\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 600
t_expect "config line names trap=minimal" 'keel: config: .* trap=minimal'
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs in [0-9]+ TSC ticks'
t_expect "selftest sees keel" 'selftest: hypervisor keel [0-9]+\.[0-9]+\.[0-9]+'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
missing=$(comm -23 <(passes "$NATIVE_TEXT") <(passes "$T_TEXT") | tr '\n' ' ')
t_check "every native PASS also passes under trap=minimal${missing:+ (not: $missing)}" test -z "$missing"
MINIMAL_TEXT=$T_TEXT
FAILS=$((FAILS + T_FAILS))

# ---- trap=all ----
t_init bochs-trap-all
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\ncheck=on\ntrap=all\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 900
T_FAILS=$((T_FAILS + FAILS))
t_expect "config line names trap=all" 'keel: config: .* trap=all'
t_expect "the classes keel intercepts are listed" 'keel: trap: intercepting hlt,'
t_expect "keel's VM-entry checker passes the BSP's VMCS" "keel: check: cpu0's VMCS passes keel's VM-entry checks"
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs in [0-9]+ TSC ticks'
t_expect "selftest sees keel" 'selftest: hypervisor keel [0-9]+\.[0-9]+\.[0-9]+'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
missing=$(comm -23 <(passes "$NATIVE_TEXT") <(passes "$T_TEXT") | tr '\n' ' ')
t_check "every native PASS also passes under trap=all${missing:+ (not: $missing)}" test -z "$missing"
# A class that traps may not change what the guest sees: every case that passes under
# trap=minimal passes under trap=all. (The reverse may differ where keel follows the SDM and the
# emulator does not: trap.rdpmc_invalid_gp skips on Bochs, whose RDPMC checks no counter number.)
lost=$(comm -23 <(passes "$MINIMAL_TEXT") <(passes "$T_TEXT") | tr '\n' ' ')
t_check "every trap=minimal PASS also passes under trap=all${lost:+ (not: $lost)}" test -z "$lost"
gained=$(comm -13 <(passes "$MINIMAL_TEXT") <(passes "$T_TEXT") | tr '\n' ' ')
echo "  passes under trap=all only: ${gained:-none}"
t_done
