#!/bin/bash
# Runs the host unit tests (tools/run-unit.sh UNIT_BIN...), the mutation check of the shadow MMU's
# unit tests (tools/mutants.sh), the host tools' tests (tests/tools/run-all.sh), a 10-second smoke
# run of the exit-path fuzzer (tools/fuzz.sh, binary in $FUZZ_BIN) and then the boot tests
# (tests/boot/run-all.sh), and ends with one line "N passed, N failed" summing all five.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
START=$SECONDS
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keel-check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

passed=0 failed=0 broken=0

# run_suite LABEL SUMMARY_PREFIX COMMAND...: runs COMMAND with its output shown live, then adds the
# counts of its last "PREFIX N passed, N failed" line. A missing summary, or a non-zero exit status
# with no failure counted, is one failure.
run_suite() {
	local label=$1 prefix=$2 out="$TMP/$1.out" status=0 line p f
	shift 2
	"$@" 2>&1 | tee "$out" || status=$?
	line=$(grep -aE "^${prefix}[0-9]+ passed, [0-9]+ failed" "$out" | tail -n 1 || true)
	if [[ -z $line ]]; then
		echo "check: $label: no '${prefix}N passed, N failed' summary line (exit status $status)"
		broken=1
		return 0
	fi
	p=$(sed -E "s/^${prefix}([0-9]+) passed.*/\\1/" <<<"$line")
	f=$(sed -E "s/^${prefix}[0-9]+ passed, ([0-9]+) failed.*/\\1/" <<<"$line")
	if ((status != 0 && f == 0)); then
		echo "check: $label: exit status $status although no failure was reported; counting one failure"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

if [[ -f tools/run-unit.sh ]]; then
	run_suite unit 'unit: ' bash tools/run-unit.sh "$@"
else
	echo "check: warning: tools/run-unit.sh not found; counting the unit tests as 0 passed, 0 failed"
fi
# The shadow MMU's rules broken one at a time (tests/mutants/): its unit tests must catch each.
run_suite mutants 'mutants: ' tools/mutants.sh --test tests/unit/test_shadow.c --srcs 'mm/shadow.c mm/shadow_pool.c mm/shadow_inval.c mm/shadow_walk.c mm/shadow_fill.c' \
	tests/mutants/shadow.mutants
run_suite tools 'tools: ' tests/tools/run-all.sh
if [[ -n ${FUZZ_BIN:-} ]]; then
	run_suite fuzz 'fuzz: ' tools/fuzz.sh --check --seconds "${FUZZ_SMOKE_SECONDS:-10}" "$FUZZ_BIN"
else
	echo "check: FUZZ_BIN not set: no fuzz smoke run (make check sets it)"
	broken=1
fi
run_suite boot 'boot: ' tests/boot/run-all.sh

echo "check: total time $((SECONDS - START)) s"
echo "$passed passed, $failed failed"
((failed == 0 && broken == 0))
