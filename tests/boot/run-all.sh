#!/bin/bash
# Runs every tests/boot/t-*.sh (sorted; an optional FILTER substring selects some), prints
# PASS/FAIL boot.<name> for each and a final "boot: N passed, N failed" line. --long runs
# tests/boot/long/t-*.sh instead (make check-long: too long for make check, or not passing yet).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DIR=tests/boot
if [[ ${1:-} == --long ]]; then
	DIR=tests/boot/long
	shift
fi
FILTER=${1:-}

passed=0 failed=0 failures=()
shopt -s nullglob
tests=("$DIR"/t-*.sh)
shopt -u nullglob
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	name=${name#t-}
	[[ -z $FILTER || $name == *"$FILTER"* ]] || continue
	echo "== boot.$name"
	if bash "$t"; then
		echo "PASS boot.$name"
		passed=$((passed + 1))
	else
		echo "FAIL boot.$name"
		failed=$((failed + 1))
		failures+=("boot.$name")
	fi
done

if [[ -n $FILTER ]] && ((passed + failed == 0)); then
	echo "boot: no test name contains '$FILTER'"
	failed=1
fi
((${#failures[@]} == 0)) || echo "boot: failed: ${failures[*]}"
echo "boot: $passed passed, $failed failed"
((failed == 0))
