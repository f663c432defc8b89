#!/bin/bash
# Bochs 3.0 (tools/bochs3.sh), 2 CPUs: keel virtualizes both, then Debian's 6.1 kernel boots.
# Before Linux takes over, the firmware wakes its AP with INIT-SIPI-SIPI to park it, which reaches
# keel's INIT and SIPI handlers on the virtualized AP; Linux must then run to userspace with both
# CPUs under keel.
# Linux itself stays on CPU 0: OVMF under Bochs has no QEMU fw_cfg to take ACPI tables from, so
# Linux finds no MADT ("Boot CPU (id 0) not listed by BIOS") and starts no AP, with or without keel.
set -euo pipefail
PROG=t-bochs3-linux-2cpu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-linux-2cpu
t_need build/keel.efi
t_linux_guest
t_bochs3
t_linux_esp 'log=serial\n'
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$T_ESP" --name "$T_NAME" --cpus 2 --megs 512 \
	--timeout 1200 --end 'keel-linux: done|Kernel panic'

t_expect "keel virtualized both CPUs" 'keel: virtualized 2 of 2 CPUs'
t_expect "keelctl sees 2 CPUs virtualized" 'keelctl: keel [0-9.]+, 2 CPUs virtualized'
t_expect "the firmware's INIT reached keel on the AP" 'keelctl: cpu1 INIT +[1-9]'
t_expect "and its SIPI" 'keelctl: cpu1 SIPI +[1-9]'
t_expect "the AP ran the firmware's parking code under keel" 'keelctl: cpu1 CPUID +[1-9]'
t_check "every APIC write emulated (the xAPIC trap of vmm/sipi.c never lifted)" \
	bash -c "! grep -aq 'APIC writes no longer trapped' '$T_TEXT'"
t_linux_checks
t_done
