#!/bin/bash
# Boots an ESP directory in Bochs 2.7 + OVMF, echoes serial milestones live, and passes when the end
# marker appears in build/boot/NAME/serial.log with no VM-entry failure or unexpected panic in bochs.log.
set -euo pipefail

PROG="bochs.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/boot/lib.sh
source "$ROOT/tests/boot/lib.sh"

usage() {
	cat <<EOF
usage: tests/boot/bochs.sh --esp DIR --name NAME [--cpus 2] [--megs 512] [--timeout 300]
                           [--end REGEX] [--allow-panic REGEX] [--grace SECONDS] [--bochs PATH]
                           [--expect-entry-failure] [--model corei7_skylake_x] [--ips 200000000]
                           [--msrs FILE] [--rc LINE]...
PATH: the emulator to run (default: bochs, Debian 12's 2.7; tools/bochs3.sh builds 3.0).
--model: a Bochs CPU model ('PATH -help cpu' lists them). --msrs: Bochs's cpu: msrs= file (the
format of Bochs's msrs.def); unknown MSRs then raise #GP as on hardware (ignore_bad_msrs=0).
--rc: a line appended to the bochsrc (repeatable).
Work files (bochsrc, cmds, serial.log, bochs.log, bochs.out, esp/) go to build/boot/NAME/.
EOF
	exit 2
}

ESP='' NAME='' CPUS=2 MEGS=512 TIMEOUT=300 END='selftest: [0-9]+ passed' ALLOW_PANIC='' GRACE=3
EMU=bochs EXPECT_ENTRY_FAILURE='' MODEL=corei7_skylake_x IPS=200000000 MSRS=
RC_EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--esp) need_arg "$1" $#; ESP=$2; shift 2 ;;
	--name) need_arg "$1" $#; NAME=$2; shift 2 ;;
	--cpus) need_arg "$1" $#; CPUS=$2; shift 2 ;;
	--megs) need_arg "$1" $#; MEGS=$2; shift 2 ;;
	--timeout) need_arg "$1" $#; TIMEOUT=$2; shift 2 ;;
	--end) need_arg "$1" $#; END=$2; shift 2 ;;
	--allow-panic) need_arg "$1" $#; ALLOW_PANIC=$2; shift 2 ;;
	--grace) need_arg "$1" $#; GRACE=$2; shift 2 ;;
	--bochs) need_arg "$1" $#; EMU=$2; shift 2 ;;
	--expect-entry-failure) EXPECT_ENTRY_FAILURE=yes; shift ;;
	--model) need_arg "$1" $#; MODEL=$2; shift 2 ;;
	--ips) need_arg "$1" $#; IPS=$2; shift 2 ;;
	--msrs) need_arg "$1" $#; MSRS=$2; shift 2 ;;
	--rc) need_arg "$1" $#; RC_EXTRA+=("$2"); shift 2 ;;
	-h | --help) usage ;;
	*) echo "$PROG: unknown argument '$1'" >&2; usage ;;
	esac
done
[[ -n $ESP && -n $NAME ]] || usage
check_name "$NAME"
check_uint --cpus "$CPUS"
check_uint --megs "$MEGS"
check_uint --timeout "$TIMEOUT"
check_uint --grace "$GRACE"
check_uint --ips "$IPS"
[[ $MODEL =~ ^[a-z0-9_]+$ ]] || die "--model wants a Bochs CPU model name, got '$MODEL'"
if [[ -n $MSRS ]]; then
	[[ -f $MSRS ]] || die "--msrs $MSRS: no such file"
	MSRS=$(cd "$(dirname "$MSRS")" && pwd)/$(basename "$MSRS")
fi
[[ -d $ESP ]] || die "ESP directory '$ESP' not found"
PROG="bochs.sh $NAME"

OVMF=/usr/share/ovmf/OVMF.fd
VGABIOS=/usr/share/bochs/VGABIOS-lgpl-latest
for f in "$OVMF" "$VGABIOS"; do
	[[ -f $f ]] || die "$f missing (tools/deps.sh boot)"
