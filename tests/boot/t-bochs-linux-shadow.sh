#!/bin/bash
# Bochs 2.7, 1 CPU, mmu=shadow on a CPU with EPT (shadow page tables, EPT off): Linux as in
# t-bochs-linux.sh, to userspace.
set -euo pipefail
PROG=t-bochs-linux-shadow
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs-linux-shadow
t_need build/keel.efi
t_linux_guest
t_linux_esp 'mmu=shadow\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 1 --megs 512 --timeout 1200 \
	--end 'keel-linux: done|Kernel panic'

t_expect "keel virtualized the firmware on shadow paging" 'keel: cpu0 virtualized \(APIC ID [0-9]+, VPID [0-9]+, mmu shadow\)'
t_expect "keelctl stats printed the shadow MMU's counters" 'keelctl: cpu0 mmu shadow hidden-faults=[1-9][0-9]* .* pages-total=[1-9]'
t_linux_checks
t_done
