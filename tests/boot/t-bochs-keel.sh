#!/bin/bash
# Bochs 2.7, 2 CPUs. First keel with virtualize=off (the platform report, and selftest's native
# baseline), then keel virtualizing both CPUs (check=on: its VM-entry checker must pass each VMCS)
# with selftest as next stage. Checks the report, the launch, the EPT size, the canary, and that
# every case passing natively passes under keel.
# selftest gets "nomp": on Bochs 2.7 an INIT to a virtualized AP is never consumed (docs/testing.md);
# t-bochs3-mp.sh covers the per-CPU cases on Bochs 3.0.
set -euo pipefail
PROG=t-bochs-keel
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

# ---- baseline: keel reports, does not virtualize ----
t_init bochs-keel-native
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --cfg 'virtualize=off\nlog=serial\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 600
t_expect "keel banner" 'keel: keel [0-9]+\.[0-9]+\.[0-9]+ starting'
t_expect "two logical CPUs" 'keel: logical CPUs: 2'
t_expect "VMX reported" 'keel: vmx: CPUID.1:ECX.VMX=1'
t_expect "EPT reported" 'keel: vmx: EPT yes'
t_expect "VPID reported" 'keel: vmx: VPID yes'
t_expect "unrestricted guest reported" 'keel: vmx: unrestricted guest yes'
t_expect "native selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
NATIVE_TEXT=$T_TEXT
NATIVE_FAILS=$T_FAILS

# ---- keel virtualizing ----
t_init bochs-keel
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\ncheck=on\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 600
T_FAILS=$((T_FAILS + NATIVE_FAILS))
t_expect "keel's VM-entry checker passes the BSP's VMCS" "keel: check: cpu0's VMCS passes keel's VM-entry checks"
t_expect "keel's VM-entry checker passes the AP's VMCS" "keel: check: cpu1's VMCS passes keel's VM-entry checks"
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs in [0-9]+ TSC ticks'
t_expect "selftest sees keel" 'selftest: hypervisor keel [0-9]+\.[0-9]+\.[0-9]+'
t_expect "canary not visible to the guest" '^PASS ept\.hidden_canary$'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
passed=$(grep -aoE 'selftest: [0-9]+ passed' "$T_TEXT" | head -n 1 | grep -oE '[0-9]+' || echo 0)
t_check "at least 40 cases passed under keel ($passed)" test "${passed:-0}" -ge 40
kib=$(grep -aoE 'keel: ept tables [0-9]+ KiB' "$T_TEXT" | head -n 1 | grep -oE '[0-9]+' || echo 999)
t_check "EPT tables at most 64 KiB ($kib KiB)" test "${kib:-999}" -le 64
mem=$(grep -aoE 'keel: memory [0-9]+ KiB' "$T_TEXT" | head -n 1 | grep -oE '[0-9]+' || echo 99999)
t_check "keel's memory at most 2048 KiB ($mem KiB)" test "${mem:-99999}" -le 2048

# Every case that passes natively passes under keel, except cases that only apply without a
# hypervisor, which selftest skips there with a reason starting "under keel".
missing=$(comm -23 <(grep -aoE '^PASS [a-z0-9_.]+' "$NATIVE_TEXT" | cut -d' ' -f2 | sort -u) \
	<({ grep -aoE '^PASS [a-z0-9_.]+' "$T_TEXT"; grep -aoE '^SKIP [a-z0-9_.]+: under keel' "$T_TEXT"; } |
		cut -d' ' -f2 | tr -d ':' | sort -u) | tr '\n' ' ')
t_check "every native PASS also passes under keel${missing:+ (not under keel: $missing)}" test -z "$missing"
t_done