done
command -v bochs >/dev/null || die "bochs not installed (tools/deps.sh boot)"
# Bochs runs inside its work directory: a relative --bochs path must not depend on that.
if [[ $EMU == */* ]]; then
	[[ -x $EMU ]] || die "--bochs $EMU: no such executable"
	EMU=$(cd "$(dirname "$EMU")" && pwd)/$(basename "$EMU")
fi

# ---- work directory: a private copy of the ESP (vvfat keeps a journal and may write back) ----
ESP=$(cd "$ESP" && pwd)
WORK="$ROOT/build/boot/$NAME"
rm -rf "$WORK"
mkdir -p "$WORK"
cp -r "$ESP" "$WORK/esp"
SERIAL="$WORK/serial.log" CLEAN="$WORK/serial.clean" BLOG="$WORK/bochs.log" BOUT="$WORK/bochs.out"
RC="$WORK/bochsrc" CMDS="$WORK/cmds"
: >"$SERIAL"

CPU_LINE="cpu: model=$MODEL, count=$CPUS, ips=$IPS"
[[ -z $MSRS ]] || CPU_LINE+=", ignore_bad_msrs=0, msrs=\"$MSRS\""
cat >"$RC" <<EOF
megs: $MEGS
$CPU_LINE
romimage: file=$OVMF, address=0xffe00000
vgaromimage: file=$VGABIOS
ata0-master: type=disk, path=$WORK/esp, mode=vvfat, journal=$WORK/esp.redolog
boot: disk
com1: enabled=1, mode=file, dev=$SERIAL
display_library: term
log: $BLOG
magic_break: enabled=0
port_e9_hack: enabled=1
EOF
((${#RC_EXTRA[@]} == 0)) || printf '%s\n' "${RC_EXTRA[@]}" >>"$RC"
# The Debian build has the debugger compiled in: without "c" it stops at the first instruction.
echo c >"$CMDS"

# ---- the emulator and its cleanup ----
BOCHS_PID=
# Every bochs-bin started with our bochsrc (normally just BOCHS_PID after the wrapper's exec).
our_emulators() {
	local p
	for p in $(pgrep -x bochs-bin || true) $(pgrep -x bochs || true); do
		if cmdline_has "$p" "$RC"; then
			echo "$p"
		fi
	done
}

stop_bochs() {
	local p
	# The debugger build ignores SIGTERM and SIGINT: only SIGKILL stops it.
	if [[ -n $BOCHS_PID ]] && alive "$BOCHS_PID"; then
		kill -KILL "$BOCHS_PID" 2>/dev/null || true
	fi
	[[ -n $BOCHS_PID ]] && { wait "$BOCHS_PID" 2>/dev/null || true; }
	for p in $(our_emulators); do
		echo "$PROG: killing leftover bochs-bin $p" >&2
		kill -KILL "$p" 2>/dev/null || true
	done
}

# The term display writes the screen to a pseudo-terminal that nobody else reads; once its buffer is
# full Bochs blocks in write(2) (n_tty_write) and the guest stands still (a 4-CPU Linux boot did,
# for 10 minutes, docs/smp.md). So a reader drains it for the whole run.
DRAIN_PID=
drain_screen() {
	local pts=
	for _ in $(seq 1 300); do
		pts=$(grep -ao 'Bochs connected to screen "/dev/pts/[0-9]*"' "$BOUT" 2>/dev/null | grep -o '/dev/pts/[0-9]*') && break
		sleep 1
	done
	[[ -n $pts ]] && exec cat "$pts" >/dev/null 2>&1
}
stop_drain() {
	[[ -n $DRAIN_PID ]] || return 0
	kill "$DRAIN_PID" 2>/dev/null || true
	wait "$DRAIN_PID" 2>/dev/null || true
	DRAIN_PID=
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	trap - EXIT INT TERM
	stop_bochs
	stop_guard
	stop_drain
}
trap cleanup EXIT
trap 'echo "$PROG: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

START=$(now)
echo "bochs.sh $NAME: Bochs $MODEL${MSRS:+ (strict MSRs)}, $CPUS CPUs, $MEGS MiB, timeout ${TIMEOUT}s, end marker /$END/ (logs in build/boot/$NAME/)"
# /usr/bin/bochs is a script that execs bochs-bin: $! is the emulator itself once the exec is done.
# TERM: the term display needs a terminfo entry even though its output goes to a file.
rm -f "$BOUT" # drain_screen must not find the last run's screen
(cd "$WORK" && TERM=xterm exec "$EMU" -q -f "$RC" -rc "$CMDS" </dev/null >"$BOUT" 2>&1) &
BOCHS_PID=$!
start_guard "$BOCHS_PID" "$RC" KILL
drain_screen &
DRAIN_PID=$!

watch_run "$BOCHS_PID" "$SERIAL" "$CLEAN" "$END" "$TIMEOUT" "$GRACE" "$START"
ELAPSED=$(since "$START")
SELF_EXIT=no
alive "$BOCHS_PID" || SELF_EXIT=yes
stop_bochs
stop_guard
stop_drain
BOCHS_PID=
LEFT=$(our_emulators)
[[ -z $LEFT ]] || echo "$PROG: bochs-bin still running after SIGKILL: $LEFT" >&2

# ---- verdict ----
FAIL=0
case $OUTCOME in
end) ;;
timeout)
	echo "$PROG: timeout after $TIMEOUT s (no /$END/ in build/boot/$NAME/serial.log)"
	FAIL=1
	;;
exited)
	echo "$PROG: Bochs exited without end marker /$END/ after $ELAPSED s"
	grep -aA1 'exiting with the following message' "$BOUT" 2>/dev/null | tail -n 1 | sed 's/^/  bochs.out: /' || true
	FAIL=1
	;;
esac

if [[ -f $BLOG ]]; then
	BAD=$(grep -aE 'VMFAIL|VMENTER FAIL|Guest State Checks Failed' "$BLOG" | head -n 5 || true)
	if [[ -n $EXPECT_ENTRY_FAILURE ]]; then
		# A negative test: the failure must be there (and is reported, not counted against us).
		if [[ -z $BAD ]]; then
			echo "$PROG: expected a VM-entry failure in bochs.log, found none"
			FAIL=1
		else
			printf '%s\n' "$BAD" | sed 's/^/  bochs.log (expected): /'
		fi
	elif [[ -n $BAD ]]; then
		echo "$PROG: VM-entry failure in bochs.log:"
		printf '%s\n' "$BAD" | sed 's/^/  bochs.log: /'
		FAIL=1
	fi
	# A guest power-off is logged as a panic ("ACPI control: soft power off" after ResetSystem, or
	# "Shutdown port: shutdown requested" after "Shutdown" written to port 0x8900): a normal end.
	PANICS=$(grep -a '>>PANIC<<' "$BLOG" |
		grep -avE 'ACPI control: soft power off|Shutdown port: shutdown requested' || true)
	if [[ -n $PANICS && -n $ALLOW_PANIC ]]; then
		PANICS=$(printf '%s\n' "$PANICS" | grep -avE -- "$ALLOW_PANIC" || true)
	fi
	if [[ -n $PANICS ]]; then
		echo "$PROG: unexpected >>PANIC<< in bochs.log:"
		printf '%s\n' "$PANICS" | head -n 5 | sed 's/^/  bochs.log: /'
		FAIL=1
	fi
	# Bochs prints "(0).[TICKS] ..." when it exits by itself; otherwise take the last log line's tick.
	TICKS=$(grep -aoE '^\(0\)\.\[[0-9]+\]' "$BOUT" 2>/dev/null | tail -n 1 | sed -E 's/.*\[0*([0-9]+)\]/\1/' || true)
	[[ -n $TICKS ]] || TICKS=$(grep -aoE '^[0-9]{11,}' "$BLOG" | tail -n 1 | sed 's/^0*//' || true)
else
	echo "$PROG: no bochs.log (Bochs did not start? see build/boot/$NAME/bochs.out)"
	tail -n 5 "$BOUT" 2>/dev/null | sed 's/^/  bochs.out: /' || true
	FAIL=1
	TICKS=
fi

STATS="$ELAPSED s"
if [[ -n $TICKS && $TICKS != 0 ]]; then
	GTICKS=$(awk -v t="$TICKS" 'BEGIN { printf "%.2f", t / 1e9 }')
	# A killed Bochs has not flushed its log: its last line is only a lower bound.
	[[ $SELF_EXIT == yes ]] && STATS+=", $GTICKS G ticks" || STATS+=", at least $GTICKS G ticks"
fi
[[ $SELF_EXIT == yes ]] && STATS+=", Bochs exited by itself" || STATS+=", Bochs killed"
if ((FAIL)); then
	echo "bochs.sh $NAME: FAIL ($STATS)"
	exit 1
fi
echo "bochs.sh $NAME: ok ($STATS)"
