#!/bin/bash
# `make bench`: boots build/guest/bench.efi under Bochs (1 CPU) natively and under keel, and prints
# ticks per operation, keel's instructions per exit and the targets; also to build/bench/bench.txt.
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
