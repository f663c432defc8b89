#!/bin/bash
# `make bench`: boots build/guest/bench.efi under Bochs (1 CPU) natively and under keel, and prints
# ticks per operation, keel's instructions per exit and the targets; also to build/bench/bench.txt.
# Then checks keel's exit counters against the exit trace of a keel run under the instrumented
# Bochs 3.0 (at the end).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=build/bench/bench.txt
BENCHES=(cpuid vmcall rdmsr wrmsr in out mov_cr0 compute)
# What bench.efi may skip: VMCALL raises #UD without keel; keel traps no MSR the guest may write.
declare -A MAY_SKIP=([native]=" vmcall " [keel]=" ")
# Goals, in instructions keel executes per exit (Bochs's TSC counts instructions).
TARGET_CPUID=40
TARGET_OTHER=90

for f in build/keel.efi build/guest/bench.efi; do
	[[ -f $f ]] || { echo "bench: $f missing (run 'make all')" >&2; exit 1; }
done

# run NAME MKESP-ARGS...: one Bochs boot; its cleaned serial log is build/boot/NAME/serial.clean.
FAILED=()
run() {
	local name=$1
	shift
	tools/mkesp.sh --out "build/boot/$name-esp" "$@"
	tests/boot/bochs.sh --esp "build/boot/$name-esp" --name "$name" --cpus 1 --timeout 600 \
		--end 'bench: done' || FAILED+=("$name")
}
run bench-native --boot build/guest/bench.efi
run bench-keel --cfg 'next=\\EFI\\keel\\bench.efi\nlog=serial\n'
if ((${#FAILED[@]})); then
	echo "bench: FAIL: the run(s) ${FAILED[*]} failed (logs in build/boot/)" >&2
	exit 1
fi

# line RUN KEY: the first "bench: KEY ..." line of RUN's log, without "bench: KEY " ("" when absent).
# OVMF mirrors its console to COM1, so every line is there twice.
line() {
	{ LC_ALL=C grep -aoE "bench: $2 .*" "build/boot/bench-$1/serial.clean" || true; } |
		head -n 1 | sed "s/^bench: $2 //"
}

# cell RUN NAME: sets CELL to the number, or "-" for an allowed skip; anything else is missing.
MISSING=()
cell() {
	CELL=$(line "$1" "$2")
	CELL=${CELL%% *}
	if [[ $CELL =~ ^[0-9]+$ ]]; then
		return
	elif [[ $CELL == skipped && ${MAY_SKIP[$1]} == *" $2 "* ]]; then
		CELL=-
	else
		MISSING+=("$1:$2${CELL:+ ($CELL)}")
		CELL='?'
	fi
}

[[ $(line native hypervisor) == none ]] || MISSING+=("native: no 'bench: hypervisor none'")
[[ $(line keel hypervisor) == keel* ]] || MISSING+=("keel: no 'bench: hypervisor keel'")
SAMPLES=$(line native method | awk '{ print $3 }') # "median of N samples ..."
[[ $SAMPLES =~ ^[1-9][0-9]*$ ]] || { MISSING+=("native: sample count"); SAMPLES=0; }

ROWS=() TARGETS=() NOTES=()
for b in "${BENCHES[@]}"; do
	cell native "$b"
	n=$CELL
	cell keel "$b"
	k=$CELL
	if [[ $k == - ]]; then
		ROWS+=("$b $n - - -")
		TARGETS+=("$(printf 'target %-8s %s' "$b" "$(line keel "$b")")")
		continue
	fi
	cell keel "${b}_exits"
	e=$CELL
	per=$(awk -v e="$e" -v s="$SAMPLES" 'BEGIN { if (e ~ /^[0-9]+$/ && s > 0) printf "%g", e / s; else print "?" }')
	if [[ $n == - ]]; then
		root=$k
		NOTES+=("$b has no native figure (it needs keel): its root-insns is the whole keel figure, an upper bound")
	elif [[ $n == '?' || $k == '?' ]]; then
		root='?'
	else
		root=$((k - n))
	fi
	ROWS+=("$b $n $k $per $root")

	if [[ $b == compute ]]; then
		case $e in 0) v=ok ;; '?') v='?' ;; *) v=over ;; esac
		TARGETS+=("$(printf 'target %-8s exits %s == 0: %s' "$b" "$e" "$v")")
		continue
	fi
	[[ $b == cpuid ]] && goal=$TARGET_CPUID || goal=$TARGET_OTHER
	if [[ $root == '?' ]]; then
		v='?'
	elif ((root <= goal)); then
		v=ok
	else
		v=over
	fi
	[[ $per == 0 ]] && v+=" (no exit)"
	TARGETS+=("$(printf 'target %-8s root-insns %s <= %s: %s' "$b" "$root" "$goal" "$v")")
done

