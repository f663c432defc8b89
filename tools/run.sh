#!/bin/bash
# `make run`: boots keel with selftest.efi as its next stage on PLATFORM (kvm, bochs or qemu; empty
# picks kvm when the host offers nested VMX, else bochs), showing serial milestones live.
# `make run-linux` (tools/run.sh --linux [PLATFORM]): boots the Linux guest instead, through
# guest/acpi's acpi.efi, on CPUS (default 1) CPUs; MMU=MODE adds mmu=MODE to keel.cfg, KEEL_CFG=
# 'key=value ...' adds one keel.cfg line per word, LINUX_ARGS= adds kernel command-line words.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LINUX=
if [[ ${1:-} == --linux ]]; then
	LINUX=yes
	shift
fi
PLATFORM=${1:-}
CPUS=${CPUS:-1}
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || { echo "run: CPUS wants a whole number >= 1, got '$CPUS'" >&2; exit 2; }
BOCHS3=build/tools/bochs-3.0/bin/bochs
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
	if [[ -n $LINUX && $CPUS -gt 1 ]] && ! nested_vmx; then
		# Only Bochs 3.0 wakes an AP that runs under keel (docs/testing.md).
		[[ -x $BOCHS3 ]] || { echo "run: CPUS=$CPUS needs Bochs 3.0: build it with tools/bochs3.sh" >&2; exit 1; }
		PLATFORM=bochs
		echo "run: platform bochs (Bochs 3.0, $CPUS CPUs), because $WHY_NOT"
	elif nested_vmx; then
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

if [[ -n $LINUX ]]; then
	# keel -> acpi.efi (installs the MADT, FADT, FACS and DSDT the firmware lacks under Bochs) ->
	# the kernel's EFI stub with its command line (docs/smp.md).
	G=build/guest/linux
	for f in build/guest/acpi.efi "$G/vmlinuz" "$G/initrd.img"; do
		[[ -f $f ]] || { echo "run: $f missing (make all linux-guest)" >&2; exit 1; }
	done
	CFG='log=serial\n'
	[[ -z ${MMU:-} ]] || CFG+="mmu=$MMU\n"
	for kv in ${KEEL_CFG:-}; do
		[[ $kv == *=* ]] || { echo "run: KEEL_CFG wants key=value words, got '$kv'" >&2; exit 2; }
		CFG+="$kv\n"
	done
	CFG+='next=\\EFI\\keel\\acpi.efi\n'
	CFG+='next_args=\\EFI\\keel\\vmlinuz console=ttyS0,115200 initrd=\\EFI\\keel\\initrd.img loglevel=4'
	CFG+="${LINUX_ARGS:+ $LINUX_ARGS}\\n"
	ESP=build/boot/run-linux-esp
	tools/mkesp.sh --out "$ESP" --guests /nonexistent --add build/guest/acpi.efi:EFI/keel/acpi.efi \
		--add "$G/vmlinuz:EFI/keel/vmlinuz" --add "$G/initrd.img:EFI/keel/initrd.img" --cfg "$CFG"
	echo "run: keel.cfg: $(tr '\n' ' ' <"$ESP/EFI/keel/keel.cfg")"
	END='keel-linux: done|Kernel panic'
	case $PLATFORM in
	kvm) exec tests/boot/qemu.sh --esp "$ESP" --name run-linux-kvm --kvm --cpus "$CPUS" --timeout 300 --end "$END" --grace 30 ;;
	qemu) exec tests/boot/qemu.sh --esp "$ESP" --name run-linux-qemu --cpus "$CPUS" --timeout 900 --end "$END" --grace 30 ;;
	bochs)
		if [[ -x $BOCHS3 ]]; then
			exec tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$ESP" --name run-linux-bochs --cpus "$CPUS" \
				--timeout 2400 --end "$END" --grace 60
		fi
		((CPUS == 1)) || { echo "run: CPUS=$CPUS under Bochs needs Bochs 3.0: build it with tools/bochs3.sh" >&2; exit 1; }
		exec tests/boot/bochs.sh --esp "$ESP" --name run-linux-bochs --cpus 1 --timeout 2400 --end "$END" --grace 60 ;;
	esac
fi

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
