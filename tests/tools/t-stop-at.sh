#!/bin/bash
# What make debug STOP_AT=REASON:K rests on, without booting: tools/trace reason turns a reason's
# number or name into its number, tools/trace nth finds the K-th exit of a reason in a trace
# (trace-exceptions.txt), and tools/debug.sh rejects bad STOP_AT and STOP_AT_EXIT values by name,
# saying what it accepts, before it builds or boots anything.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
source tests/tools/lib.sh

T=tests/tools/trace-exceptions.txt
OUT=build/tests/tools/t-stop-at
mkdir -p "$OUT"

# tt_out DESCRIPTION WANT COMMAND...: COMMAND succeeds and prints exactly WANT.
tt_out() {
	local desc=$1 want=$2 got status=0
	shift 2
	got=$("$@" 2>&1) || status=$?
	if ((status == 0)) && [[ $got == "$want" ]]; then
		echo "  ok   $desc"
	else
		tt_fail "$desc: '$*' printed '$got' (status $status), expected '$want'"
	fi
}

# tt_refuses DESCRIPTION REGEX COMMAND...: COMMAND fails with status 1 within 30 s, and its output
# matches REGEX (extended).
tt_refuses() {
	local desc=$1 re=$2 status=0
	shift 2
	timeout -s KILL 30 "$@" >"$OUT/refuses.out" 2>&1 || status=$?
	if ((status == 1)) && grep -qE -- "$re" "$OUT/refuses.out"; then
		echo "  ok   $desc"
	else
		tt_fail "$desc: status $status, output:"
		sed 's/^/    | /' "$OUT/refuses.out" | cut -c1-200
	fi
}

tt_out "reason CPUID is 10" 10 tools/trace reason CPUID
tt_out "reason cpuid (any case) is 10" 10 tools/trace reason cpuid
tt_out "reason 'exception or NMI' is 0" 0 tools/trace reason 'exception or NMI'
tt_out "reason 'EPT violation' is 48" 48 tools/trace reason 'EPT violation'
tt_out "reason 0x30 is 48" 48 tools/trace reason 0x30
tt_out "reason 65535 is 65535" 65535 tools/trace reason 65535
tt_refuses "reason 65536 is refused" "'65536' is not an exit reason: expected a basic exit reason number \(0 to 65535, decimal or 0x hex\) or one of these names \(any case\): exception or NMI, .*, CPUID, " \
	tools/trace reason 65536
tt_refuses "reason 'cpu id' is refused" "'cpu id' is not an exit reason" tools/trace reason 'cpu id'

tt_out "nth: the 1st CPUID exit is exit 2" 2 tools/trace nth "$T" CPUID 1
tt_out "nth: the 2nd CPUID exit is exit 3 (cpu1's)" 3 tools/trace nth "$T" 10 2
tt_out "nth: the 3rd exception-or-NMI exit is exit 5" 5 tools/trace nth "$T" 0 3
tt_out "nth: a failed entry counts under its basic reason (invalid guest state: exit 6)" 6 \
	tools/trace nth "$T" 'invalid guest state' 1
tt_refuses "nth: no 4th exception-or-NMI exit" 'fewer than 4 exits of basic reason 0' tools/trace nth "$T" 0 4

# debug.sh checks its values first: none of these may get as far as a boot (30 s limit).
tt_refuses "debug.sh: STOP_AT=bogus:3 named, with the accepted values" \
	"^debug: STOP_AT 'bogus:3': expected REASON:K, K a number from 1 .* by its name as tools/trace prints it, any case: exception or NMI, .*, CPUID, " \
	env -u STOP_AT_EXIT STOP_AT=bogus:3 tools/debug.sh
tt_refuses "debug.sh: STOP_AT=CPUID (no K)" "^debug: STOP_AT 'CPUID': expected REASON:K" env -u STOP_AT_EXIT STOP_AT=CPUID tools/debug.sh
tt_refuses "debug.sh: STOP_AT=CPUID:0" "^debug: STOP_AT 'CPUID:0': expected REASON:K" env -u STOP_AT_EXIT STOP_AT=CPUID:0 tools/debug.sh
tt_refuses "debug.sh: --stop-at 70000:1" "^debug: --stop-at '70000:1': expected REASON:K" env -u STOP_AT -u STOP_AT_EXIT tools/debug.sh --stop-at 70000:1
tt_refuses "debug.sh: STOP_AT_EXIT=0" "^debug: STOP_AT_EXIT '0': expected a number from 1" env -u STOP_AT STOP_AT_EXIT=0 tools/debug.sh
tt_refuses "debug.sh: STOP_AT and STOP_AT_EXIT together" "^debug: STOP_AT_EXIT and STOP_AT both given: give one of them" \
	env STOP_AT=CPUID:1 STOP_AT_EXIT=5 tools/debug.sh
tt_done
