#!/bin/bash
# The MMU part of `make bench`: boots Debian's kernel and the keel initramfs under Bochs 2.7 (1 CPU)
# natively (virtualize=off), under mmu=ept and under mmu=shadow; /init runs keel-mmubench (fork,
# fork+exec and page-touch loops timed with the guest's TSC: Bochs counts instructions). Prints one
# table: the ticks to userspace and of each workload in the three modes, their ratios to native,
# and under each row the exits keel counted by reason, the shadow MMU's counters and the extra
# ticks per exit; then the goals of issue 14 as met / not met. Also to build/bench/mmu.txt.
# Exit status 1 only when a run failed or a number is missing, never because a goal was missed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LINUX=build/guest/linux
# BENCH_MMU_TAG=T: runs named bench-mmu-T-MODE and the table in build/bench/mmu-T.txt, so that runs
# with other BENCH_MMU_ARGS can sit beside (or run beside) the default one.
TAG=${BENCH_MMU_TAG:-}
RUN=bench-mmu${TAG:+-$TAG}
OUT=build/bench/${RUN#bench-}.txt
# Workload sizes (keel.mmubench=FORKS,EXECS,MIB). Under mmu=shadow, Bochs runs the whole boot
# with them in about 10 minutes.
FORKS=${BENCH_MMU_FORKS:-1000}
EXECS=${BENCH_MMU_EXECS:-100}
MIB=${BENCH_MMU_MIB:-64}
# More kernel command-line words for all three runs (e.g. BENCH_MMU_ARGS=pti=off), named in the header.
ARGS=${BENCH_MMU_ARGS:-}
# BENCH_MMU_REPORT_ONLY=1: no runs, the table from the last runs' logs (build/boot/$RUN-MODE).
REPORT_ONLY=${BENCH_MMU_REPORT_ONLY:-}
# BENCH_MMU_MODES="native shadow": boot only these modes (default all three); the table reads the
# other modes from their last runs' logs under the same tag where there are some (and shows '?'
# where there are none), so one native run serves many shadow runs (the native and EPT figures do
# not depend on the shadow MMU's code).
ALL_MODES=(native ept shadow)
read -r -a RUN_MODES <<<"${BENCH_MMU_MODES:-${ALL_MODES[*]}}"
for m in "${RUN_MODES[@]}"; do
	[[ " ${ALL_MODES[*]} " == *" $m "* ]] || { echo "bench-mmu: BENCH_MMU_MODES: '$m' is not one of ${ALL_MODES[*]}" >&2; exit 2; }
done
ROWS=(boot fork exec touch)
# Goals (issue 14): EPT on every row; shadow on the fork/exec rows and on the boot.
GOAL_EPT=1.01
GOAL_SHADOW_FORKEXEC=3
GOAL_SHADOW_BOOT=1.5

for v in FORKS EXECS MIB; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "bench-mmu: BENCH_MMU_$v='${!v}' is not a number" >&2; exit 2; }
done
[[ $TAG =~ ^[a-z0-9-]*$ ]] || { echo "bench-mmu: BENCH_MMU_TAG='$TAG': a-z, 0-9 and - only" >&2; exit 2; }
[[ $ARGS =~ ^[A-Za-z0-9_.,=:\ -]*$ ]] || { echo "bench-mmu: BENCH_MMU_ARGS='$ARGS': letters, digits, spaces and _.,=:- only" >&2; exit 2; }
[[ -f build/keel.efi ]] || { echo "bench-mmu: build/keel.efi missing (run 'make all')" >&2; exit 1; }
# The initramfs must hold keel-mmubench: rebuild it when a guest source is newer (offline from the
# cached .debs once they are there).
if [[ -z $REPORT_ONLY ]] && [[ ! -f $LINUX/vmlinuz || ! -f $LINUX/initrd.img ||
	-n $(find guest/keelctl guest/linux tools/linux-guest.sh vmm/hypercall_abi.h -newer "$LINUX/initrd.img" -print -quit) ]]; then
	make --no-print-directory linux-guest
fi
CMDLINE="console=ttyS0,115200 initrd=\\\\EFI\\\\keel\\\\initrd.img loglevel=4 keel.mmubench=$FORKS,$EXECS,$MIB${ARGS:+ $ARGS}"

