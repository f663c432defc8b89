#!/bin/bash
# `make debug`: boots keel under Bochs 2.7 (1 CPU) with the Bochs debugger interactive and keel's
# symbols loaded. keel stops itself at Bochs magic breakpoints (keel.cfg break=, DEBUG_BREAK).
#
# keel moves itself to memory the firmware picks at run time, so its symbols need that base. Bochs is
# deterministic, so a first boot without breakpoints learns the base from keel's banner on the serial
# port ("image base 0x..."), and the interactive boot, identical up to keel's first breakpoint,
# starts with `ldsym global "build/keel.sym" BASE` and `c`. docs/bochs-debugging.md walks through it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROG=debug
# shellcheck source=tests/boot/lib.sh
source tests/boot/lib.sh # start_guard: no Bochs outlives this script, even a SIGKILLed one

usage() {
	cat >&2 <<'EOF'
usage: tools/debug.sh [--break LIST] [--base ADDR] [--batch FILE]
  --break LIST  keel.cfg break=: launch, exit, launch,exit or none (default $DEBUG_BREAK or launch)
  --base ADDR   keel's image base, when known: skips the first boot (default $DEBUG_BASE)
  --batch FILE  not interactive: run the debugger commands in FILE after ldsym (end it with q);
                output in build/boot/image-debug/bochs.out, shown at the end
Environment: DEBUG_TIMEOUT (seconds for the first boot, and for --batch; default 600).
EOF
	exit 2
}

die() {
	echo "debug: $*" >&2
	exit 1
}

BREAK=${DEBUG_BREAK:-launch}
BASE=${DEBUG_BASE:-}
BATCH=
TIMEOUT=${DEBUG_TIMEOUT:-600}
while [[ $# -gt 0 ]]; do
	[[ $1 == -h || $1 == --help ]] && usage
	[[ $# -ge 2 ]] || { echo "debug: $1 needs a value" >&2; usage; }
	case $1 in
	--break) BREAK=$2 ;;
	--base) BASE=$2 ;;
	--batch) BATCH=$2 ;;
	*) echo "debug: unknown argument '$1'" >&2; usage ;;
	esac
	shift 2
done
[[ $BREAK =~ ^(none|(launch|exit)(,(launch|exit))*)$ ]] ||
	die "break '$BREAK': expected none, or a comma-separated list of launch, exit"
[[ -z $BASE || $BASE =~ ^0x[0-9a-fA-F]+$ ]] || die "base '$BASE': expected a hex address such as 0x1e159000"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "DEBUG_TIMEOUT '$TIMEOUT': expected seconds"
[[ -z $BATCH || -f $BATCH ]] || die "--batch $BATCH: file not found"

OVMF=/usr/share/ovmf/OVMF.fd
VGABIOS=/usr/share/bochs/VGABIOS-lgpl-latest
for f in build/keel.so build/keel.efi build/guest/selftest.efi; do
	[[ -f $f ]] || die "$f not found (run 'make' first)"
done
for f in "$OVMF" "$VGABIOS"; do
	[[ -f $f ]] || die "$f missing (tools/deps.sh boot)"
done
command -v bochs >/dev/null || die "bochs not installed (tools/deps.sh boot)"

WORK=$ROOT/build/boot/image-debug
SYM=$ROOT/build/keel.sym
mkdir -p "$WORK"

# ---- symbols: link-time addresses (keel links at 0), text symbols plus the image's two ends ----
nm build/keel.so | awk '
	($2 == "T" || $2 == "t") && $3 !~ /^\./ && $3 != "_text" && $3 != "_etext" { print $1, $3 }
	$3 == "ImageBase" || $3 == "__keel_image_end" { print $1, $3 }' | sort >"$SYM"
echo "debug: $(wc -l <"$SYM") symbols in build/keel.sym (Bochs ldsym format, addresses relative to keel's base)"

# ---- the disk: the image of `make image`, with break= ----
tools/mkimage.sh --out "$WORK/keel.img" --next '\EFI\keel\selftest.efi' --cfg-extra "break=$BREAK" |
	grep -E 'keel.cfg: [a-z]' || true

# bochsrc NAME MAGIC: a configuration whose boot is identical for every NAME up to the first magic
# breakpoint: same disk contents (a fresh copy; a killed Bochs leaves its image locked), same clock.
bochsrc() {
	local name=$1 magic=$2
	rm -f "$WORK/$name.img" "$WORK/$name.img.lock"
	cp --sparse=always "$WORK/keel.img" "$WORK/$name.img"
	: >"$WORK/$name.serial.log"
	cat >"$WORK/$name.bochsrc" <<EOF
megs: 512
cpu: model=corei7_skylake_x, count=1, ips=200000000
clock: sync=none, time0=1700000000
romimage: file=$OVMF, address=0xffe00000
vgaromimage: file=$VGABIOS
ata0-master: type=disk, path=$WORK/$name.img, mode=flat, cylinders=256, heads=16, spt=32
boot: disk
com1: enabled=1, mode=file, dev=$WORK/$name.serial.log
display_library: term
log: $WORK/$name.bochs.log
magic_break: enabled=$magic
port_e9_hack: enabled=1
EOF
}

