#!/bin/bash
# keel.cfg with an unknown key, bad values and an empty value: keel must name each problem and still
# boot on to selftest.efi.
set -euo pipefail
PROG=t-qemu-config
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init qemu-config
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" \
	--cfg 'bogus=1\non_error=maybe\nlog=serial,floppy\nnext=\nnext=\\EFI\\keel\\selftest.efi\n'
t_run tests/boot/qemu.sh --esp "$T_ESP" --name "$T_NAME" --timeout 60

t_expect "unknown key 'bogus' is named" 'keel: config .*bogus'
t_expect "bad value for 'on_error' is named" 'keel: config .*on_error'
t_expect "bad log output 'floppy' is named" 'keel: config .*floppy'
t_expect "empty 'next' is reported" "keel: config .*empty value for 'next'"
t_expect "the boot went on to selftest" 'selftest: [0-9]+ passed, [0-9]+ failed'
t_done
