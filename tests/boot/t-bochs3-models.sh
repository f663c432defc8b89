#!/bin/bash
# Bochs 3.0, one CPU, 512 MiB, on ten CPU models from Core 2 to Arrow Lake. Where the model's VMX
# has unrestricted guest, selftest runs twice: natively (keel with virtualize=off, which still
# prints the platform report) and under keel; it must end with "0 failed" both times, and every
# case passing natively must pass under keel (or be skipped "under keel"). The instruction cases
# (insn.*) execute whatever the model's CPUID advertises, so a feature keel shows but does not
# enable in VMX non-root fails here. corei7_skylake_x runs with strict MSRs (tests/boot/
# bochs-msrs.def, ignore_bad_msrs=0) so the unknown-MSR cases run instead of skipping. Models
# without EPT or unrestricted guest (kind shadow) must get mmu=auto's "shadow paging" line and pass
# the same way; models keel cannot run at all (kind novtx) must get keel's "VT-x unavailable" line
# naming what they lack, and boot on natively.
# Prints one "models: ..." line; fails if any model fails. MODELS_JOBS (default 2) Bochs at once;
# MODELS=list (short names, space-separated) runs some of them.
set -euo pipefail
PROG=t-bochs3-models
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

# short name, Bochs model, kind: keel (virtualized), strict (virtualized, strict MSRs), shadow
# (virtualized, mmu=auto picks shadow paging), novtx (keel must refuse).
MATRIX=(
	"penryn core2_penryn_t9600 shadow"
	"lynnfield corei5_lynnfield_750 shadow"
	"arrandale corei5_arrandale_m520 keel"
	"sandy_bridge corei7_sandy_bridge_2600k keel"
	"haswell corei7_haswell_4770 keel"
	"skylake_x corei7_skylake_x strict"
	"icelake_u corei7_icelake_u keel"
	"tigerlake tigerlake keel"
	"sapphire_rapids sapphire_rapids keel"
	"arrow_lake arrow_lake keel"
)
# What keel must name as missing on the models it refuses.
declare -A NOVTX_WHY=([penryn]='cannot switch EFER/PAT')
JOBS=${MODELS_JOBS:-2}
check_uint MODELS_JOBS "$JOBS"
((JOBS >= 1)) || JOBS=1
MSRS=tests/boot/bochs-msrs.def
# Bochs 3.0 compiled with CET panics when a supervisor write with CR0.WP=0 would set the dirty
# bit of a read-only page (cpu/paging.cc: "a processor that supports CET will never set the dirty
# flag in a paging-structure entry in which the R/W flag is clear"), which OVMF does on the models
# with CET before any keel code runs. Reported, not fatal, it sets D as before CET; that one
# message is allowed, any other panic still fails the run.
CET_PANIC='asked to set dirty on paging leaf entry with R/W bit clear'

t_init bochs3-models
t_need build/keel.efi "$GUEST_DIR/selftest.efi" "$MSRS"
if ! BOCHS3=$(tools/bochs3.sh); then
	echo "  FAIL could not build Bochs 3.0 (tools/bochs3.sh)"
	echo "$T_NAME: FAIL"
	exit 1
fi
OUT="$ROOT/build/boot/bochs3-models"
rm -rf "$OUT"
mkdir -p "$OUT"
tools/mkesp.sh --out "$OUT/esp-keel" --cfg 'log=serial\nnext=\\EFI\\keel\\selftest.efi\n'
tools/mkesp.sh --out "$OUT/esp-native" --cfg 'log=serial\nvirtualize=off\nnext=\\EFI\\keel\\selftest.efi\n'

# run_one SHORT MODEL KIND WHICH: one Bochs run (WHICH: keel or native), its output in
# build/boot/models-SHORT-WHICH.out and its logs in build/boot/models-SHORT-WHICH/.
run_one() {
	local short=$1 model=$2 kind=$3 which=$4 args=()
	[[ $kind == strict ]] && args+=(--msrs "$MSRS")
	case $model in
	tigerlake | sapphire_rapids | arrow_lake)
		args+=(--rc 'panic: action=fatal, CPU0=report' --allow-panic "$CET_PANIC")
		;;
	esac
	tests/boot/bochs.sh --bochs "$BOCHS3" --model "$model" --esp "$OUT/esp-$which" \
		--name "models-$short-$which" --cpus 1 --megs 512 --timeout 400 "${args[@]}" \
		--end 'selftest: [0-9]+ passed|X64 Exception Type' \
		>"$OUT/$short-$which.out" 2>&1 || echo "runner failed" >>"$OUT/$short-$which.out"
}

# ---- the runs, JOBS at a time ----
START=$(now)
runs=()
for entry in "${MATRIX[@]}"; do
	read -r short model kind <<<"$entry"
	[[ -z ${MODELS:-} || " $MODELS " == *" $short "* ]] || continue
	[[ $kind == novtx ]] || runs+=("$short $model $kind native")
	runs+=("$short $model $kind keel")
done
running=0
for run in "${runs[@]}"; do
	if ((running >= JOBS)); then
		wait -n || true
		running=$((running - 1))
	fi
	# shellcheck disable=SC2086 # four words
	run_one $run &
	running=$((running + 1))
done
wait
ELAPSED=$(since "$START")