# boot MODE: one Bochs run; its cleaned serial log is build/boot/$RUN-MODE/serial.clean.
FAILED=()
boot() {
	local name=$RUN-$1 cfg
	case $1 in
	native) cfg='virtualize=off\n' ;;
	*) cfg="mmu=$1\\n" ;;
	esac
	tools/mkesp.sh --out "build/boot/$name-esp" --guests /nonexistent \
		--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
		--cfg "${cfg}log=serial\\nnext=\\\\EFI\\\\keel\\\\vmlinuz\\nnext_args=$CMDLINE\\n"
	# A fixed start time (Bochs's RTC, docs/bochs-debugging.md), so that runs of a mode repeat
	# closely; with the host's time the fork row moved by 0.8% from boot to boot.
	tests/boot/bochs.sh --esp "build/boot/$name-esp" --name "$name" --cpus 1 --megs 512 --timeout 2400 \
		--rc 'clock: sync=none, time0=1700000000' --end 'keel-linux: done|Kernel panic' || FAILED+=("$1")
}
if [[ -z $REPORT_ONLY ]]; then
	for m in "${RUN_MODES[@]}"; do
		boot "$m"
	done
fi
MODES=()
for m in "${ALL_MODES[@]}"; do
	if [[ " ${RUN_MODES[*]} " == *" $m "* || -f build/boot/$RUN-$m/serial.clean ]]; then
		MODES+=("$m")
	fi
done

# lines MODE REGEX: the matching lines of MODE's log, "keel-mmubench: " stripped, each once.
lines() {
	{ LC_ALL=C grep -aoE "$2" "build/boot/$RUN-$1/serial.clean" || true; } | awk '!seen[$0]++'
}

