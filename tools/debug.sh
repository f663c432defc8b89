#!/bin/bash
# `make debug`: boots keel under Bochs 2.7 (1 CPU) with the Bochs debugger interactive and keel's
# symbols loaded. keel stops itself at Bochs magic breakpoints (keel.cfg break=, DEBUG_BREAK).
#
# keel moves itself to memory the firmware picks at run time, so its symbols need that base. Bochs is
# deterministic, so a first boot without breakpoints learns the base from keel's banner on the serial
# port ("image base 0x..."), and the interactive boot, identical up to keel's first breakpoint,
# starts with `ldsym global "build/keel.sym" BASE` and `c`. docs/bochs-debugging.md walks through it.
# With --stop-at-exit N (make debug STOP_AT_EXIT=N) both boots run the instrumented Bochs 3.0
# (tools/bochs3.sh --instrumented): the first records the exit trace up to exit N and shows it, the
# second breaks into the debugger right after exit N, before keel's first instruction for it.
# --stop-at REASON:K (make debug STOP_AT=REASON:K) is the same stop at the K-th exit of that reason:
# the first boot, which always runs then, finds that exit's number N in its trace (tools/trace nth).
# --trace-only records the whole boot's trace instead, to choose N.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROG=debug
# shellcheck source=tests/boot/lib.sh
source tests/boot/lib.sh # start_guard: no Bochs outlives this script, even a SIGKILLed one

usage() {
	cat >&2 <<'EOF'
usage: tools/debug.sh [--break LIST] [--base ADDR] [--batch FILE] [--stop-at-exit N | --stop-at REASON:K]
                      [--trace-only]
  --break LIST  keel.cfg break=: launch, exit, launch,exit or none (default $DEBUG_BREAK or launch)
  --base ADDR   keel's image base, when known: skips the first boot (default $DEBUG_BASE)
  --batch FILE  not interactive: run the debugger commands in FILE after ldsym (end it with q);
                (first c, to run to a stop); output in build/boot/image-debug/debug.bochs.out
  --stop-at-exit N  stop at VM exit N (1 = the first, all CPUs counted; default $STOP_AT_EXIT);
                    break defaults to none
  --stop-at REASON:K  stop at the K-th VM exit (from 1, all CPUs counted) whose basic exit reason is
                    REASON: a number (decimal or 0x hex) or its name as tools/trace prints it, any
                    case (CPUID, VMCALL, EPT violation, ...; tools/trace reasons lists them);
                    default $STOP_AT; break defaults to none
  --trace-only  no debugger stop: boot this configuration to the end under the instrumented Bochs,
                write its exit trace to build/boot/image-debug/trace.txt and summarize it
Environment: DEBUG_TIMEOUT (seconds for the first boot, and for --batch; default 600).
EOF
	exit 2
}

die() {
	echo "debug: $*" >&2
	exit 1
}

BREAK=${DEBUG_BREAK:-launch}
BREAK_GIVEN=${DEBUG_BREAK:+yes}
BASE=${DEBUG_BASE:-}
BATCH=
STOP=${STOP_AT_EXIT:-}
STOP_FROM=STOP_AT_EXIT # what set STOP, for the messages
STOP_SPEC=${STOP_AT:-}
SPEC_FROM=STOP_AT
TRACE_ONLY=
TIMEOUT=${DEBUG_TIMEOUT:-600}
while [[ $# -gt 0 ]]; do
	[[ $1 == -h || $1 == --help ]] && usage
	if [[ $1 == --trace-only ]]; then
		TRACE_ONLY=yes
		shift
		continue
	fi
	[[ $# -ge 2 ]] || { echo "debug: $1 needs a value" >&2; usage; }
	case $1 in
	--break) BREAK=$2 BREAK_GIVEN=yes ;;
	--base) BASE=$2 ;;
	--batch) BATCH=$2 ;;
	--stop-at-exit) STOP=$2 STOP_FROM=--stop-at-exit ;;
	--stop-at) STOP_SPEC=$2 SPEC_FROM=--stop-at ;;
	*) echo "debug: unknown argument '$1'" >&2; usage ;;
	esac
	shift 2
done
[[ $BREAK =~ ^(none|(launch|exit)(,(launch|exit))*)$ ]] ||
	die "break '$BREAK': expected none, or a comma-separated list of launch, exit"
