#!/bin/bash
# The instrumented Bochs 3.0 (tools/bochs3.sh --instrumented), 2 CPUs, Debian's kernel as keel's next
# stage: the exit trace the Bochs module writes from outside keel must agree exactly with keel's own
# exit counters. keel prints them every second of guest time (stats_interval=1; 3.5 G TSC ticks on
# this CPU model, so the Linux boot is the shortest run that prints them: selftest ends first) from a
# preemption-timer exit on CPU 0, and keelctl reads them by hypercall at the end of the boot.
# At each point where keel reported cpu0's total T, the trace's first T exits of cpu0 must give the
# same counts.
set -euo pipefail
PROG=t-bochs3-trace
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-trace
t_need build/keel.efi
LINUX=build/guest/linux
if ! make --no-print-directory linux-guest >/dev/null; then
	echo "  FAIL could not build the Linux guest with 'make linux-guest'"
	echo "$T_NAME: FAIL"
	exit 1
fi
t_need "$LINUX/vmlinuz" "$LINUX/initrd.img"
if ! BOCHS=$(tools/bochs3.sh --instrumented); then
	echo "  FAIL could not build the instrumented Bochs 3.0 (tools/bochs3.sh --instrumented)"
	echo "$T_NAME: FAIL"
	exit 1
fi
TRACE=$ROOT/build/boot/$T_NAME/trace.txt
mkdir -p "$(dirname "$TRACE")"
rm -f "$TRACE"
tools/mkesp.sh --out "$T_ESP" --guests /nonexistent \
	--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
	--cfg 'log=serial\nstats_interval=1\nnext=\\EFI\\keel\\vmlinuz\nnext_args=console=ttyS0,115200 initrd=\\EFI\\keel\\initrd.img loglevel=4\n'
export KEEL_TRACE=$TRACE
t_run tests/boot/bochs.sh --bochs "$BOCHS" --esp "$T_ESP" --name "$T_NAME" --cpus 2 --megs 512 \
	--timeout 1200 --end 'keel-linux: done|Kernel panic'
unset KEEL_TRACE
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs'
t_expect "Linux reached userspace" 'keel-linux: userspace reached'
t_expect "keelctl printed keel's counters" 'keelctl: cpu0 total +[0-9]+'
t_expect "keel printed its exit statistics" 'keel: exit statistics'

t_check "the trace has its header" grep -q '^# keel-trace 1 ' "$TRACE"

# Every exit record has its 8 fields and the next sequence number; every entry ends the episode of
# an earlier exit of its own CPU, once; one VMLAUNCH per CPU (seq 0); no entry failed.
well_formed() {
	awk '
		$1 == "X" { if (NF != 8 || $2 != ++n) bad = "exit record at line " NR; cpu[$2] = $3
		            if ($5 ~ /^[89a-f].......$/) bad = "failed entry at line " NR }
		$1 == "E" && $2 == 0 { launches[$3]++; next }
		$1 == "E" { if (NF != 5 || !($2 in cpu) || cpu[$2] != $3 || ($2 in ended) || $5 !~ /^[0-9]+$/) bad = "entry record at line " NR
		            ended[$2] = 1 }
		END {
			if (bad != "") { print "    " bad; exit 1 }
			if (launches[0] != 1 || launches[1] != 1) { print "    launches: " launches[0] + 0 ", " launches[1] + 0; exit 1 }
			if (n < 1000) { print "    only " n " exits"; exit 1 }
		}' "$TRACE"
}
t_check "trace records are well formed, one VMLAUNCH per CPU, no failed entry" well_formed

OUT=$ROOT/build/boot/$T_NAME

# keel's statistics blocks: block K as lines "K cpuN NAME COUNT" (the NMI line is not a reason).
awk '/keel: exit statistics/ { k++ }
     k && /keel:   cpu[0-9]+ / && !/ NMIs / { sub(/.*keel:   /, ""); gsub(/ +/, " "); print k, $0 }' "$T_TEXT" >"$OUT/keel-stats.txt"
BLOCKS=$(awk 'END { print $1 + 0 }' "$OUT/keel-stats.txt")