# ---- what each run measured: TICKS[mode.row], EXITS[mode.row.reason], MMU[mode.row.counter] ----
declare -A TICKS=() EXITS=() NEXITS=() MMU=() NAME=() N=()
MISSING=()
for m in "${MODES[@]}"; do
	t=$(lines "$m" 'keel-linux: tsc [0-9]+ at /init' | head -n 1 | grep -oE '[0-9]+' | head -n 1 || true)
	[[ -n $t ]] && TICKS[$m.boot]=$t || MISSING+=("$m: boot ticks")
	lines "$m" 'keel-mmubench: done, ok' | grep -q . || MISSING+=("$m: no 'keel-mmubench: done, ok'")
	while read -r row n ticks; do
		TICKS[$m.$row]=$ticks
		N[$row]=$n
	done < <(lines "$m" 'keel-mmubench: (fork|exec|touch) n=[0-9]+ ticks=[0-9]+' |
		sed -E 's/^keel-mmubench: ([a-z]+) n=([0-9]+) ticks=([0-9]+).*/\1 \2 \3/')
	for row in fork exec touch; do
		[[ -n ${TICKS[$m.$row]:-} ]] || MISSING+=("$m: $row ticks")
	done
	if [[ $m == native ]]; then
		lines "$m" 'keel-mmubench: no keel' | grep -q . || MISSING+=("native: keel-mmubench found a hypervisor")
		continue
	fi
	lines "$m" "keel: cpu0 virtualized .*mmu $m\\)" | grep -q . || MISSING+=("$m: no 'cpu0 virtualized (... mmu $m)'")
	while read -r row reason count name; do
		EXITS[$m.$row.$reason]=$count
		NAME[$reason]=$name
	done < <(lines "$m" 'keel-mmubench: [a-z]+ exit [0-9]+ [0-9]+ .*' | sed 's/^keel-mmubench: //; s/ exit / /')
	while read -r row count; do
		NEXITS[$m.$row]=$count
	done < <(lines "$m" 'keel-mmubench: [a-z]+ exits [0-9]+' | sed 's/^keel-mmubench: //; s/ exits / /')
	while read -r row mode rest; do
		[[ $mode == "$m" ]] || MISSING+=("$m: $row ran under mmu $mode")
		for kv in $rest; do
			MMU[$m.$row.${kv%%=*}]=${kv#*=}
		done
	done < <(lines "$m" 'keel-mmubench: [a-z]+ mmu .*' | sed 's/^keel-mmubench: //; s/ mmu / /')
	for row in "${ROWS[@]}"; do
		[[ -n ${NEXITS[$m.$row]:-} ]] || MISSING+=("$m: $row exits")
	done
done

# ---- the table ----
ratio() { # ratio A B: A / B to 4 places, or "?"
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a ~ /^[0-9]+$/ && b ~ /^[1-9][0-9]*$/) printf "%.4f", a / b; else print "?" }'
}
per_exit() { # per_exit MODE ROW: (ticks - native ticks) / exits, or "-"
	awk -v k="${TICKS[$1.$2]:-}" -v n="${TICKS[native.$2]:-}" -v e="${NEXITS[$1.$2]:-}" \
		'BEGIN { if (k ~ /^[0-9]+$/ && n ~ /^[0-9]+$/ && e ~ /^[1-9][0-9]*$/) printf "%.0f", (k - n) / e; else print "-" }'
}
label() {
	case $1 in
	boot) echo "boot to userspace" ;;
	fork) echo "fork+exit+wait x${N[fork]:-?}" ;;
	exec) echo "fork+execve+wait x${N[exec]:-?}" ;;
	touch) echo "touch $MIB MiB (${N[touch]:-?} pages)" ;;
	esac
}
FMT='%-34s %13s %13s %8s %13s %8s\n'
SHADOW_COUNTERS=(hidden-faults reflected cr3-loads cr3-cached invlpgs flushes reclaims pages-in-use)
mkdir -p "$(dirname "$OUT")"
{
	echo "bench-mmu: Bochs 2.7 corei7_skylake_x, 1 CPU, 512 MiB; Debian's 6.1 kernel + busybox initramfs${ARGS:+, kernel args: $ARGS};"
	echo "ticks = the guest's TSC (Bochs counts instructions); exits = keel's count on cpu0 during the row"
	echo "(boot: from keel's start to keel-mmubench's start); extra/exit = (ticks - native ticks) / exits"
	# shellcheck disable=SC2059 # FMT is the table's format
	printf "$FMT" "row" "native" "mmu=ept" "ept/nat" "mmu=shadow" "shd/nat"
	for row in "${ROWS[@]}"; do
		# shellcheck disable=SC2059
		printf "$FMT" "$(label "$row")" "${TICKS[native.$row]:-?}" "${TICKS[ept.$row]:-?}" \
			"$(ratio "${TICKS[ept.$row]:-}" "${TICKS[native.$row]:-}")" "${TICKS[shadow.$row]:-?}" \
			"$(ratio "${TICKS[shadow.$row]:-}" "${TICKS[native.$row]:-}")"
		# shellcheck disable=SC2059
		printf "$FMT" "  exits" - "${NEXITS[ept.$row]:-?}" "" "${NEXITS[shadow.$row]:-?}" ""
		for reason in $(printf '%s\n' "${!EXITS[@]}" | awk -F. -v r="$row" '$2 == r { print $3 }' | sort -nu); do
			# shellcheck disable=SC2059
			printf "$FMT" "    ${NAME[$reason]}" - "${EXITS[ept.$row.$reason]:-0}" "" "${EXITS[shadow.$row.$reason]:-0}" ""
		done
		for c in "${SHADOW_COUNTERS[@]}"; do
			v=${MMU[shadow.$row.$c]:-?}
			[[ $c != pages-in-use ]] || v+="/${MMU[shadow.$row.pages-total]:-?}"
			# shellcheck disable=SC2059
			printf "$FMT" "    shadow: $c" - - "" "$v" ""
		done
		# shellcheck disable=SC2059
		printf "$FMT" "  extra ticks per exit" - "$(per_exit ept "$row")" "" "$(per_exit shadow "$row")" ""
	done

	verdict() { # verdict RATIO GOAL
		awk -v r="$1" -v g="$2" 'BEGIN { if (r !~ /^[0-9.]+$/) print "?"; else print (r <= g) ? "met" : "not met" }'
	}
	for row in "${ROWS[@]}"; do
		r=$(ratio "${TICKS[ept.$row]:-}" "${TICKS[native.$row]:-}")
		printf 'goal: mmu=ept %-32s %sx <= %sx native: %s\n' "$(label "$row")" "$r" "$GOAL_EPT" "$(verdict "$r" "$GOAL_EPT")"
	done
	for row in fork exec; do
		r=$(ratio "${TICKS[shadow.$row]:-}" "${TICKS[native.$row]:-}")
		printf 'goal: mmu=shadow %-29s %sx <= %sx native: %s\n' "$(label "$row")" "$r" "$GOAL_SHADOW_FORKEXEC" \
			"$(verdict "$r" "$GOAL_SHADOW_FORKEXEC")"
	done
	r=$(ratio "${TICKS[shadow.boot]:-}" "${TICKS[native.boot]:-}")
	printf 'goal: mmu=shadow %-29s %sx <= %sx native: %s\n' "$(label boot)" "$r" "$GOAL_SHADOW_BOOT" \
		"$(verdict "$r" "$GOAL_SHADOW_BOOT")"
} | tee "$OUT"

if ((${#FAILED[@]})); then
	echo "bench-mmu: FAIL: the run(s) ${FAILED[*]} failed (logs in build/boot/$RUN-*)" >&2
	exit 1
fi
if ((${#MISSING[@]})); then
	echo "bench-mmu: FAIL: missing or bad numbers: $(printf '%s; ' "${MISSING[@]}")" >&2
	exit 1
fi
