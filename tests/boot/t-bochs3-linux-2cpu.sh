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
LINUX=build/guest/linux
if ! make --no-print-directory linux-guest >/dev/null; then
	echo "  FAIL could not build the Linux guest with 'make linux-guest'"
	echo "$T_NAME: FAIL"
	exit 1
fi
t_need "$LINUX/vmlinuz" "$LINUX/initrd.img"
if ! BOCHS3=$(tools/bochs3.sh); then
	echo "  FAIL could not build Bochs 3.0 (tools/bochs3.sh)"
	echo "$T_NAME: FAIL"
	exit 1
fi

tools/mkesp.sh --out "$T_ESP" --guests /nonexistent \
	--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
	--cfg 'log=serial\nnext=\\EFI\\keel\\vmlinuz\nnext_args=console=ttyS0,115200 initrd=\\EFI\\keel\\initrd.img loglevel=4\n'
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$T_ESP" --name "$T_NAME" --cpus 2 --megs 512 \
	--timeout 1200 --end 'keel-linux: done|Kernel panic'

t_expect "keel virtualized both CPUs" 'keel: virtualized 2 of 2 CPUs'
t_expect "Linux reached userspace" 'keel-linux: userspace reached'
t_expect "keelctl sees 2 CPUs virtualized" 'keelctl: keel [0-9.]+, 2 CPUs virtualized'
t_expect "the firmware's INIT reached keel on the AP" 'keelctl: cpu1 INIT +[1-9]'
t_expect "and its SIPI" 'keelctl: cpu1 SIPI +[1-9]'
t_expect "the AP ran the firmware's parking code under keel" 'keelctl: cpu1 CPUID +[1-9]'
t_expect "init finished" 'keel-linux: done'
t_check "no Kernel panic" bash -c "! grep -aq 'Kernel panic' '$T_TEXT'"
t_check "no unhandled VM exit" bash -c "! grep -aq 'keel: unhandled VM exit' '$T_TEXT'"
t_check "no vCPU stopped" bash -c "! grep -aq 'stopped: ' '$T_TEXT'"
t_done