# cpu0_exit_reason T: the reason (hex) of cpu0's exit T in the trace.
cpu0_exit_reason() { awk -v t="$1" '$1 == "X" && $3 == 0 && ++n == t { print $5; exit }' "$TRACE"; }

# census_matches K: keel's block K against the trace. keel printed it while handling cpu0's exit
# T (its cpu0 total): that exit must be a preemption-timer exit (0x34) and cpu0's first T exits
# must count what keel counted. cpu1 waits for its SIPI or sits in HLT under Linux, so its whole
# count before that exit must match too.
census_matches() {
	local k=$1 t want got seq
	t=$(awk -v k="$k" '$1 == k && $2 == "cpu0" && $3 == "total" { print $4 }' "$OUT/keel-stats.txt")
	[[ -n $t ]] || { echo "    block $k has no cpu0 total"; return 1; }
	[[ $(cpu0_exit_reason "$t") == 34 ]] || { echo "    cpu0's exit $t is reason 0x$(cpu0_exit_reason "$t")"; return 1; }
	seq=$(awk -v t="$t" '$1 == "X" && $3 == 0 && ++n == t { print $2; exit }' "$TRACE")
	want=$(awk -v k="$k" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$OUT/keel-stats.txt" | sort)
	got=$({
		tools/trace census "$TRACE" 0 "$t"
		awk -v s="$seq" '$1 == "X" && $2 < s && $3 == 1 { n++ } END { print n + 0 }' "$TRACE" |
			xargs -I{} tools/trace census "$TRACE" 1 {} | grep '^cpu1 '
	} | sort)
	echo "    block $k: cpu0 total $t = trace exit $seq"
	[[ $want == "$got" ]] && return 0
	diff <(echo "$want") <(echo "$got") | sed 's/^/    keel< >trace: /'
	return 1
}
at_least_one_block() { ((BLOCKS >= 1)); }
t_check "keel printed its statistics at least once ($BLOCKS)" at_least_one_block
for ((k = 1; k <= BLOCKS; k++)); do
	t_check "keel's statistics print $k equals the trace's counts at that exit" census_matches "$k"
done

# keelctl reads cpu0's total first, then each reason: the trace's cpu0 exit T (T = that total) is
# the VMCALL that read it, and no CPUID runs between keelctl's reads, so the CPUID count of cpu0's
# first T exits is keelctl's. cpu1 is parked: its counts are its whole trace.
keelctl_census() {
	local t c want got
	t=$(sed -nE 's/^keelctl: cpu0 total +([0-9]+)$/\1/p' "$T_TEXT" | head -n 1)
	c=$(sed -nE 's/^keelctl: cpu0 CPUID +([0-9]+)$/\1/p' "$T_TEXT" | head -n 1)
	[[ $(cpu0_exit_reason "$t") == 12 ]] || { echo "    cpu0's exit $t is not a VMCALL"; return 1; }
	got=$(tools/trace census "$TRACE" 0 "$t" | awk '$2 == "CPUID" { print $3 }')
	echo "    keelctl: cpu0 CPUID $c; trace: $got in cpu0's first $t exits"
	[[ -n $c && $c == "$got" ]] || return 1
	want=$(sed -nE 's/^keelctl: (cpu1 [A-Za-z /]+[A-Za-z]) +([0-9]+)$/\1 \2/p' "$T_TEXT" | sort)
	got=$(tools/trace census "$TRACE" | grep '^cpu1 ' | sort)
	[[ $want == "$got" ]] && return 0
	diff <(echo "$want") <(echo "$got") | sed 's/^/    keelctl< >trace: /'
	return 1
}
t_check "keelctl's census (cpu0 CPUID at its read, all of cpu1) equals the trace's" keelctl_census

summary_runs() {
	tools/trace summary "$TRACE" >"$OUT/summary.txt" &&
		grep -qE '^CPUID +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+' "$OUT/summary.txt"
}
t_check "tools/trace summary reports CPUID root-mode costs (build/boot/$T_NAME/summary.txt)" summary_runs
t_done
