#!/bin/bash
# tools/mkimage.sh with SOURCE_DATE_EPOCH: two images of the same inputs made seconds apart are the
# same bytes (make debug replays a boot from the trace of an earlier one only from the same disk:
# random GUIDs, volume serial or time stamps change the firmware's instruction counts); another
# epoch gives other bytes, and so does no epoch at all (random GUIDs).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
source tests/tools/lib.sh

OUT=$ROOT/build/tests/tools/t-mkimage
rm -rf "$OUT"
mkdir -p "$OUT/guests"
printf 'not really keel\n' >"$OUT/keel.efi"
printf 'not really a guest\n' >"$OUT/guests/selftest.efi"

# image NAME [EPOCH]: an image of those inputs, made with SOURCE_DATE_EPOCH=EPOCH when given.
image() {
	env ${2:+SOURCE_DATE_EPOCH=$2} tools/mkimage.sh --out "$OUT/$1.img" --keel "$OUT/keel.efi" \
		--guests "$OUT/guests" --next '\EFI\keel\selftest.efi' --cfg-extra break=none >"$OUT/$1.out" 2>&1
}
image a 1700000000
sleep 2 # a FAT time stamp has 2-second steps
image b 1700000000
image c 1700000002
image d
sleep 2
image e

same() { cmp -s "$OUT/$1.img" "$OUT/$2.img"; }
differ() { ! same "$@"; }
tt_cond "same epoch, 2 s apart: the same bytes" same a b
tt_cond "another epoch: other bytes" differ a c
tt_cond "no epoch: other bytes each time" differ d e
tt_done
