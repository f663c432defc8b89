#!/bin/bash
# Bochs 2.7, 1 CPU, mmu=shadow: selftest natively, then under keel on shadow page tables (EPT and
# unrestricted guest off although the CPU has them). Checks the mode line, the canary (keel's memory
# hidden by the shadow MMU after the seal), the shadow MMU's counters at the seal, and that every case passing
# natively passes under keel, except those whose feature shadow mode hides by design (INVPCID).
set -euo pipefail
PROG=t-bochs-shadow
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

# ---- baseline ----
t_init bochs-shadow-native
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --cfg 'virtualize=off\nlog=serial\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 1 --timeout 600
t_expect "native selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
NATIVE_TEXT=$T_TEXT
NATIVE_FAILS=$T_FAILS

# ---- keel on shadow paging ----
t_init bochs-shadow
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\ncheck=on\nmmu=shadow\nnext=\\EFI\\keel\\selftest.efi\nnext_args=nomp\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 1 --timeout 600
T_FAILS=$((T_FAILS + NATIVE_FAILS))
t_expect "mmu=shadow in the config line" 'keel: config: .* mmu=shadow'
t_expect "shadow paging chosen" 'keel: mmu: shadow paging \(mmu=shadow\)'
t_expect "keel's VM-entry checker passes the shadow-mode VMCS" "keel: check: cpu0's VMCS passes keel's VM-entry checks"
t_expect "cpu0 virtualized in shadow mode" 'keel: cpu0 virtualized \(APIC ID [0-9]+, VPID [0-9]+, mmu shadow\)'
t_expect "keel sealed its memory" 'keel: sealed: [0-9]+ pages'
t_expect "selftest sees keel" 'selftest: hypervisor keel [0-9]+\.[0-9]+\.[0-9]+'
t_expect "canary not visible to the guest" '^PASS ept\.hidden_canary$'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_expect "the shadow MMU filled translations before the seal" 'shadow MMU hides keel.s memory; until now [1-9][0-9]* hidden faults'
passed=$(grep -aoE 'selftest: [0-9]+ passed' "$T_TEXT" | head -n 1 | grep -oE '[0-9]+' || echo 0)
t_check "at least 40 cases passed under keel ($passed)" test "${passed:-0}" -ge 40
# Shadow mode hides INVPCID (docs/memory-virtualization.md): its case reports "not advertised".
missing=$(comm -23 <(grep -aoE '^PASS [a-z0-9_.]+' "$NATIVE_TEXT" | cut -d' ' -f2 | sort -u) \
	<({ grep -aoE '^PASS [a-z0-9_.]+' "$T_TEXT"; grep -aoE '^SKIP [a-z0-9_.]+: under keel' "$T_TEXT";
	    grep -aoE '^SKIP insn\.invpcid: not advertised' "$T_TEXT"; } |
		cut -d' ' -f2 | tr -d ':' | sort -u) | tr '\n' ' ')
t_check "every native PASS also passes under mmu=shadow${missing:+ (not under keel: $missing)}" test -z "$missing"
t_done
