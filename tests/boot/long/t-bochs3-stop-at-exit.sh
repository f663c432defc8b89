#!/bin/bash
# make debug STOP_AT_EXIT=N on the instrumented Bochs 3.0: a full boot of the debug configuration
# records the exit trace (tools/debug.sh --trace-only); a second boot stops in the Bochs debugger at
# exit N of that trace, and what the debugger reads there (the VMCS fields Bochs saved at that exit,
# the CPU's position and time) must be exit N of the first boot. Bochs with clock sync=none replays
# the same boot exactly, so any difference is a bug in the stop or in the trace.
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
DEBUG_TIMEOUT=900 tools/debug.sh --stop-at-exit "$N" --base "$BASE" --batch "$OUT/cmds" >"$OUT/stop.out" 2>&1 || true
BOCHS_OUT=$WORK/debug.bochs.out

stopped_once() { [[ $(grep -c "^keel-trace: exit $N (cpu 0, reason 0x$REASON, guest RIP 0x$RIP," "$BOCHS_OUT") == 1 ]]; }
t_check "the module stopped the second boot at exit $N, same reason and RIP" stopped_once

# xp prints "0xADDRESS <bogus+ 0>:<tab>0xVALUE"
xp_value() { awk -v a="$(printf '0x%016x' "$1")" 'index($0, a " ") == 1 { print $NF; exit }' "$BOCHS_OUT"; }
same_hex() { [[ -n $1 && $(($1)) == $((0x$2)) ]]; }
t_check "the VMCS exit reason at the stop is 0x$REASON ($(xp_value "$(field_addr 0x4402)"))" \
	same_hex "$(xp_value "$(field_addr 0x4402)")" "$REASON"
t_check "the VMCS exit qualification at the stop is 0x$QUAL" same_hex "$(xp_value "$(field_addr 0x6400)")" "$QUAL"
t_check "the VMCS guest RIP at the stop is the trace's 0x$RIP ($(xp_value "$(field_addr 0x681e)"))" \
	same_hex "$(xp_value "$(field_addr 0x681e)")" "$RIP"

# The debugger stops before keel's first instruction for the exit: at the host RIP, keel's
# vmx_exit_entry, one instruction (the exiting CPUID, retired by the exit) after the trace's icount.
at_exit_entry() { grep -qE '\(vmx_exit_entry\+0\): ' "$BOCHS_OUT"; }
t_check "the CPU is at keel's vmx_exit_entry+0" at_exit_entry
ptime_is() { grep -aqE "^ptime: $((ICOUNT + 1))\$" "$BOCHS_OUT"; }
t_check "the debugger's time is the trace's icount + 1 ($(grep -a -m1 '^ptime:' "$BOCHS_OUT" || echo none))" ptime_is
t_done
