#!/bin/sh
# Runs keel's host unit-test binaries (cmocka) and totals their results.
# Usage: tools/run-unit.sh BIN...   Ends with "unit: N passed, N failed"; exits 1 if anything failed.
#
# Counts come from cmocka's summary lines "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s), listed below:". A binary that is missing, crashes, hangs (60 s), or exits
# non-zero without a FAILED line counts as one failure named after the binary.

if [ $# -eq 0 ]; then
	echo "usage: $0 BIN..." >&2
	exit 2
fi

CMOCKA_MESSAGE_OUTPUT=STDOUT
export CMOCKA_MESSAGE_OUTPUT
TIMEOUT=${UNIT_TIMEOUT:-60}

passed=0
failed=0
broken=""
out=$(mktemp "${TMPDIR:-/tmp}/keel-unit.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT INT TERM

for bin in "$@"; do
	name=$(basename "$bin")
	case $name in
	*.d | *.o) continue ;; # make's dependency files next to the binaries (build/tests/test_*)
	esac
	if [ ! -x "$bin" ]; then
		echo "unit: $name: not found or not executable"
		failed=$((failed + 1))
		broken="$broken $name"
		continue
	fi
	if command -v timeout >/dev/null 2>&1; then
		timeout "$TIMEOUT" "$bin" >"$out" 2>&1
	else
		"$bin" >"$out" 2>&1
	fi
	rc=$?
	cat "$out"

	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s), listed below:.*/\1/p' "$out" | tail -n 1)
	passed=$((passed + ${p:-0}))
	if [ -n "$f" ]; then
		failed=$((failed + f))
	elif [ "$rc" -ne 0 ] || [ -z "$p" ]; then
		# Crashed, timed out, or ended without cmocka's summary.
		case $rc in
		124) why="timed out after ${TIMEOUT}s" ;;
		0) why="no cmocka summary" ;;
		*) why="exit status $rc" ;;
		esac
		if [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ]; then
			why="killed by signal $((rc - 128))"
		fi
		echo "unit: $name: $why"
		failed=$((failed + 1))
		broken="$broken $name"
	fi
done

[ -n "$broken" ] && echo "unit: broken binaries:$broken"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
