#!/bin/bash
# make debug STOP_AT_EXIT=N and STOP_AT=REASON:K on the instrumented Bochs 3.0: a full boot of the
# debug configuration records the exit trace (tools/debug.sh --trace-only); a second boot stops in
# the Bochs debugger at exit N of that trace (--stop-at-exit N), a third at the same exit named as
# the K-th CPUID exit (STOP_AT=CPUID:K, whose own first boot finds N). What the debugger reads at
# each stop (the VMCS fields Bochs saved at that exit, the CPU's position and time) must be exit N
# of the first boot. Bochs with clock sync=none replays the same boot exactly, so any difference is
# a bug in the stop or in the trace.
set -euo pipefail
PROG=t-bochs3-stop-at-exit
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-stop-at-exit
t_need build/keel.so build/keel.efi "$GUEST_DIR/selftest.efi"
WORK=build/boot/image-debug
OUT=$ROOT/build/boot/$T_NAME
mkdir -p "$OUT"

if ! DEBUG_TIMEOUT=900 tools/debug.sh --trace-only >"$OUT/trace-only.out" 2>&1; then
	sed 's/^/    /' "$OUT/trace-only.out" | tail -n 20
	echo "  FAIL tools/debug.sh --trace-only"
	echo "$T_NAME: FAIL"
	exit 1
fi
TRACE=$OUT/trace.txt
cp "$WORK/trace.txt" "$TRACE"
BASE=$(sed -nE "s/^debug: keel's image base is (0x[0-9a-f]+)$/\1/p" "$OUT/trace-only.out")
TOTAL=$(grep -c '^X ' "$TRACE" || true)
echo "  ..   first boot: $TOTAL exits, keel at ${BASE:-?}"
if [[ -z $BASE ]] || ((TOTAL < 100)); then
	echo "  FAIL the first boot gave no image base or fewer than 100 exits"
	echo "$T_NAME: FAIL"
	exit 1
fi

# Exit N: the first CPUID exit after the middle of the boot (the handler everyone steps through).
N=$(awk -v h=$((TOTAL / 2)) '$1 == "X" && $2 >= h && $5 == "a" { print $2; exit }' "$TRACE")
read -r _ _ _ ICOUNT REASON QUAL RIP VMCS < <(grep "^X $N " "$TRACE")
echo "  ..   exit $N of the trace: reason 0x$REASON, qualification 0x$QUAL, guest RIP 0x$RIP, VMCS 0x$VMCS, icount $ICOUNT"

# Bochs 3.0's VMCS layout (cpu/vmcs.cc, init_generic_mapping): after 16 bytes of header, the fields
# grouped by width (16-bit, 64-bit, 32-bit, natural: 0x20, 0x50, 0x30, 0x30 encodings of 4 bytes
# per type), within a width by type (control, read-only, guest, host), then by encoding & 0x3ff.
vmcs_offset() {
	local e=$1 w t n=(0x20 0x50 0x30 0x30) off=0x10 i
	w=$(((e >> 13) & 3)) t=$(((e >> 10) & 3))
	for ((i = 0; i < w; i++)); do off=$((off + 16 * n[i])); done
	echo $((off + t * 4 * n[w] + 4 * (e & 0x3ff)))
}
field_addr() { printf '0x%x' $((0x$VMCS + $(vmcs_offset "$1"))); }
cat >"$OUT/cmds" <<EOF
c
xp /1wx $(field_addr 0x4402)
xp /1gx $(field_addr 0x6400)
xp /1gx $(field_addr 0x681e)
ptime
q
EOF
K=$(awk -v n="$N" '$1 == "X" && $2 <= n && $5 == "a" { k++ } END { print k + 0 }' "$TRACE")
echo "  ..   it is CPUID exit $K of the boot"

# stop_boot NAME ARGS...: a batch run of tools/debug.sh ARGS with the commands above; its output and
# the debugging boot's Bochs output and trace (up to the stop) kept as $OUT/NAME.*.
stop_boot() {
	local name=$1
	shift
	rm -f "$WORK/debug.bochs.out" "$WORK/debug.trace"
	DEBUG_TIMEOUT=900 tools/debug.sh "$@" --batch "$OUT/cmds" >"$OUT/$name.out" 2>&1 || true
	cp "$WORK/debug.bochs.out" "$OUT/$name.bochs.out" 2>/dev/null || : >"$OUT/$name.bochs.out"
	cp "$WORK/debug.trace" "$OUT/$name.trace" 2>/dev/null || : >"$OUT/$name.trace"
}
unset STOP_AT STOP_AT_EXIT DEBUG_BREAK DEBUG_BASE
stop_boot stop-exit --stop-at-exit "$N" --base "$BASE"
STOP_AT="CPUID:$K" stop_boot stop-at # as make debug STOP_AT=CPUID:K passes it

