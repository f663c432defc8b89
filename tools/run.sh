#!/bin/bash
# `make run`: boots keel with selftest.efi as its next stage on PLATFORM (kvm, bochs or qemu; empty
# picks kvm when the host offers nested VMX, else bochs), showing serial milestones live.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PLATFORM=${1:-}
NESTED=/sys/module/kvm_intel/parameters/nested

# nested_vmx: succeeds when QEMU can run keel under KVM here; sets WHY_NOT otherwise.
nested_vmx() {
	WHY_NOT=
	if ! grep -qw vmx /proc/cpuinfo; then
		WHY_NOT="the CPU flags in /proc/cpuinfo have no vmx (not an Intel VT-x host, or a VM without nested VMX)"
	elif [[ ! -r $NESTED ]] || ! grep -qE '^(Y|1)$' "$NESTED"; then
		WHY_NOT="kvm_intel is not loaded with nested=1 ($NESTED: $(cat "$NESTED" 2>/dev/null || echo absent))"
	elif [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
		WHY_NOT="/dev/kvm is not readable and writable by $(id -un)"
	fi
	[[ -z $WHY_NOT ]]
}

case $PLATFORM in
"")
	if nested_vmx; then
		PLATFORM=kvm
		echo "run: platform kvm (nested VMX is available on this host)"
	else
		PLATFORM=bochs
		echo "run: platform bochs, because $WHY_NOT (PLATFORM=qemu for the fast path without VT-x)"
	fi
	;;
kvm)
	if ! nested_vmx; then
		echo "run: cannot use kvm: $WHY_NOT" >&2
		cat >&2 <<EOF
run: keel needs nested VMX from KVM on an Intel host. As root:
run:     modprobe -r kvm_intel; modprobe kvm_intel nested=1
run:   (to keep it: echo 'options kvm_intel nested=1' > /etc/modprobe.d/kvm-nested.conf)
run: then check that $NESTED reads Y (or 1), and that you can read and write /dev/kvm.
run: Without it: make run PLATFORM=bochs (VT-x emulated, slow) or PLATFORM=qemu (no VT-x).
EOF
		exit 1
	fi
	echo "run: platform kvm"
	;;
bochs | qemu) echo "run: platform $PLATFORM" ;;
*)
	echo "run: unknown platform '$PLATFORM' (accepted: kvm, bochs, qemu, or empty for the best available)" >&2
	exit 2
	;;
esac

ESP=build/boot/run-esp
tools/mkesp.sh --out "$ESP" --cfg 'next=\\EFI\\keel\\selftest.efi\n'
[[ -f $ESP/EFI/keel/selftest.efi ]] ||
	echo "run: warning: no selftest.efi in build/guest/: keel will report that next= is missing" >&2

case $PLATFORM in
kvm) exec tests/boot/qemu.sh --esp "$ESP" --name run-kvm --kvm --timeout 120 ;;
qemu) exec tests/boot/qemu.sh --esp "$ESP" --name run-qemu --timeout 120 ;;
bochs) exec tests/boot/bochs.sh --esp "$ESP" --name run-bochs --timeout 600 ;;
esac
