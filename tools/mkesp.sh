#!/bin/bash
# Builds an EFI system partition directory: keel (or another program) as EFI/BOOT/BOOTX64.EFI, the
# guest programs under EFI/keel/, an optional EFI/keel/keel.cfg and extra files. Removes DIR first.
set -euo pipefail

usage() {
	cat >&2 <<'EOF'
usage: tools/mkesp.sh --out DIR [--keel build/keel.efi|none] [--boot FILE] [--cfg TEXT]
                      [--guests DIR] [--add SRC:DEST]...
  --keel FILE|none  keel image installed as EFI/BOOT/BOOTX64.EFI (default build/keel.efi)
  --boot FILE       install FILE as EFI/BOOT/BOOTX64.EFI instead of keel (baselines without keel)
  --cfg TEXT        write TEXT to EFI/keel/keel.cfg; "\n" escapes become newlines
  --guests DIR      copy DIR/*.efi to EFI/keel/ (default $KEEL_GUEST_DIR or build/guest)
  --add SRC:DEST    copy SRC to DEST (a path inside the ESP); repeatable
EOF
	exit 2
}

die() {
	echo "mkesp.sh: $*" >&2
	exit 1
}

OUT='' KEEL=build/keel.efi BOOT='' CFG='' HAVE_CFG=0 GUESTS=${KEEL_GUEST_DIR:-build/guest}
ADDS=()
while [[ $# -gt 0 ]]; do
	[[ $1 == -h || $1 == --help ]] && usage
	[[ $# -ge 2 ]] || { echo "mkesp.sh: $1 needs a value" >&2; usage; }
	case $1 in
	--out) OUT=$2 ;;
	--keel) KEEL=$2 ;;
	--boot) BOOT=$2 ;;
	--cfg) CFG=$2; HAVE_CFG=1 ;;
	--guests) GUESTS=$2 ;;
	--add) ADDS+=("$2") ;;
	*) echo "mkesp.sh: unknown argument '$1'" >&2; usage ;;
	esac
	shift 2
done
[[ -n $OUT ]] || usage
case $OUT in
/ | . | .. | "$HOME") die "refusing to use '$OUT' as the output directory (it is removed first)" ;;
esac

# Check every input before touching DIR.
if [[ -n $BOOT ]]; then
	[[ -f $BOOT ]] || die "--boot $BOOT: file not found"
	LOADER=$BOOT
elif [[ $KEEL != none ]]; then
	[[ -f $KEEL ]] || die "$KEEL: file not found (run 'make' first)"
	LOADER=$KEEL
else
	LOADER=
fi
for a in "${ADDS[@]}"; do
	[[ $a == *:* ]] || die "--add $a: expected SRC:DEST"
	[[ -e ${a%%:*} ]] || die "--add $a: ${a%%:*} not found"
done

rm -rf "$OUT"
mkdir -p "$OUT/EFI/BOOT" "$OUT/EFI/keel"
[[ -n $LOADER ]] && cp "$LOADER" "$OUT/EFI/BOOT/BOOTX64.EFI"

shopt -s nullglob
for g in "$GUESTS"/*.efi; do
	cp "$g" "$OUT/EFI/keel/"
done
shopt -u nullglob

if ((HAVE_CFG)); then
	# Exactly TEXT (with its escapes expanded): no newline is added.
	printf '%b' "$CFG" >"$OUT/EFI/keel/keel.cfg"
fi

for a in "${ADDS[@]}"; do
	src=${a%%:*} dest=${a#*:}
	dest=${dest#/}
	mkdir -p "$OUT/$(dirname "$dest")"
	cp -r "$src" "$OUT/$dest"
done
