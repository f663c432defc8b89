#!/bin/bash
# Boots an ESP directory (or, with --disk, a disk image such as build/keel.img) in QEMU (TCG, or KVM
# with nested VMX) + OVMF, echoes serial milestones live, and passes when the end marker appears in
# build/boot/NAME/serial.log.
set -euo pipefail

PROG="qemu.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/boot/lib.sh
source "$ROOT/tests/boot/lib.sh"

usage() {
	cat <<EOF
usage: tests/boot/qemu.sh (--esp DIR | --disk FILE) --name NAME [--cpus 2] [--megs 512]
                          [--timeout 60] [--end REGEX] [--kvm] [--grace SECONDS]
  --esp DIR    a directory QEMU presents as a FAT disk (fat:rw)
  --disk FILE  a raw disk image (tools/mkimage.sh); QEMU boots a private copy of it
Work files (serial.log, e9.log, qemu.out, OVMF.fd, esp/ or disk.img) go to build/boot/NAME/.
EOF
	exit 2
}

ESP='' DISK='' NAME='' CPUS=2 MEGS=512 TIMEOUT=60 END='selftest: [0-9]+ passed' KVM=0 GRACE=2
while [[ $# -gt 0 ]]; do
	case $1 in
	--esp) need_arg "$1" $#; ESP=$2; shift 2 ;;
	--disk) need_arg "$1" $#; DISK=$2; shift 2 ;;
	--name) need_arg "$1" $#; NAME=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; CPUS=$2; shift 2 ;;
	--megs) need_arg "$1" $#; MEGS=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; TIMEOUT=$2; shift 2 ;;
	--end) need_arg "$1" $#; END=$2; shift 2 ;;
	--grace) need_arg "$1" $#; GRACE=$2; shift 2 ;;
	--kvm) KVM=1; shift ;;
	-h | --help) usage ;;
	*) echo "$PROG: unknown argument '$1'" >&2; usage ;;
	esac
done
[[ -n $NAME && ( -n $ESP || -n $DISK ) ]] || usage
if [[ -n $ESP && -n $DISK ]]; then
	die "--esp and --disk exclude each other"
fi
check_name "$NAME"
check_uint --cpus "$CPUS"
check_uint --megs "$MEGS"
check_uint --timeout "$TIMEOUT"
check_uint --grace "$GRACE"
[[ -z $ESP || -d $ESP ]] || die "ESP directory '$ESP' not found"
[[ -z $DISK || -f $DISK ]] || die "disk image '$DISK' not found"
PROG="qemu.sh $NAME"

OVMF=/usr/share/ovmf/OVMF.fd
[[ -f $OVMF ]] || die "$OVMF missing (tools/deps.sh boot)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed (tools/deps.sh boot)"

# ---- work directory: private copies of the firmware and of the ESP or disk (QEMU writes back) ----
WORK="$ROOT/build/boot/$NAME"
rm -rf "$WORK"
mkdir -p "$WORK"
if [[ -n $ESP ]]; then
	ESP=$(cd "$ESP" && pwd)
	cp -r "$ESP" "$WORK/esp"
	DRIVE="format=raw,file=fat:rw:$WORK/esp"
else
	cp --sparse=always "$DISK" "$WORK/disk.img"
	DRIVE="format=raw,file=$WORK/disk.img"
fi
cp "$OVMF" "$WORK/OVMF.fd"
SERIAL="$WORK/serial.log" CLEAN="$WORK/serial.clean" E9LOG="$WORK/e9.log" QOUT="$WORK/qemu.out"
: >"$SERIAL"

# q35 and the default pc machine both boot Debian 12's OVMF.fd with QEMU 7.2; q35 is the modern one.
ARGS=(-machine q35 -bios "$WORK/OVMF.fd" -drive "$DRIVE"
	-serial "file:$SERIAL" -debugcon "file:$E9LOG" -global isa-debugcon.iobase=0xe9
	-display none -monitor none -net none -m "$MEGS" -smp "$CPUS" -no-reboot)
MODE=TCG
if ((KVM)); then
	ARGS+=(-enable-kvm -cpu "host,+vmx")
	MODE="KVM (nested VMX)"
fi

# ---- the emulator and its cleanup ----
QEMU_PID=
stop_qemu() {
	local tries
	[[ -n $QEMU_PID ]] || return 0
	if alive "$QEMU_PID"; then
		kill -TERM "$QEMU_PID" 2>/dev/null || true
		for ((tries = 0; tries < 30; tries++)); do
			alive "$QEMU_PID" || break
			sleep 0.1
		done
		if alive "$QEMU_PID"; then
			echo "$PROG: QEMU ignored SIGTERM; sending SIGKILL" >&2
			kill -KILL "$QEMU_PID" 2>/dev/null || true
		fi
	fi
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	trap - EXIT INT TERM
	stop_qemu
	stop_guard
}
trap cleanup EXIT
trap 'echo "$PROG: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

START=$(now)
echo "qemu.sh $NAME: QEMU $MODE, $CPUS CPUs, $MEGS MiB, timeout ${TIMEOUT}s, end marker /$END/ (logs in build/boot/$NAME/)"
qemu-system-x86_64 "${ARGS[@]}" </dev/null >"$QOUT" 2>&1 &
QEMU_PID=$!
start_guard "$QEMU_PID" "$SERIAL" KILL

watch_run "$QEMU_PID" "$SERIAL" "$CLEAN" "$END" "$TIMEOUT" "$GRACE" "$START"
ELAPSED=$(since "$START")
SELF_EXIT=no
alive "$QEMU_PID" || SELF_EXIT=yes
stop_qemu
stop_guard

# ---- verdict ----
STATS="$ELAPSED s"
[[ $SELF_EXIT == yes ]] && STATS+=", QEMU exited by itself" || STATS+=", QEMU stopped"
case $OUTCOME in
end)
	echo "qemu.sh $NAME: ok ($STATS)"
	exit 0
	;;
timeout)
	echo "$PROG: timeout after $TIMEOUT s (no /$END/ in build/boot/$NAME/serial.log)"
	;;
exited)
	echo "$PROG: QEMU exited without end marker /$END/ after $ELAPSED s"
	;;
esac
if [[ -s $QOUT ]]; then
	tail -n 5 "$QOUT" | sed 's/^/  qemu.out: /'
fi
echo "qemu.sh $NAME: FAIL ($STATS)"
exit 1