# xp prints "0xADDRESS <bogus+ 0>:<tab>0xVALUE"
xp_value() { awk -v a="$(printf '0x%016x' "$2")" 'index($0, a " ") == 1 { print $NF; exit }' "$1"; }
same_hex() { [[ -n $1 && $(($1)) == $((0x$2)) ]]; }
ptime_of() { sed -nE 's/^ptime: ([0-9]+)$/\1/p' "$1" | head -n 1; }

# Time at the stop. ptime is Bochs's tick count (bx_pc_system.time_ticks()), the trace's icount the
# CPU's instruction count (get_icount()). In the debugger's one-CPU loop (cpu_loop_debugger,
# cpu/cpu.cc) each instruction, and the exiting instruction that VMexit() longjmps out of, adds 1
# to both; a CPU in HLT (or MWAIT) adds 10 ticks per pass of handleWaitForEvent (cpu/event.cc) and
# no instruction; the REP and string-I/O batches that tick by more run only with no async event,
# never under the debugger. So at the stop ptime = icount + 1 + 10 * (HLT passes so far): equal to
# icount + 1 only while the firmware has not halted yet, and one instruction too early or too late
# leaves a remainder mod 10.
time_is_exit_n() {
	local t
	t=$(ptime_of "$1")
	[[ -n $t ]] && ((t >= ICOUNT + 1 && (t - ICOUNT - 1) % 10 == 0))
}

# stop_checks NAME DESCRIPTION: the checks of one stopping boot.
stop_checks() {
	local name=$1 what=$2 bo=$OUT/$1.bochs.out t
	stopped_once() { [[ $(grep -ac "^keel-trace: exit $N (cpu 0, reason 0x$REASON, guest RIP 0x$RIP," "$bo") == 1 ]]; }
	t_check "$what: the module stopped at exit $N, same reason and RIP" stopped_once
	t_check "$what: the VMCS exit reason at the stop is 0x$REASON ($(xp_value "$bo" "$(field_addr 0x4402)"))" \
		same_hex "$(xp_value "$bo" "$(field_addr 0x4402)")" "$REASON"
	t_check "$what: the VMCS exit qualification at the stop is 0x$QUAL" \
		same_hex "$(xp_value "$bo" "$(field_addr 0x6400)")" "$QUAL"
	t_check "$what: the VMCS guest RIP at the stop is the trace's 0x$RIP ($(xp_value "$bo" "$(field_addr 0x681e)"))" \
		same_hex "$(xp_value "$bo" "$(field_addr 0x681e)")" "$RIP"
	# Before keel's first instruction for the exit: at the host RIP, keel's vmx_exit_entry.
	at_exit_entry() { grep -aqE '\(vmx_exit_entry\+0\): ' "$bo"; }
	t_check "$what: the CPU is at keel's vmx_exit_entry+0" at_exit_entry
	# The module wrote exit N's record before stopping: the same instruction count as in the first
	# boot is the replay, to the instruction.
	same_record() { [[ $(grep "^X $N " "$OUT/$name.trace") == "$(grep "^X $N " "$TRACE")" ]]; }
	t_check "$what: its trace's exit $N is the first boot's, icount $ICOUNT included" same_record
	t=$(ptime_of "$bo")
	t_check "$what: the debugger's time ${t:-none} is the trace's icount + 1 + 10 per HLT pass (+$(( ${t:-0} - ICOUNT - 1 )))" \
		time_is_exit_n "$bo"
}
stop_checks stop-exit "STOP_AT_EXIT=$N"
named_exit() { grep -qF "debug: STOP_AT CPUID:$K: exit $N of this boot is exit number $K of basic reason 10" "$OUT/stop-at.out"; }
t_check "STOP_AT=CPUID:$K: tools/debug.sh found it as exit $N in its first boot" named_exit
stop_checks stop-at "STOP_AT=CPUID:$K"
same_time() { [[ -n $(ptime_of "$OUT/stop-exit.bochs.out") && $(ptime_of "$OUT/stop-exit.bochs.out") == "$(ptime_of "$OUT/stop-at.bochs.out")" ]]; }
t_check "both stops at exit $N came at the same debugger time" same_time
t_done
