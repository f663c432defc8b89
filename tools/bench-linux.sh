#!/bin/bash
# The Linux part of `make bench`: boots Debian's kernel and the keel initramfs under Bochs (1 CPU)
# with keel virtualizing and with virtualize=off, and prints the ticks to "keel-linux: userspace
# reached" (the guest's TSC at /init: Bochs counts instructions), their ratio and keel's exit census.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LINUX=build/guest/linux
OUT=build/bench/linux.txt
TARGET_RATIO=1.01
TARGET_OTHER_EXITS=10

[[ -f $LINUX/vmlinuz && -f $LINUX/initrd.img ]] || make --no-print-directory linux-guest
CMDLINE='console=ttyS0,115200 initrd=\\EFI\\keel\\initrd.img loglevel=4'

boot() {
	local name=$1 extra=$2
	tools/mkesp.sh --out "build/boot/$name-esp" --guests /nonexistent \
		--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
		--cfg "${extra}log=serial\\nnext=\\\\EFI\\\\keel\\\\vmlinuz\\nnext_args=$CMDLINE\\n"
	tests/boot/bochs.sh --esp "build/boot/$name-esp" --name "$name" --cpus 1 --megs 512 --timeout 1500 \
		--end 'keel-linux: done|Kernel panic'
}
boot bench-linux-native 'virtualize=off\n'
boot bench-linux-keel ''

# ticks RUN: the TSC /init printed ("keel-linux: tsc N at /init").
ticks() {
	LC_ALL=C grep -aoE 'keel-linux: tsc [0-9]+ at /init' "build/boot/$1/serial.clean" | head -n 1 |
		grep -oE '[0-9]+' | head -n 1
}
NATIVE=$(ticks bench-linux-native || true)
KEEL=$(ticks bench-linux-keel || true)
if [[ -z $NATIVE || -z $KEEL ]]; then
	echo "bench-linux: FAIL: no 'keel-linux: tsc N at /init' line (native '${NATIVE}', keel '${KEEL}')" >&2
	exit 1
fi
CENSUS=$(LC_ALL=C grep -aE '^keelctl: cpu[0-9]+ ' build/boot/bench-linux-keel/serial.clean | awk '!seen[$0]++' || true)
if [[ -z $CENSUS ]]; then
	echo "bench-linux: FAIL: no exit census (keelctl stats) in build/boot/bench-linux-keel/serial.clean" >&2
	exit 1
fi
# keelctl reads the counters one by one while its own VMCALLs add to them: sum the reason lines.
VMCALL=$(printf '%s\n' "$CENSUS" | awk '$3 == "VMCALL" { s += $NF } END { print s + 0 }')
OTHER=$(printf '%s\n' "$CENSUS" | awk '$3 != "total" && $3 != "mmu" && $3 != "CPUID" && $3 != "VMCALL" { s += $NF } END { print s + 0 }')
RATIO=$(awk -v k="$KEEL" -v n="$NATIVE" 'BEGIN { printf "%.4f", k / n }')
mkdir -p "$(dirname "$OUT")"
{
	echo "bench-linux: Bochs 2.7, 1 CPU, Debian's kernel to userspace (ticks = instructions)"
	printf 'linux-boot native %s keel %s ratio %s (target <= %s: %s)\n' "$NATIVE" "$KEEL" "$RATIO" \
		"$TARGET_RATIO" "$(awk -v r="$RATIO" -v t="$TARGET_RATIO" 'BEGIN { print (r <= t) ? "ok" : "over" }')"
	echo "exit census of the whole boot (keelctl stats at the end of /init, its own VMCALLs included):"
	printf '%s\n' "$CENSUS" | sed 's/^keelctl: /  /'
	printf 'exits that are neither CPUID nor VMCALL: %s (target <= %s: %s)\n' "$OTHER" "$TARGET_OTHER_EXITS" \
		"$([[ $OTHER -le $TARGET_OTHER_EXITS ]] && echo ok || echo over)"
	printf 'VMCALL: %s (one from keel'"'"'s loader sealing keel'"'"'s memory; the rest are keelctl'"'"'s own calls, after userspace)\n' "$VMCALL"
} | tee "$OUT"