[[ -z $BASE || $BASE =~ ^0x[0-9a-fA-F]+$ ]] || die "base '$BASE': expected a hex address such as 0x1e159000"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "DEBUG_TIMEOUT '$TIMEOUT': expected seconds"
[[ -z $BATCH || -f $BATCH ]] || die "--batch $BATCH: file not found"
[[ -z $STOP || $STOP =~ ^[1-9][0-9]*$ ]] ||
	die "$STOP_FROM '$STOP': expected a number from 1 (the exit's sequence number in the trace, all CPUs counted)"
[[ -z $STOP || -z $STOP_SPEC ]] || die "$STOP_FROM and $SPEC_FROM both given: give one of them"
STOP_REASON= STOP_K=
if [[ -n $STOP_SPEC ]]; then
	# REASON:K, split at the last colon; tools/trace knows the reasons' names.
	if [[ $STOP_SPEC =~ ^(.+):([1-9][0-9]*)$ ]]; then
		STOP_K=${BASH_REMATCH[2]}
		STOP_REASON=$(tools/trace reason "${BASH_REMATCH[1]}" 2>/dev/null) || STOP_REASON=
	fi
	[[ -n $STOP_REASON ]] ||
		die "$SPEC_FROM '$STOP_SPEC': expected REASON:K, K a number from 1 (the K-th exit of that reason, all CPUs counted) and REASON a basic exit reason, by number (0 to 65535, decimal or 0x hex) or by its name as tools/trace prints it, any case: $(tools/trace reasons | cut -d' ' -f2- | paste -sd, - | sed 's/,/, /g')"
fi

OVMF=/usr/share/ovmf/OVMF.fd
VGABIOS=/usr/share/bochs/VGABIOS-lgpl-latest
for f in build/keel.so build/keel.efi build/guest/selftest.efi; do
	[[ -f $f ]] || die "$f not found (run 'make' first)"
done
for f in "$OVMF" "$VGABIOS"; do
	[[ -f $f ]] || die "$f missing (tools/deps.sh boot)"
done
command -v bochs >/dev/null || die "bochs not installed (tools/deps.sh boot)"
EMU=bochs
DBG=() # Bochs 3.0 starts its debugger only when asked (-dbg); Debian's 2.7 always does
if [[ -n $STOP || -n $STOP_SPEC || -n $TRACE_ONLY ]]; then
	EMU=$(tools/bochs3.sh --instrumented) || die "no instrumented Bochs 3.0 (tools/bochs3.sh --instrumented)"
	DBG=(-dbg)
	[[ -n $BREAK_GIVEN ]] || BREAK=none
fi

WORK=$ROOT/build/boot/image-debug
SYM=$ROOT/build/keel.sym
mkdir -p "$WORK"

# ---- symbols: link-time addresses (keel links at 0), text symbols plus the image's two ends ----
nm build/keel.so | awk '
	($2 == "T" || $2 == "t") && $3 !~ /^\./ && $3 != "_text" && $3 != "_etext" { print $1, $3 }
	$3 == "ImageBase" || $3 == "__keel_image_end" { print $1, $3 }' | sort >"$SYM"
echo "debug: $(wc -l <"$SYM") symbols in build/keel.sym (Bochs ldsym format, addresses relative to keel's base)"

# ---- the disk: the image of `make image`, with break= ----
# Every boot of this configuration must run from the same bytes, in this run and in the next one
# (--trace-only, then a stop at an exit of that trace): a fresh image gets new GUIDs, a new volume
# serial and new time stamps, and the firmware's work, hence every later instruction count, moves
# with them. SOURCE_DATE_EPOCH makes the image a function of its inputs (tools/mkimage.sh).
TIME0=1700000000 # also the emulated clock's start (bochsrc time0=)
SOURCE_DATE_EPOCH=$TIME0 tools/mkimage.sh --out "$WORK/keel.img" --next '\EFI\keel\selftest.efi' --cfg-extra "break=$BREAK" |
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
clock: sync=none, time0=$TIME0
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

# probe_done: the first boot has what it is for: keel's base; with --stop-at-exit, exit N's trace
# record too (to show it); with --stop-at, the exit it names (its number becomes STOP); with
# --trace-only, the end of selftest. --base skips it (not with --trace-only or --stop-at).
probe_done() {
	[[ -n $BASE ]] || return 1
	if [[ -n $TRACE_ONLY ]]; then
		tr -d '\r' <"$WORK/probe.serial.log" | grep -aqE 'selftest: [0-9]+ passed'
	elif [[ -n $STOP_SPEC ]]; then
		STOP=$(tools/trace nth "$WORK/probe.trace" "$STOP_REASON" "$STOP_K" 2>/dev/null) || STOP=
		[[ -n $STOP ]]
	elif [[ -n $STOP ]]; then
		grep -q "^X $STOP " "$WORK/probe.trace" 2>/dev/null
	fi
}

