#!/bin/bash
# Runs the exit-path fuzzer (tests/fuzz/fuzz_exit.c) for a bounded time and judges the run:
# libFuzzer's DONE line, no finding, and exits actually run. New inputs go to build/fuzz/corpus;
# the committed seeds (tests/fuzz/corpus) and past findings (tests/fuzz/regressions) are read.
# With --check, ends with "fuzz: N passed, N failed" for tools/check.sh.
set -euo pipefail

usage() {
	echo "usage: tools/fuzz.sh [--seconds N] [--check] FUZZ_BIN" >&2
	exit 2
}

seconds=60 check=0 bin=
while (($#)); do
	case $1 in
	--seconds) seconds=${2:-}; shift 2 ;;
	--check) check=1; shift ;;
	-*) usage ;;
	*) bin=$1; shift ;;
	esac
done
[[ -n $bin && $seconds =~ ^[1-9][0-9]*$ ]] || usage

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
out_dir=build/fuzz
mkdir -p "$out_dir/corpus" "$out_dir/findings"
log="$out_dir/fuzz.log"

verdict() { # verdict OK MESSAGE
	echo "fuzz: $2"
	if ((check)); then
		if (($1)); then echo "fuzz: 1 passed, 0 failed"; else echo "fuzz: 0 passed, 1 failed"; fi
	fi
	(($1)) || exit 1
	exit 0
}

[[ -x $bin ]] || verdict 0 "$bin not built (make fuzz-bin)"

echo "fuzz: $bin for $seconds s (log: $log)"
status=0
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out_dir/findings/" "$out_dir/corpus" tests/fuzz/corpus tests/fuzz/regressions \
	>"$log" 2>&1 || status=$?

grep -a '^fuzz_exit: ' "$log" | sed 's/^/  /' || true
done_line=$(grep -a -E '^#[0-9]+[[:space:]]+DONE ' "$log" | tail -n 1 || true)
runs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)
secs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/p' "$log" | tail -n 1)
ran=$(sed -nE 's/^fuzz_exit: [0-9]+ inputs: ([0-9]+) exits run.*/\1/p' "$log" | tail -n 1)

if ((status != 0)) || [[ -z $done_line ]]; then
	echo "fuzz: libFuzzer stopped early (exit status $status); the end of $log:"
	grep -a -E 'FINDING|ERROR|rule |SUMMARY|Test unit written' "$log" | head -n 20 | sed 's/^/  /' || true
	artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
	[[ -n $artifact ]] && echo "fuzz: reproduce with: $bin $artifact"
	verdict 0 "FAILED"
fi
echo "  $done_line"
if [[ -z $ran || $ran -eq 0 ]]; then
	verdict 0 "FAILED: no input became a VM exit (the harness rejected everything)"
fi
verdict 1 "$runs executions in $secs s ($((runs / (secs > 0 ? secs : 1)))/s), $ran exits handled, no finding"
