#!/bin/bash
# Bochs, 1 CPU: keel virtualizes the firmware and starts Debian's 6.1 kernel (EFI stub) with the
# busybox initramfs of tools/linux-guest.sh; its /init must reach userspace, find keel with
# `keelctl info`, print `keelctl stats` and end the run through Bochs's shutdown port.
# One CPU: Bochs 2.7 mishandles INIT/SIPI with two CPUs under a hypervisor.
set -euo pipefail
PROG=t-bochs-linux
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs-linux
t_need build/keel.efi
t_linux_guest
t_linux_esp ''
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 1 --megs 512 --timeout 1200 \
	--end 'keel-linux: done|Kernel panic'

t_expect "keel virtualized the firmware on EPT" 'keel: cpu0 virtualized \(APIC ID [0-9]+, VPID [0-9]+, mmu ept\)'
t_expect "keelctl stats named the MMU mode" 'keelctl: cpu0 mmu ept'
t_linux_checks
t_done
