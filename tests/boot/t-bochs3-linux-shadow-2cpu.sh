#!/bin/bash
# Bochs 3.0 (tools/bochs3.sh), default model (EPT and unrestricted guest), 2 CPUs, 512 MiB,
# mmu=shadow: Debian's 6.1 kernel on both CPUs. acpi.efi installs the MADT that OVMF under Bochs
# lacks (docs/smp.md), so Linux starts its AP itself with INIT-SIPI-SIPI: keel's INIT handler puts
# the AP on the EPT, its real-mode trampoline runs there with unrestricted guest, and the MOV CR0
# that turns paging on moves it to its own shadow tables (docs/memory-virtualization.md,
# "Unpaged phases"), where it runs Linux with the BSP.
set -euo pipefail
PROG=t-bochs3-linux-shadow-2cpu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-linux-shadow-2cpu
t_need build/keel.efi build/guest/acpi.efi
t_linux_guest
t_bochs3
tools/mkesp.sh --out "$T_ESP" --guests /nonexistent --add build/guest/acpi.efi:EFI/keel/acpi.efi \
	--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
	--cfg 'log=serial\nmmu=shadow\nnext=\\EFI\\keel\\acpi.efi\nnext_args=\\EFI\\keel\\vmlinuz '"$LINUX_CMDLINE"'\n'
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$T_ESP" --name "$T_NAME" --cpus 2 --megs 512 \
	--timeout 1500 --end 'keel-linux: done|Kernel panic'

t_expect "mmu=shadow, unpaged phases on the EPT" 'keel: mmu=shadow: a vCPU with CR0.PG = 0 .* runs on the EPT'
t_expect "keel virtualized both CPUs" 'keel: virtualized 2 of 2 CPUs'
t_expect "acpi.efi described 2 CPUs" 'acpi: MADT cpu1 APIC ID'
t_expect "Linux brought up 2 CPUs" 'keel-linux: dmesg: .*smp: Brought up 1 node, 2 CPUs'
t_expect "the AP went onto the EPT at INIT" 'keel: cpu1: guest paging off \(CR0 0x60000010\): runs on the EPT'
t_expect "and onto its shadow tables when it turned paging on" 'keel: cpu1: guest paging on .*back on its shadow tables'
t_expect "the workload ran on both CPUs under keel" 'keelctl: 2 of 2 online CPUs run under keel, workload ok on 2'
t_expect "keelctl sees 2 CPUs virtualized" 'keelctl: keel [0-9.]+, 2 CPUs virtualized'
t_expect "the AP's shadow MMU filled translations" 'keelctl: cpu1 mmu shadow hidden-faults=[1-9][0-9]* '
t_check "the AP took the firmware's INIT and Linux's" bash -c \
	"grep -aE 'keelctl: cpu1 INIT +[0-9]+' '$T_TEXT' | awk '{ exit !(\$NF >= 2) }'"
t_expect "and SIPIs" 'keelctl: cpu1 SIPI +[1-9]'
t_expect "keel started acpi.efi, which started the kernel" 'keel: starting \\EFI\\keel\\acpi.efi'
t_expect "Linux reached userspace" 'keel-linux: userspace reached'
t_expect "keelctl stats printed a total" 'keelctl: total [0-9]+ exits on 2 CPUs'
t_expect "init finished" 'keel-linux: done'
t_check "no Kernel panic" bash -c "! grep -aq 'Kernel panic' '$T_TEXT'"
t_check "no unhandled VM exit" bash -c "! grep -aq 'keel: unhandled VM exit' '$T_TEXT'"
t_check "no vCPU stopped" bash -c "! grep -aq 'stopped: ' '$T_TEXT'"
t_expect "the BSP's APIC writes on shadow tables reach keel" 'keel: cpu0: guest write to the xAPIC page \(GPA 0xfee00[0-9a-f]+\) on shadow tables: emulated'
t_check "every APIC write emulated, on the EPT and on shadow tables (the trap never lifted)" \
	bash -c "! grep -aq 'APIC writes no longer trapped' '$T_TEXT'"
t_done
