#!/bin/bash
# Bochs 3.0 (tools/bochs3.sh), default model (EPT and unrestricted guest), 2 CPUs, mmu=shadow: keel
# virtualizes both, and selftest runs its per-CPU cases on the AP through MP services, which wakes
# the AP with INIT-SIPI-SIPI: its real-mode start runs on the EPT (unpaged phase), and its paged
# code on its own shadow tables once the firmware's AP code sets CR0.PG
# (docs/memory-virtualization.md, "Unpaged phases").
set -euo pipefail
PROG=t-bochs3-shadow-mp
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-shadow-mp
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
t_bochs3
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\ncheck=on\nmmu=shadow\nnext=\\EFI\\keel\\selftest.efi\n'
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 900
t_expect "mmu=shadow chosen" 'keel: mmu: shadow paging \(mmu=shadow\)'
t_expect "unpaged phases on the EPT" 'keel: mmu=shadow: a vCPU with CR0.PG = 0 .* runs on the EPT'
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs'
t_expect "keel's VM-entry checker passes the AP's VMCS" "keel: check: cpu1's VMCS passes keel's VM-entry checks"
t_expect "the AP's INIT put it on the EPT" 'keel: cpu1: guest paging off \(CR0 0x60000010\): runs on the EPT'
t_expect "the AP's start-up code turned paging on: shadow tables again" 'keel: cpu1: guest paging on .*back on its shadow tables'
t_expect "sealed" 'keel: sealed: [0-9]+ pages'
t_expect "selftest sees keel" 'selftest: hypervisor keel'
t_expect "the AP sees keel's CPUID leaf" '^PASS mp\.cpu1\.cpuid\.keel_leaf$'
t_expect "the AP's version hypercall works" '^PASS mp\.cpu1\.hc\.version$'
t_expect "per-CPU cases ran" '^PASS mp\.each_ap$'
t_expect "canary not visible to the guest" '^PASS ept\.hidden_canary$'
no_ap_failure() { ! grep -aqE '^FAIL mp\.cpu1\.' "$T_TEXT"; }
ap_passes_at_least() { (($(grep -aE '^PASS mp\.cpu1\.' "$T_TEXT" | sort -u | wc -l) >= $1)); }
t_check "no case failed on the AP" no_ap_failure
t_check "at least 40 different cases passed on the AP" ap_passes_at_least 40
t_check "no vCPU stopped" bash -c "! grep -aq 'stopped: ' '$T_TEXT'"
t_expect "the BSP's APIC writes on shadow tables reach keel" 'keel: cpu0: guest write to the xAPIC page \(GPA 0xfee00[0-9a-f]+\) on shadow tables: emulated'
t_check "every APIC write emulated, on the EPT and on shadow tables (the trap never lifted)" \
	bash -c "! grep -aq 'APIC writes no longer trapped' '$T_TEXT'"
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_done
