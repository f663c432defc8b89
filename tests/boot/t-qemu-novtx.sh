#!/bin/bash
# QEMU TCG has no VMX: keel must say why it cannot virtualize, continue, and start selftest.efi
# through next=, which must end with "selftest: N passed, 0 failed".
set -euo pipefail
PROG=t-qemu-novtx
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init qemu-novtx
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --cfg 'next=\\EFI\\keel\\selftest.efi\n'
t_run tests/boot/qemu.sh --esp "$T_ESP" --name "$T_NAME" --timeout 60

t_expect "keel reports VT-x unavailable and continues" \
	'keel: VT-x unavailable: .+; continuing without virtualization'
vtx_line=$T_LINE
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
summary_line=$T_LINE
t_check "the VT-x line comes before the selftest summary" \
	test "$vtx_line" -gt 0 -a "$summary_line" -gt "$vtx_line"
t_done
