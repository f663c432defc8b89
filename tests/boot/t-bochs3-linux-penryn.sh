#!/bin/bash
# Bochs 3.0, cpu model core2_penryn_t9600 (a Core 2: VMX without EPT, unrestricted guest, VPID,
# preemption timer or the EFER/PAT load controls), 1 CPU: mmu=auto must pick shadow paging, switch
# EFER and PAT through MSR lists (vmm/guest_msrs.h), and run Linux as in t-bochs-linux.sh to
# userspace.
set -euo pipefail
PROG=t-bochs3-linux-penryn
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-linux-penryn
t_need build/keel.efi
t_linux_guest
t_bochs3
t_linux_esp 'log=serial\n'
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --model core2_penryn_t9600 --esp "$T_ESP" --name "$T_NAME" \
	--cpus 1 --megs 512 --timeout 1200 --end 'keel-linux: done|Kernel panic'

t_expect "mmu=auto picked shadow paging (no EPT)" 'keel: mmu: shadow paging \(mmu=auto, since the CPU has no EPT'
t_expect "EFER and PAT through MSR lists" 'keel: EFER and PAT switch through VM-entry/VM-exit MSR lists'
t_expect "keel virtualized the firmware on shadow paging" 'keel: cpu0 virtualized \(APIC ID [0-9]+, VPID 0, mmu shadow\)'
t_expect "keelctl stats printed the shadow MMU's counters" 'keelctl: cpu0 mmu shadow hidden-faults=[1-9][0-9]* .* pages-total=[1-9]'
t_linux_checks
t_done
