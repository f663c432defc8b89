#!/bin/bash
# `make bench`, part 2: the trap= classes' exit costs. Boots build/guest/bench.efi under Bochs 2.7
# (1 CPU) natively and under keel with trap=all, and prints for each class's operation the root-mode
# instructions per exit against the goal of issue 16 (docs/trap-and-emulate.md, "Cost"); also to
# build/bench/bench-trap.txt. Bochs's TSC counts instructions, so the figures are exact.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=build/bench/bench-trap.txt
# op:class:goal. The decoding classes (desc, string io) may take 400 instructions, the others 150.
OPS=(rdtsc:rdtsc:150 rdpmc:rdpmc:150 mov_dr:dr:150 sgdt:desc:400 lgdt:desc:400 invlpg:invlpg:150
	wbinvd:wbinvd:150 pause:pause:150 in_80:io:150 out_80:io:150 outsb_80:io-string:400
	rdmsr_pass:msr:150 int3:exceptions:150)

for f in build/keel.efi build/guest/bench.efi; do
	[[ -f $f ]] || { echo "bench-trap: $f missing (run 'make all')" >&2; exit 1; }
done

FAILED=()
run() {
	local name=$1
	shift
	tools/mkesp.sh --out "build/boot/$name-esp" "$@"
	tests/boot/bochs.sh --esp "build/boot/$name-esp" --name "$name" --cpus 1 --timeout 900 \
		--end 'bench: done' || FAILED+=("$name")
}
run bench-trap-native --boot build/guest/bench.efi
run bench-trap-all --cfg 'next=\\EFI\\keel\\bench.efi\nlog=serial\ntrap=all\n'
if ((${#FAILED[@]})); then
	echo "bench-trap: FAIL: the run(s) ${FAILED[*]} failed (logs in build/boot/)" >&2
	exit 1
fi

# num RUN KEY: the number on RUN's first "bench: KEY N" line, or "?".
num() {
	local v
	v=$({ LC_ALL=C grep -aoE "bench: $2 [0-9]+" "build/boot/bench-trap-$1/serial.clean" || true; } |
		head -n 1 | awk '{ print $3 }')
	echo "${v:-?}"
}

MISSING=()
SAMPLES=$(LC_ALL=C grep -aoE 'bench: method median of [0-9]+' build/boot/bench-trap-native/serial.clean |
	head -n 1 | awk '{ print $5 }')
[[ ${SAMPLES:-} =~ ^[1-9][0-9]*$ ]] || { MISSING+=("sample count"); SAMPLES=0; }
EMPTY_EXITS=$(num all empty_exits)
[[ $EMPTY_EXITS != '?' ]] || MISSING+=("all:empty_exits")

mkdir -p "$(dirname "$OUT")"
{
	echo "bench-trap: Bochs 2.7, 1 CPU, keel trap=all against native; ticks per operation (instructions), median of $SAMPLES samples"
	echo "bench-trap: exits/op excludes the timing window's own exits (the 'empty' run: $EMPTY_EXITS exits in $SAMPLES samples)"
	printf '%-10s %-10s %7s %7s %8s %12s %5s %s\n' op class native keel exits/op root/exit goal verdict
	for spec in "${OPS[@]}"; do
		IFS=: read -r op class goal <<<"$spec"
		n=$(num native "$op")
		k=$(num all "$op")
		e=$(num all "${op}_exits")
		if [[ $n == '?' || $k == '?' || $e == '?' || $EMPTY_EXITS == '?' || $SAMPLES == 0 ]]; then
			MISSING+=("$op")
			printf '%-10s %-10s %7s %7s %8s %12s %5s %s\n' "$op" "$class" "$n" "$k" '?' '?' "$goal" '?'
			continue
		fi
		awk -v op="$op" -v class="$class" -v n="$n" -v k="$k" -v e="$e" -v z="$EMPTY_EXITS" \
			-v s="$SAMPLES" -v goal="$goal" 'BEGIN {
			per = (e - z) / s
			if (per < 0.5) { root = "-"; v = "no exit" }
			else { root = sprintf("%.0f", (k - n) / per); v = (root + 0 <= goal) ? "ok" : "over" }
			printf "%-10s %-10s %7d %7d %8.2f %12s %5d %s\n", op, class, n, k, per, root, goal, v
		}'
	done
} | tee "$OUT"

if ((${#MISSING[@]})); then
	echo "bench-trap: FAIL: missing or bad numbers: ${MISSING[*]}" >&2
	exit 1
fi
