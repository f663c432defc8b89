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
LINUX=build/guest/linux

# Build the guest when it is missing or older than its sources (a rebuild from cached .debs is
# offline and takes seconds; the first one downloads about 70 MB with apt-get).
stale=0
[[ -f $LINUX/vmlinuz && -f $LINUX/initrd.img ]] || stale=1
if ((!stale)) && [[ -n $(find guest/keelctl guest/linux tools/linux-guest.sh vmm/hypercall_abi.h \
	-newer "$LINUX/initrd.img" -print -quit) ]]; then
	stale=1
fi
if ((stale)); then
	echo "  building the Linux guest (make linux-guest)"
	if ! make --no-print-directory linux-guest; then
		echo "  FAIL could not build $LINUX/vmlinuz and initrd.img with 'make linux-guest':"
		echo "       it needs Debian's package servers (apt-get download) unless $LINUX/debs holds the .debs"
		echo "$T_NAME: FAIL"
		exit 1
	fi
fi
t_need "$LINUX/vmlinuz" "$LINUX/initrd.img"

# loglevel=4: warnings and worse only. Every console byte costs Bochs ~17k ticks at 115200 baud, and
# a panic (KERN_EMERG) still shows.
tools/mkesp.sh --out "$T_ESP" --guests /nonexistent \
	--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
	--cfg 'next=\\EFI\\keel\\vmlinuz\nnext_args=console=ttyS0,115200 initrd=\\EFI\\keel\\initrd.img loglevel=4\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 1 --megs 512 --timeout 1200 \
	--end 'keel-linux: done|Kernel panic'

t_expect "keel virtualized the firmware" 'keel: cpu0 virtualized'
t_expect "keel started the kernel" 'keel: starting \\EFI\\keel\\vmlinuz'
t_expect "Linux reached userspace" 'keel-linux: userspace reached'
t_expect "keelctl info found keel" 'keelctl: keel [0-9]+\.[0-9]+\.[0-9]+, [0-9]+ CPUs virtualized'
t_expect "keelctl stats named the MMU mode" 'keelctl: cpu0 mmu ept'
t_expect "keelctl stats printed a total" 'keelctl: total [0-9]+ exits on [0-9]+ CPUs'
t_expect "init finished" 'keel-linux: done'
t_check "no Kernel panic" bash -c "! grep -aq 'Kernel panic' '$T_TEXT'"
t_check "no unhandled VM exit" bash -c "! grep -aq 'keel: unhandled VM exit' '$T_TEXT'"
t_done