BOCHS_PID=
stop_bochs() {
	if [[ -n $BOCHS_PID ]] && kill -0 "$BOCHS_PID" 2>/dev/null; then
		kill -KILL "$BOCHS_PID" 2>/dev/null || true # the debugger build ignores SIGTERM
		wait "$BOCHS_PID" 2>/dev/null || true
	fi
	BOCHS_PID=
	stop_guard
}
trap stop_bochs EXIT

base_in() {
	tr -d '\r' <"$1" 2>/dev/null | grep -aoE 'keel: keel [^ ]+ starting, image base 0x[0-9a-f]+,' | head -n 1 |
		sed -E 's/.*image base (0x[0-9a-f]+),/\1/' || true
}

# ---- first boot: no breakpoints; stop once keel has printed its base ----
if [[ -z $BASE ]]; then
	bochsrc probe 0
	echo c >"$WORK/probe.cmds"
	echo "debug: first boot (Bochs, no breakpoints) to learn keel's image base; about 10-30 s"
	(cd "$WORK" && TERM=xterm exec bochs -q -f probe.bochsrc -rc probe.cmds </dev/null >probe.bochs.out 2>&1) &
	BOCHS_PID=$!
	start_guard "$BOCHS_PID" probe.bochsrc KILL
	start=$SECONDS
	while [[ -z $BASE ]]; do
		BASE=$(base_in "$WORK/probe.serial.log")
		[[ -n $BASE ]] && break
		kill -0 "$BOCHS_PID" 2>/dev/null || die "Bochs ended before keel printed its base (see $WORK/probe.*)"
		((SECONDS - start < TIMEOUT)) || die "no 'image base' line after $TIMEOUT s (see $WORK/probe.serial.log)"
		sleep 0.5
	done
	stop_bochs
	rm -f "$WORK/probe.img" "$WORK/probe.img.lock"
	echo "debug: keel's image base is $BASE"
fi

# ---- the debugging boot ----
bochsrc debug 1
LDSYM="ldsym global \"$SYM\" $BASE"
{
	echo "$LDSYM"
	if [[ -n $BATCH ]]; then
		cat "$BATCH"
	else
		echo c
	fi
} >"$WORK/debug.cmds"

# A boot that puts keel elsewhere (Bochs or OVMF not deterministic after all) gets a warning.
# check_base SECONDS: waits that long at most for the banner.
check_base() {
	local b= i
	for ((i = 0; i <= 2 * $1; i++)); do
		b=$(base_in "$WORK/debug.serial.log")
		[[ -n $b ]] && break
		sleep 0.5
	done
	if [[ -n $b && $b != "$BASE" ]]; then
		printf '\ndebug: WARNING: this boot put keel at %s, not %s: symbols are off; run\n' "$b" "$BASE"
		printf 'debug:     ldsym global "%s" %s\n' "$SYM" "$b"
	fi
}

if [[ -n $BATCH ]]; then
	echo "debug: batch run of $BATCH (output in $WORK/debug.bochs.out)"
	(cd "$WORK" && TERM=xterm exec bochs -q -f debug.bochsrc -rc debug.cmds </dev/null >debug.bochs.out 2>&1) &
	BOCHS_PID=$!
	start_guard "$BOCHS_PID" debug.bochsrc KILL
	start=$SECONDS
	while kill -0 "$BOCHS_PID" 2>/dev/null && ((SECONDS - start < TIMEOUT)); do
		sleep 0.5
	done
	kill -0 "$BOCHS_PID" 2>/dev/null && echo "debug: batch run still going after $TIMEOUT s: stopped"
	stop_bochs
	check_base 0
	sed -n '/^Next at t=0/,$p' "$WORK/debug.bochs.out"
	exit 0
fi

cat <<EOF
debug: interactive boot: Bochs starts with these debugger commands (build/boot/image-debug/debug.cmds):
debug:     $LDSYM
debug:     c
debug: keel stops at its magic breakpoints (break=$BREAK): Bochs prints "(0) Magic breakpoint".
debug: Then: u /10 (disassemble), r, sreg, creg, s (step), n, c (continue), info symbols "vmx_",
debug:       lb "vmx_exit_handler", show "cpu0.VMX", vmexitbp, q (quit). docs/bochs-debugging.md.
debug: keel's serial output: tail -f build/boot/image-debug/debug.serial.log (in another terminal)
debug: The screen is on the pseudo-terminal Bochs names ("Bochs connected to screen ...").
EOF
check_base "$TIMEOUT" &
CHECKER=$!
trap 'kill "$CHECKER" 2>/dev/null || true' EXIT
# The debugger owns the terminal: Ctrl-C goes to Bochs, which stops the simulation at its prompt.
trap ':' INT
status=0
(cd "$WORK" && TERM=${TERM:-xterm} exec bochs -q -f debug.bochsrc -rc debug.cmds) || status=$?
echo "debug: Bochs exited with status $status (logs in build/boot/image-debug/)"
