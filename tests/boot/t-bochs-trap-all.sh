#!/bin/bash
# Bochs 2.7, 2 CPUs: selftest natively (virtualize=off), then under keel with trap=all (every
# trap-and-emulate class of docs/trap-and-emulate.md the CPU offers). Every case that passes
# natively must pass under trap=all, and the exit census must show the classes' exits.
set -euo pipefail
PROG=t-bochs-trap-all
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

# ---- baseline ----
t_init bochs-trap-native
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --cfg 'virtualize=off\nlog=serial\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 600
t_expect "native selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
NATIVE_TEXT=$T_TEXT
NATIVE_FAILS=$T_FAILS

# ---- trap=all ----
t_init bochs-trap-all
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\ncheck=on\ntrap=all\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 900
T_FAILS=$((T_FAILS + NATIVE_FAILS))
t_expect "config line names trap=all" 'keel: config: .* trap=all'
t_expect "the classes keel intercepts are listed" 'keel: trap: intercepting hlt,'
t_expect "keel's VM-entry checker passes the BSP's VMCS" "keel: check: cpu0's VMCS passes keel's VM-entry checks"
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs in [0-9]+ TSC ticks'
t_expect "selftest sees keel" 'selftest: hypervisor keel [0-9]+\.[0-9]+\.[0-9]+'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
missing=$(comm -23 <(grep -aoE '^PASS [a-z0-9_.]+' "$NATIVE_TEXT" | cut -d' ' -f2 | sort -u) \
	<({ grep -aoE '^PASS [a-z0-9_.]+' "$T_TEXT"; grep -aoE '^SKIP [a-z0-9_.]+: under keel' "$T_TEXT"; } |
		cut -d' ' -f2 | tr -d ':' | sort -u) | tr '\n' ' ')
t_check "every native PASS also passes under trap=all${missing:+ (not under keel: $missing)}" test -z "$missing"
t_done