# ---- verdicts ----
text() { echo "$ROOT/build/boot/models-$1-$2/serial.clean"; }

# runner_problem SHORT WHICH: why the runner failed, in one word, or nothing.
runner_problem() {
	local out="$OUT/$1-$2.out"
	grep -q '^runner failed$' "$out" || return 0
	if grep -q 'VM-entry failure' "$out"; then
		echo vmentry
	elif grep -q 'unexpected >>PANIC<<' "$out"; then
		echo panic
	elif grep -q 'timeout after' "$out"; then
		echo timeout
	else
		echo boot
	fi
}

# failed_cases FILE: the names of the FAILed cases, "waitpkg" standing for all insn.waitpkg_*.
failed_cases() {
	grep -aoE '^FAIL [a-z0-9_.]+' "$1" | cut -d' ' -f2 | sed -E 's/^insn\.waitpkg_.*/waitpkg/' | sort -u |
		paste -sd+ - || true
}

# lost_cases NATIVE KEEL: cases passing natively that neither pass under keel nor skip "under keel".
lost_cases() {
	comm -23 <(grep -aoE '^PASS [a-z0-9_.]+' "$1" | cut -d' ' -f2 | sort -u) \
		<({ grep -aoE '^PASS [a-z0-9_.]+' "$2"; grep -aoE '^SKIP [a-z0-9_.]+: under keel' "$2"; } |
			cut -d' ' -f2 | tr -d ':' | sort -u) | paste -sd+ - || true
}

# passes_in_both CASE FILE1 FILE2
passes_in_both() {
	grep -aqx "PASS $1" "$2" && grep -aqx "PASS $1" "$3"
}

summary=()
for entry in "${MATRIX[@]}"; do
	read -r short model kind <<<"$entry"
	[[ -z ${MODELS:-} || " $MODELS " == *" $short "* ]] || continue
	echo "  -- $short ($model, $kind)"
	T_TEXT=$(text "$short" keel)
	T_NAME="models-$short-keel"
	before=$T_FAILS
	why=()
	p=$(runner_problem "$short" keel)
	if [[ -n $p ]]; then
		echo "  FAIL the run under keel: $p (build/boot/bochs3-models/$short-keel.out)"
		T_FAILS=$((T_FAILS + 1))
		why+=("$p")
	fi
	if [[ $kind == novtx ]]; then
		t_expect "$short: keel says VT-x is unavailable (${NOVTX_WHY[$short]}) and continues" \
			"keel: VT-x unavailable: .*${NOVTX_WHY[$short]}.*; continuing without virtualization"
		t_expect "$short: selftest runs natively" 'selftest: no hypervisor'
		t_expect "$short: selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
		f=$(failed_cases "$T_TEXT")
		[[ -z $f ]] || why+=("$f")
	else
		t_expect "$short: keel virtualized the CPU" 'keel: cpu0 virtualized'
		if [[ $kind == shadow ]]; then
			t_expect "$short: mmu=auto picks shadow paging" 'keel: mmu: shadow paging \(mmu=auto, since '
		else
			t_expect "$short: keel runs EPT" 'keel: mmu: EPT \(mmu=auto\)'
		fi
		t_expect "$short: selftest sees keel" 'selftest: hypervisor keel'
		t_expect "$short: selftest summary with 0 failed under keel" 'selftest: [0-9]+ passed, 0 failed'
		f=$(failed_cases "$T_TEXT")
		[[ -z $f ]] || why+=("$f")
		NATIVE=$(text "$short" native)
		p=$(runner_problem "$short" native)
		if [[ -n $p ]]; then
			echo "  FAIL the native run: $p (build/boot/bochs3-models/$short-native.out)"
			T_FAILS=$((T_FAILS + 1))
			why+=("native:$p")
		fi
		T_TEXT=$NATIVE
		T_NAME="models-$short-native"
		t_expect "$short: selftest summary with 0 failed natively" 'selftest: [0-9]+ passed, 0 failed'
		f=$(failed_cases "$NATIVE")
		[[ -z $f ]] || why+=("native:$f")
		lost=$(lost_cases "$NATIVE" "$(text "$short" keel)")
		t_check "$short: every native PASS also passes under keel${lost:+ (not under keel: ${lost//+/ })}" \
			test -z "$lost"
		if [[ $kind == strict ]]; then
			for c in msr.unknown_rdmsr_gp msr.unknown_wrmsr_gp msr.edge_1fff msr.edge_2000 \
				msr.edge_c0001fff msr.edge_c0002000; do
				t_check "$short: $c runs (strict MSRs) and passes natively and under keel" \
					passes_in_both "$c" "$NATIVE" "$(text "$short" keel)"
				passes_in_both "$c" "$NATIVE" "$(text "$short" keel)" || why+=("$c")
			done
		fi
	fi
	if ((T_FAILS > before)); then
		((${#why[@]})) || why=(checks)
		summary+=("$short FAIL($(printf '%s\n' "${why[@]}" | sort -u | paste -sd, -))")
	else
		summary+=("$short PASS")
	fi
done
T_NAME=bochs3-models
line=
for s in "${summary[@]}"; do
	line+="${line:+, }$s"
done
echo "models: $line (${#runs[@]} runs in $ELAPSED s)"
t_done
