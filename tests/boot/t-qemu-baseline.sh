#!/bin/bash
# Baseline without keel: QEMU TCG boots selftest.efi directly as BOOTX64.EFI; it must see no
# hypervisor (or QEMU's own) and end with "selftest: N passed, 0 failed".
set -euo pipefail
PROG=t-qemu-baseline
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init qemu-baseline
t_need "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --keel none --boot "$GUEST_DIR/selftest.efi"
t_run tests/boot/qemu.sh --esp "$T_ESP" --name "$T_NAME" --timeout 60

# QEMU sets CPUID.1:ECX[31] under TCG too, so "hypervisor other" is a correct answer here.
t_expect "selftest ran without keel" 'selftest: (no hypervisor|hypervisor other)'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_check "keel did not run" bash -c "! grep -aq 'keel: keel ' '$T_TEXT'"
t_done
