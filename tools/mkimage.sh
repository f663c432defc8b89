#!/bin/bash
# `make image`: builds build/keel.img, a 64 MiB disk image with a GPT and one FAT32 EFI system
# partition holding keel as EFI/BOOT/BOOTX64.EFI, EFI/keel/keel.cfg and the guest programs. Write it
# to a USB stick with dd, or boot it in QEMU (-drive format=raw,file=...) or Bochs (mode=flat).
# Needs only mtools, coreutils and gzip (its trailer gives the CRC-32 the GPT wants).
# With SOURCE_DATE_EPOCH set (seconds), the same inputs give the same bytes: GUIDs and the volume
# serial derive from it and every time stamp is it (tools/debug.sh relies on this: an emulator
# replays a boot exactly only from the same disk).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() {
	cat >&2 <<'EOF'
usage: tools/mkimage.sh [--out FILE] [--next PATH|none] [--next-args TEXT] [--cfg-extra TEXT]
                        [--keel FILE] [--guests DIR]
  --out FILE        the image (default $IMAGE_OUT or build/keel.img); replaced when done
  --next PATH|none  next= in keel.cfg (default $IMAGE_NEXT or \EFI\keel\selftest.efi); "none"
                    writes no next= (keel returns to the firmware's boot manager). A path whose
                    file name starts with "vmlinuz" also installs build/guest/linux/vmlinuz there and
                    initrd.img beside it, with next_args for a serial and screen console
  --next-args TEXT  next_args= in keel.cfg (default $IMAGE_NEXT_ARGS; for vmlinuz, see above;
                    --next-args '' gives a vmlinuz no options)
  --cfg-extra TEXT  lines appended to keel.cfg as they are (default $IMAGE_CFG_EXTRA); separate
                    several lines with real newlines
  --keel FILE       the boot program (default build/keel.efi)
  --guests DIR      where the *.efi guest programs are (default build/guest)
EOF
	exit 2
}

die() {
	echo "mkimage: $*" >&2
	exit 1
}

OUT=${IMAGE_OUT:-build/keel.img}
NEXT=${IMAGE_NEXT:-'\EFI\keel\selftest.efi'}
NEXT_ARGS=${IMAGE_NEXT_ARGS:-}
HAVE_NEXT_ARGS=0
[[ -n $NEXT_ARGS ]] && HAVE_NEXT_ARGS=1
EXTRA=${IMAGE_CFG_EXTRA:-}
KEEL=build/keel.efi
GUESTS=build/guest
LINUX=build/guest/linux
while [[ $# -gt 0 ]]; do
	[[ $1 == -h || $1 == --help ]] && usage
	[[ $# -ge 2 ]] || { echo "mkimage: $1 needs a value" >&2; usage; }
	case $1 in
	--out) OUT=$2 ;;
	--next) NEXT=$2 ;;
	--next-args) NEXT_ARGS=$2; HAVE_NEXT_ARGS=1 ;;
	--cfg-extra) EXTRA=$2 ;;
	--keel) KEEL=$2 ;;
	--guests) GUESTS=$2 ;;
	*) echo "mkimage: unknown argument '$1'" >&2; usage ;;
	esac
	shift 2
done

for tool in mformat mmd mcopy mdir gzip truncate dd; do
	command -v "$tool" >/dev/null || die "'$tool' not found (tools/deps.sh build installs mtools)"
done
[[ -f $KEEL ]] || die "$KEEL not found (run 'make' first)"

# ---- geometry: 64 MiB = 131072 sectors of 512 bytes = 256 cylinders x 16 heads x 32 sectors ----
SECTOR=512
TOTAL=131072
PART_START=2048                   # 1 MiB, the usual alignment
LAST_USABLE=$((TOTAL - 34))       # the backup entries (32 sectors) and header (1) sit behind it
PART_END=$LAST_USABLE             # inclusive
PART_SECTORS=$((PART_END - PART_START + 1))
ESP_TYPE=C12A7328-F81F-11D2-BA4B-00A0C93EC93B