mkdir -p "$(dirname "$OUT")"
{
	echo "bench: Bochs 2.7, 1 CPU; ticks per operation (Bochs's TSC counts instructions), median of $SAMPLES samples"
	printf '%-8s %8s %8s %9s %10s\n' name native keel exits/op root-insns
	for r in "${ROWS[@]}"; do
		# shellcheck disable=SC2086 # the row's five fields
		printf '%-8s %8s %8s %9s %10s\n' $r
	done
	for t in "${NOTES[@]}"; do
		echo "note: $t"
	done
	printf '%s\n' "${TARGETS[@]}"
} | tee "$OUT"

if ((${#MISSING[@]})); then
	echo "bench: FAIL: missing or bad numbers: ${MISSING[*]}" >&2
	exit 1
fi

# ---- cross-check: keel's own exit counters against the exit trace of the same run ----
# One more boot of the keel run, under the instrumented Bochs 3.0 (tools/bochs3.sh --instrumented)
# writing its exit trace. bench.efi ends by having keel print its census (KEEL_HC_STATS_PRINT);
# keel prints it while it handles that VMCALL, cpu0's exit T (T = its "cpu0 total"), so cpu0's
# first T exits in the trace, counted by reason (tools/trace census), must be keel's counts.
XRUN=bench-trace
XTRACE=$ROOT/build/boot/$XRUN/trace.txt
xfail() {
	echo "bench: FAIL: cross-check: $*" >&2
	exit 1
}
BOCHS3=$(tools/bochs3.sh --instrumented) || xfail "no instrumented Bochs 3.0 (tools/bochs3.sh --instrumented)"
tools/mkesp.sh --out "build/boot/$XRUN-esp" --cfg 'next=\\EFI\\keel\\bench.efi\nlog=serial\n'
mkdir -p "$(dirname "$XTRACE")"
rm -f "$XTRACE"
KEEL_TRACE=$XTRACE tests/boot/bochs.sh --bochs "$BOCHS3" --esp "build/boot/$XRUN-esp" --name "$XRUN" \
	--cpus 1 --timeout 600 --end 'bench: done' || xfail "the run failed (logs in build/boot/$XRUN/)"
[[ -s $XTRACE ]] || xfail "Bochs wrote no trace to $XTRACE"

# keel's census: "cpu0 NAME COUNT" lines of its one statistics block (not the NMI line).
XLOG=build/boot/$XRUN/serial.clean
XBLOCKS=$(LC_ALL=C grep -ac 'keel: exit statistics' "$XLOG" || true)
((XBLOCKS == 1)) || xfail "$XBLOCKS blocks of keel's exit statistics in $XLOG, expected 1"
KEEL_CENSUS=$(LC_ALL=C awk '/keel: exit statistics/ { k = 1; next }
	k && /keel:   cpu[0-9]+ / && !/ NMIs / { sub(/.*keel:   /, ""); gsub(/ +/, " "); print }' "$XLOG")
T=$(awk '$1 == "cpu0" && $2 == "total" { print $3 }' <<<"$KEEL_CENSUS")
[[ $T =~ ^[1-9][0-9]*$ ]] || xfail "no 'cpu0 total' in keel's statistics in $XLOG"
XREASON=$(awk -v t="$T" '$1 == "X" && $3 == 0 && ++n == t { print $5; exit }' "$XTRACE")
[[ $XREASON == 12 ]] || xfail "cpu0's exit $T in the trace is reason 0x${XREASON:-(none)}, not the VMCALL that printed keel's statistics"
TRACE_CENSUS=$(tools/trace census "$XTRACE" 0 "$T")

# One row per reason either side names; "-" where it names none.
XROWS=$(awk 'FNR == NR { sub(/^cpu0 /, ""); n = $NF; sub(/ [0-9]+$/, ""); k[$0] = n; r[$0] = 1; next }
	{ sub(/^cpu0 /, ""); n = $NF; sub(/ [0-9]+$/, ""); t[$0] = n; r[$0] = 1 }
	END { for (x in r) printf "%s|%s|%s\n", x, (x in k) ? k[x] : "-", (x in t) ? t[x] : "-" }' \
	<(printf '%s\n' "$KEEL_CENSUS") <(printf '%s\n' "$TRACE_CENSUS") | sort -t'|' -k2,2nr)
XBAD=$(awk -F'|' '$2 != $3 { n++ } END { print n + 0 }' <<<"$XROWS")
{
	echo
	echo "cross-check: keel's exit counters against the exit trace of the same run (Bochs 3.0 with keel's trace module, 1 CPU),"
	echo "as keel printed them at cpu0's exit $T (bench.efi's KEEL_HC_STATS_PRINT)"
	printf '%-24s %10s %10s\n' reason keel trace
	awk -F'|' '{ printf "%-24s %10s %10s%s\n", $1, $2, $3, ($2 != $3) ? "   differs" : "" }' <<<"$XROWS"
	if ((XBAD)); then
		echo "cross-check: $XBAD of the counts differ"
	else
		echo "cross-check: all $(wc -l <<<"$XROWS") counts equal: ok"
	fi
} | tee -a "$OUT"
((XBAD == 0)) || xfail "keel's counters and the trace disagree (trace: $XTRACE, serial log: $XLOG)"
