#!/bin/bash
# The instrumented Bochs 3.0 (tools/bochs3.sh --instrumented), 2 CPUs, selftest: the exit trace the
# Bochs module writes from outside keel must agree with keel's own exit counters. keel prints its
# statistics every second of guest time (stats_interval=1) from a preemption-timer exit; at the last
# print, CPU 0's total T and per-reason counts must be exactly those of CPU 0's first T exits in the
# trace, and its exit T must be a preemption-timer exit.
set -euo pipefail
PROG=t-bochs3-trace
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-trace
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
if ! BOCHS=$(tools/bochs3.sh --instrumented); then
	echo "  FAIL could not build the instrumented Bochs 3.0 (tools/bochs3.sh --instrumented)"
	echo "$T_NAME: FAIL"
	exit 1
fi
TRACE=$ROOT/build/boot/$T_NAME/trace.txt
mkdir -p "$(dirname "$TRACE")"
rm -f "$TRACE"
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\nnext=\\EFI\\keel\\selftest.efi\nstats_interval=1\n'
export KEEL_TRACE=$TRACE
t_run tests/boot/bochs.sh --bochs "$BOCHS" --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 900
unset KEEL_TRACE
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_expect "keel printed its exit statistics" 'keel: exit statistics'

t_check "the trace has its header" grep -q '^# keel-trace 1 ' "$TRACE"

# Every exit record has its 8 fields; every entry ends the episode of an earlier exit of its own
# CPU, exactly once, except one VMLAUNCH per CPU (seq 0); no entry failed.
well_formed() {
	awk '
		$1 == "X" { if (NF != 8 || $2 != ++n) bad = "exit record " NR; cpu[$2] = $3
		            if ($5 ~ /^[89a-f].......$/) bad = "failed entry at line " NR }
		$1 == "E" && $2 == 0 { launches[$3]++; next }
		$1 == "E" { if (NF != 5 || !($2 in cpu) || cpu[$2] != $3 || ($2 in ended) || $5 !~ /^[0-9]+$/) bad = "entry record " NR
		            ended[$2] = 1 }
		END {
			if (bad != "") { print "    " bad; exit 1 }
			if (launches[0] != 1 || launches[1] != 1) { print "    launches: " launches[0] + 0 ", " launches[1] + 0; exit 1 }
			if (n < 100) { print "    only " n " exits"; exit 1 }
		}' "$TRACE"
}
t_check "trace records are well formed, one VMLAUNCH per CPU, no failed entry" well_formed

# keel's last statistics block, as "cpuN NAME COUNT" lines (the NMI line is not a reason).
keel_last_stats() {
	awk '/keel: exit statistics/ { n = 0; delete s } /keel:   cpu[0-9]+ / { sub(/.*keel:   /, ""); s[++n] = $0 }
	     END { for (i = 1; i <= n; i++) print s[i] }' "$T_TEXT" | grep -v ' NMIs ' | sed -E 's/ +/ /g'
}
STATS=$ROOT/build/boot/$T_NAME/keel-stats.txt
keel_last_stats >"$STATS"
T0=$(awk '$1 == "cpu0" && $2 == "total" { print $3 }' "$STATS")

cpu0_exit_t_is_timer() {
	[[ -n $T0 ]] || return 1
	awk -v t="$T0" '$1 == "X" && $3 == 0 && ++n == t { r = $5 } END { exit r != "34" }' "$TRACE"
}
t_check "cpu0's exit ${T0:-?} in the trace, where keel printed, is a preemption-timer exit" cpu0_exit_t_is_timer

cpu0_census_matches() {
	[[ -n $T0 ]] || return 1
	local want got
	want=$(grep '^cpu0 ' "$STATS" | sort)
	got=$(tools/trace census "$TRACE" 0 "$T0" | sort)
	[[ $want == "$got" ]] && return 0
	diff <(echo "$want") <(echo "$got") | sed 's/^/    keel< >trace: /'
	return 1
}
t_check "cpu0's counts by reason at keel's last statistics equal the trace's first ${T0:-?} cpu0 exits" cpu0_census_matches

# CPU 1 ran concurrently: its count is what the trace has before cpu0's exit T, give or take the
# exit CPU 1 may be in the middle of (counted by keel only once its handler starts).
cpu1_total_close() {
	local k1 t1
	k1=$(awk '$1 == "cpu1" && $2 == "total" { print $3 }' "$STATS")
	t1=$(awk -v t="$T0" '$1 == "X" && $3 == 0 && ++n == t { exit } $1 == "X" && $3 == 1 { m++ } END { print m + 0 }' "$TRACE")
	echo "    keel: cpu1 total ${k1:-?}; trace: $t1 cpu1 exits before"
	[[ -n $k1 ]] && ((k1 == t1 || k1 + 1 == t1))
}
t_check "cpu1's total at that print agrees with the trace" cpu1_total_close

summary_runs() {
	tools/trace summary "$TRACE" >"$ROOT/build/boot/$T_NAME/summary.txt" &&
		grep -qE '^CPUID +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+' "$ROOT/build/boot/$T_NAME/summary.txt"
}
t_check "tools/trace summary reports CPUID root-mode costs" summary_runs
t_done
