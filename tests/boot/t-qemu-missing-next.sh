#!/bin/bash
# next= names a file that is not there: keel must say so by name and return to the firmware (which
# then shows its setup menu, so the run stops on keel's message rather than on a power-off).
set -euo pipefail
PROG=t-qemu-missing-next
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init qemu-missing-next
t_need build/keel.efi
tools/mkesp.sh --out "$T_ESP" --cfg 'next=\\EFI\\keel\\nothere.efi\n'
t_run tests/boot/qemu.sh --esp "$T_ESP" --name "$T_NAME" --timeout 60 --end 'nothere\.efi: file not found'

t_expect "keel names the missing next stage" 'keel: .*nothere\.efi: file not found'
t_done