TMP=$(mktemp -d "${TMPDIR:-/tmp}/keel-image.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---- the files: an ESP directory tree first (tools/mkesp.sh), then keel.cfg ----
NEXT=${NEXT//\//\\}
ADDS=()
if [[ $NEXT != none ]]; then
	[[ $NEXT == \\* ]] || die "--next '$NEXT': expected an absolute path on the image, such as \\EFI\\keel\\selftest.efi"
	rel=${NEXT#\\}
	rel=${rel//\\//}
	name=${rel##*/}
	if [[ ${name,,} == vmlinuz* ]]; then
		for f in vmlinuz initrd.img; do
			[[ -f $LINUX/$f ]] || die "$LINUX/$f not found (run 'make linux-guest' first)"
		done
		dir=${rel%/*}
		[[ $dir == "$rel" ]] && dir=
		initrd="${dir:+$dir/}initrd.img"
		ADDS+=(--add "$LINUX/vmlinuz:$rel" --add "$LINUX/initrd.img:$initrd")
		if ((!HAVE_NEXT_ARGS)); then
			# The last console= becomes /dev/console: serial, where the boot tests and Bochs look.
			NEXT_ARGS="console=tty0 console=ttyS0,115200 initrd=\\${initrd//\//\\}"
		fi
	fi
fi
tools/mkesp.sh --out "$TMP/esp" --keel "$KEEL" --guests "$GUESTS" "${ADDS[@]}"

CFG="$TMP/esp/EFI/keel/keel.cfg"
{
	echo "# keel.cfg, written by tools/mkimage.sh; every key is in docs/configuration.md"
	if [[ $NEXT == none ]]; then
		echo "# no next=: keel returns to the firmware's boot manager"
	else
		printf 'next=%s\n' "$NEXT"
	fi
	[[ -n $NEXT_ARGS ]] && printf 'next_args=%s\n' "$NEXT_ARGS"
	[[ -n $EXTRA ]] && printf '%s\n' "$EXTRA"
} >"$CFG"
if [[ $NEXT != none && ! -f "$TMP/esp/${rel}" ]]; then
	echo "mkimage: warning: next=$NEXT is not on the image: keel will report 'file not found' and" \
		"return to the firmware" >&2
fi

# ---- the disk: protective MBR, primary and backup GPT, one EFI system partition ----
# le VALUE BYTES: VALUE as little-endian bytes, in printf escapes.
le() {
	local v=$1 n=$2 i out=
	for ((i = 0; i < n; i++)); do
		out+=$(printf '\\x%02x' $(((v >> (8 * i)) & 0xFF)))
	done
	printf '%s' "$out"
}

# guid TEXT: a GUID in its on-disk form (first three fields little-endian, the rest as written).
guid() {
	local g=${1//-/} out= i
	out+=$(le $((16#${g:0:8})) 4)$(le $((16#${g:8:4})) 2)$(le $((16#${g:12:4})) 2)
	for ((i = 16; i < 32; i += 2)); do
		out+="\\x${g:i:2}"
	done
	printf '%s' "$out"
}

# put FILE OFFSET: writes stdin into FILE at byte OFFSET.
put() {
	dd of="$1" bs=4096 seek="$2" oflag=seek_bytes conv=notrunc status=none
}

# crc32 FILE OFFSET LENGTH: the CRC-32 of those bytes, as 4 raw little-endian bytes.
crc32() {
	tail -c +$(($2 + 1)) "$1" | head -c "$3" | gzip -c -n | tail -c 8 | head -c 4
}

# new_guid NAME: a random GUID; with SOURCE_DATE_EPOCH, one derived from it and NAME.
new_guid() {
	if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
		# Shaped like a version-4 GUID (version nibble 4, variant bits 10).
		printf 'keel-image %s %s' "$SOURCE_DATE_EPOCH" "$1" | md5sum |
			sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/'
		return
	fi
	cat /proc/sys/kernel/random/uuid 2>/dev/null || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' |
		sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12})$/\1-\2-\3-\4-\5/'
}

IMG="$TMP/keel.img"
truncate -s $((TOTAL * SECTOR)) "$IMG"

# Protective MBR (UEFI 2.10, 5.2.3): one partition of type 0xEE covering the disk.
{
	printf '\x00\x00\x02\x00\xee\xff\xff\xff'
	printf "$(le 1 4)$(le $((TOTAL - 1)) 4)"
} | put "$IMG" 446
printf '\x55\xaa' | put "$IMG" 510

# The partition entry array: 128 entries of 128 bytes, the first one in use.
ENTRIES="$TMP/entries"
truncate -s $((128 * 128)) "$ENTRIES"
NAME16=
name="EFI system partition"
for ((i = 0; i < ${#name}; i++)); do
	NAME16+=$(printf '\\x%02x\\x00' "'${name:i:1}")
done
printf "$(guid $ESP_TYPE)$(guid "$(new_guid partition)")$(le $PART_START 8)$(le $PART_END 8)$(le 0 8)$NAME16" |
	put "$ENTRIES" 0
DISK_GUID=$(guid "$(new_guid disk)")

# header FILE MY_LBA ALTERNATE_LBA ENTRIES_LBA: a GPT header (UEFI 2.10, 5.3.2) with its CRC.
header() {
	local f=$1
	truncate -s 0 "$f"
	truncate -s 92 "$f"
	printf "EFI PART$(le 0x00010000 4)$(le 92 4)$(le 0 4)$(le 0 4)" | put "$f" 0
	printf "$(le "$2" 8)$(le "$3" 8)$(le 34 8)$(le $LAST_USABLE 8)$DISK_GUID" | put "$f" 24
	printf "$(le "$4" 8)$(le 128 4)$(le 128 4)" | put "$f" 72
	crc32 "$ENTRIES" 0 $((128 * 128)) | put "$f" 88
	crc32 "$f" 0 92 | put "$f" 16
}
header "$TMP/primary" 1 $((TOTAL - 1)) 2
header "$TMP/backup" $((TOTAL - 1)) 1 $((TOTAL - 33))
put "$IMG" $((1 * SECTOR)) <"$TMP/primary"
put "$IMG" $((2 * SECTOR)) <"$ENTRIES"
put "$IMG" $(((TOTAL - 33) * SECTOR)) <"$ENTRIES"
put "$IMG" $(((TOTAL - 1) * SECTOR)) <"$TMP/backup"

# FAT32 needs at least 65525 clusters: one sector per cluster gives about 127000 here.
export MTOOLS_SKIP_CHECK=1
FAT="$IMG@@$((PART_START * SECTOR))"
SERIAL=()
if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
	[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH '$SOURCE_DATE_EPOCH': expected seconds since 1970"
	SERIAL=(-N "$(printf '%08x' $((SOURCE_DATE_EPOCH & 0xffffffff)))")
	find "$TMP/esp" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + # mcopy -m keeps them; mtools takes its own time from the variable
fi
mformat -i "$FAT" -F -c 1 -T $PART_SECTORS -H $PART_START -h 16 -s 32 -v KEEL "${SERIAL[@]}" ::
mcopy -s -m -i "$FAT" "$TMP/esp/EFI" ::/

mkdir -p "$(dirname "$OUT")"
mv -f "$IMG" "$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"

echo "mkimage: $OUT: 64 MiB, GPT, FAT32 EFI system partition at 1 MiB (CHS 256/16/32 for Bochs)"
(cd "$TMP/esp" && find EFI -type f | sort | while read -r f; do
	printf 'mkimage:   %-28s %8s bytes\n' "$f" "$(stat -c %s "$f")"
done)
sed 's/^/mkimage:   keel.cfg: /' "$CFG"
