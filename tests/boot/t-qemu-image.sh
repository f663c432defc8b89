#!/bin/bash
# The disk image of `make image`: tools/mkimage.sh builds it with its defaults (next= selftest.efi)
# and QEMU TCG boots it as a plain disk (GPT, FAT32 ESP, removable-media path BOOTX64.EFI). keel must
# read keel.cfg from it, say VT-x is unavailable, and start selftest.efi, which must end with 0 failed.
set -euo pipefail
PROG=t-qemu-image
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init qemu-image
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
# Its own image, not build/keel.img: `make image` may have made that one with other settings.
IMG="$ROOT/build/boot/qemu-image.img"
if ! IMAGE_NEXT= IMAGE_NEXT_ARGS= IMAGE_CFG_EXTRA= tools/mkimage.sh --out "$IMG" --guests "$GUEST_DIR" \
	>/dev/null; then
	echo "  FAIL tools/mkimage.sh could not build $IMG"
	echo "$T_NAME: FAIL"
	exit 1
fi
t_run tests/boot/qemu.sh --disk "$IMG" --name "$T_NAME" --timeout 60

t_expect "keel booted from the image" 'keel: keel [0-9.]+ starting'
t_expect "keel read keel.cfg from the image" 'keel: config: read \\EFI\\keel\\keel\.cfg'
t_expect "keel reports VT-x unavailable and continues" \
	'keel: VT-x unavailable: .+; continuing without virtualization'
t_expect "keel started selftest.efi from the image" 'keel: starting \\EFI\\keel\\selftest\.efi'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_done
