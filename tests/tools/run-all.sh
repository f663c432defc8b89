#!/bin/bash
# Runs every tests/tools/t-*.sh (tests of the host tools in tools/, on recorded or hand-written
# inputs; no emulator), prints PASS/FAIL tools.<name> for each and a final
# "tools: N passed, N failed" line.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

passed=0 failed=0 failures=()
for t in tests/tools/t-*.sh; do
	[[ -f $t ]] || continue
	name=$(basename "$t" .sh)
	name=${name#t-}
	echo "== tools.$name"
	if bash "$t"; then
		echo "PASS tools.$name"
		passed=$((passed + 1))
	else
		echo "FAIL tools.$name"
		failed=$((failed + 1))
		failures+=("tools.$name")
	fi
done
((${#failures[@]} == 0)) || echo "tools: failed: ${failures[*]}"
echo "tools: $passed passed, $failed failed"
((failed == 0))
