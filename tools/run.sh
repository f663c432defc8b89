#!/bin/bash
# `make run`: boots keel with selftest.efi as its next stage on PLATFORM (kvm, bochs or qemu; empty
# picks kvm when the host offers nested VMX, else bochs), showing serial milestones live.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PLATFORM=${1:-}
NESTED=/sys/module/kvm_intel/parameters/nested

# nested_vmx: succeeds when QEMU can run keel under KVM here; sets WHY_NOT and HOW (the fix)
# otherwise. A /dev/kvm alone proves nothing: some hosts offer KVM without VMX to pass on.
nested_vmx() {
	local group
	WHY_NOT= HOW=
	if ! grep -qw vmx /proc/cpuinfo; then
		WHY_NOT="the CPU flags in /proc/cpuinfo have no vmx (not an Intel VT-x host, or a VM without nested VMX)"
		HOW=$(
			cat <<'EOF'
keel needs Intel VT-x on this host. On an Intel machine, enable "Intel Virtualization Technology"
(VT-x) in the firmware setup: Linux drops the vmx flag when the firmware left VMX off, and
'dmesg | grep -i vmx' then says "disabled by BIOS". Inside a VM, turn on nested virtualization in
the hypervisor below it. An AMD host cannot run keel under KVM.
EOF
		)
	elif [[ ! -r $NESTED ]] || ! grep -qE '^(Y|1)$' "$NESTED"; then
		WHY_NOT="kvm_intel is not loaded with nested=1 ($NESTED: $(cat "$NESTED" 2>/dev/null || echo absent))"
		HOW=$(
			cat <<EOF
As root, with no VM running (removing kvm_intel fails while it is in use):
    modprobe -r kvm_intel && modprobe kvm_intel nested=1
and to keep it across reboots:
    echo 'options kvm_intel nested=1' > /etc/modprobe.d/kvm-nested.conf
then check that $NESTED reads Y (or 1).
EOF
		)
	elif [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
		WHY_NOT="/dev/kvm is not readable and writable by $(id -un)"
		group=$(stat -c %G /dev/kvm 2>/dev/null || echo kvm)
		HOW="Join the group that owns /dev/kvm, then log in again: sudo usermod -aG $group $(id -un)"
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
		sed 's/^/run: /' <<<"$HOW" >&2
		echo "run: Without it: make run PLATFORM=bochs (VT-x emulated, slow) or PLATFORM=qemu (no VT-x)." >&2
		echo "run: More in docs/qemu-kvm.md." >&2
		exit 1
	fi
	echo "run: platform kvm: QEMU -enable-kvm -cpu host,+vmx ($NESTED: $(cat "$NESTED"))"
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
bochs)
	# Debian's Bochs 2.7 cannot wake an AP that runs under keel (docs/testing.md): with
	# tools/bochs3.sh's Bochs 3.0 two CPUs run everything, else one CPU does.
	if [[ -x build/tools/bochs-3.0/bin/bochs ]]; then
		exec tests/boot/bochs.sh --bochs build/tools/bochs-3.0/bin/bochs --esp "$ESP" --name run-bochs --timeout 600
	fi
	echo "run: Bochs 2.7 with 1 CPU (build Bochs 3.0 with tools/bochs3.sh for two CPUs)"
	exec tests/boot/bochs.sh --esp "$ESP" --name run-bochs --cpus 1 --timeout 600 ;;
esac
