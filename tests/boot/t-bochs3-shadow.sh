#!/bin/bash
# Bochs 3.0, 1 CPU, mmu=auto on models without what EPT mode needs. corei5_lynnfield_750 (EPT
# without unrestricted guest): auto picks shadow paging and selftest passes under keel as it does
# natively. core2_penryn_t9600 (a Core 2: no EPT at all, and no VM-exit/VM-entry controls for
# EFER and PAT): auto picks shadow paging, EFER and PAT switch through MSR lists, keel's VM-entry
# checker passes that VMCS, and selftest passes under keel with keel's memory hidden.
# Uses the installed Bochs 3.0 as it is (build/tools/bochs-3.0/bin/bochs); it never builds one.
set -euo pipefail
PROG=t-bochs3-shadow
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"
BOCHS3=$ROOT/build/tools/bochs-3.0/bin/bochs
CFG='log=serial\ncheck=on\nnext=\\EFI\\keel\\selftest.efi\n'

t_init bochs3-shadow-lynnfield-native
t_need build/keel.efi "$GUEST_DIR/selftest.efi" "$BOCHS3"
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\nvirtualize=off\nnext=\\EFI\\keel\\selftest.efi\n'
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --model corei5_lynnfield_750 --esp "$T_ESP" --name "$T_NAME" \
	--cpus 1 --timeout 600 --end 'selftest: [0-9]+ passed|X64 Exception Type'
t_expect "native selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
NATIVE_TEXT=$T_TEXT
NATIVE_FAILS=$T_FAILS

t_init bochs3-shadow-lynnfield
tools/mkesp.sh --out "$T_ESP" --cfg "$CFG"
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --model corei5_lynnfield_750 --esp "$T_ESP" --name "$T_NAME" \
	--cpus 1 --timeout 600 --end 'selftest: [0-9]+ passed|X64 Exception Type'
T_FAILS=$((T_FAILS + NATIVE_FAILS))
t_expect "mmu=auto picks shadow paging without unrestricted guest" \
	'keel: mmu: shadow paging \(mmu=auto, since the CPU has no unrestricted-guest support'
t_expect "keel's VM-entry checker passes the VMCS" "keel: check: cpu0's VMCS passes keel's VM-entry checks"
t_expect "cpu0 virtualized in shadow mode" 'keel: cpu0 virtualized \(APIC ID [0-9]+, VPID [0-9]+, mmu shadow\)'
t_expect "the shadow MMU filled translations before the seal" 'shadow MMU hides keel.s memory; until now [1-9][0-9]* hidden faults'
t_expect "selftest sees keel" 'selftest: hypervisor keel [0-9]+\.[0-9]+\.[0-9]+'
t_expect "canary not visible to the guest" '^PASS ept\.hidden_canary$'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
missing=$(comm -23 <(grep -aoE '^PASS [a-z0-9_.]+' "$NATIVE_TEXT" | cut -d' ' -f2 | sort -u) \
	<({ grep -aoE '^PASS [a-z0-9_.]+' "$T_TEXT"; grep -aoE '^SKIP [a-z0-9_.]+: under keel' "$T_TEXT";
	    grep -aoE '^SKIP insn\.invpcid: not advertised' "$T_TEXT"; } |
		cut -d' ' -f2 | tr -d ':' | sort -u) | tr '\n' ' ')
t_check "every native PASS also passes under mmu=shadow${missing:+ (not under keel: $missing)}" test -z "$missing"
LYNN_FAILS=$T_FAILS

t_init bochs3-shadow-penryn
tools/mkesp.sh --out "$T_ESP" --cfg "$CFG"
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --model core2_penryn_t9600 --esp "$T_ESP" --name "$T_NAME" \
	--cpus 1 --timeout 600 --end 'selftest: [0-9]+ passed|X64 Exception Type'
T_FAILS=$((T_FAILS + LYNN_FAILS))
t_expect "mmu=auto picks shadow paging without EPT" 'keel: mmu: shadow paging \(mmu=auto, since the CPU has no EPT'
t_expect "EFER and PAT through MSR lists" 'keel: EFER and PAT switch through VM-entry/VM-exit MSR lists'
t_expect "keel's VM-entry checker passes the VMCS" "keel: check: cpu0's VMCS passes keel's VM-entry checks"
t_expect "cpu0 virtualized in shadow mode" 'keel: cpu0 virtualized \(APIC ID [0-9]+, VPID 0, mmu shadow\)'
t_expect "selftest sees keel" 'selftest: hypervisor keel [0-9]+\.[0-9]+\.[0-9]+'
t_expect "canary not visible to the guest" '^PASS ept\.hidden_canary$'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_done