# ---- first boot: no breakpoints; stop once keel has printed its base (and see probe_done) ----
if [[ -z $BASE || -n $TRACE_ONLY || -n $STOP_SPEC ]]; then
	PROBE_BASE=$BASE
	bochsrc probe 0
	echo c >"$WORK/probe.cmds"
	rm -f "$WORK/probe.trace"
	echo "debug: first boot ($EMU, no breakpoints) to learn keel's image base${STOP:+ and exit $STOP}${STOP_SPEC:+ and the number of exit $STOP_SPEC}${TRACE_ONLY:+ and the whole trace}"
	(cd "$WORK" && KEEL_TRACE=$WORK/probe.trace TERM=xterm exec "$EMU" "${DBG[@]}" -q -f probe.bochsrc -rc probe.cmds \
		</dev/null >probe.bochs.out 2>&1) &
	BOCHS_PID=$!
	start_guard "$BOCHS_PID" probe.bochsrc KILL
	start=$SECONDS
	while :; do
		BASE=${PROBE_BASE:-$(base_in "$WORK/probe.serial.log")}
		probe_done && break
		if ! kill -0 "$BOCHS_PID" 2>/dev/null; then
			[[ -n $TRACE_ONLY && -n $BASE ]] && break
			[[ -n $BASE ]] && die "Bochs ended before exit ${STOP_SPEC:-$STOP} (see $WORK/probe.*)"
			die "Bochs ended before keel printed its base (see $WORK/probe.*)"
		fi
		((SECONDS - start < TIMEOUT)) || die "the first boot did not finish in $TIMEOUT s (see $WORK/probe.serial.log)"
		sleep 0.5
	done
	sleep 0.2 # the last trace lines (line-buffered) of a boot that has just finished
	stop_bochs
	rm -f "$WORK/probe.img" "$WORK/probe.img.lock"
	echo "debug: keel's image base is $BASE"
	if [[ -n $TRACE_ONLY ]]; then
		mv "$WORK/probe.trace" "$WORK/trace.txt"
		echo "debug: exit trace of this configuration (1 CPU, selftest) in $WORK/trace.txt"
		tools/trace summary "$WORK/trace.txt"
		exit 0
	fi
	if [[ -n $STOP ]]; then
		[[ -z $STOP_SPEC ]] || echo "debug: $SPEC_FROM $STOP_SPEC: exit $STOP of this boot is exit number $STOP_K of basic reason $STOP_REASON"
		grep "^X $STOP " "$WORK/probe.trace" | awk '{ printf "debug: exit %s in the first boot: cpu %s, reason 0x%s, qualification 0x%s, guest RIP 0x%s, VMCS 0x%s, icount %s\n", $2, $3, $5, $6, $7, $8, $4 }'
	fi
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

# stop_env: in the debugging boot's subshell, the module's stop at exit N and its trace.
stop_env() {
	if [[ -n $STOP ]]; then
		export KEEL_TRACE_STOP=$STOP KEEL_TRACE=$WORK/debug.trace
	fi
}

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
	(cd "$WORK" && stop_env && TERM=xterm exec "$EMU" "${DBG[@]}" -q -f debug.bochsrc -rc debug.cmds </dev/null >debug.bochs.out 2>&1) &
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
if [[ -n $STOP ]]; then
	echo "debug: Bochs stops right after exit $STOP, at keel's vmx_exit_entry (\"keel-trace: exit $STOP ...\")."
fi
check_base "$TIMEOUT" &
CHECKER=$!
trap 'kill "$CHECKER" 2>/dev/null || true' EXIT
# The debugger owns the terminal: Ctrl-C goes to Bochs, which stops the simulation at its prompt.
trap ':' INT
status=0
(cd "$WORK" && stop_env && TERM=${TERM:-xterm} exec "$EMU" "${DBG[@]}" -q -f debug.bochsrc -rc debug.cmds) || status=$?
echo "debug: Bochs exited with status $status (logs in build/boot/image-debug/)"
