#!/bin/bash
# Bochs, 2 CPUs, virtualize=off: keel must report both CPUs and Bochs's VMX features (EPT, VPID,
# unrestricted guest), then start selftest.efi, which must end with 0 failed.
set -euo pipefail
PROG=t-bochs-report
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs-report
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --cfg 'virtualize=off\nnext=\\EFI\\keel\\selftest.efi\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 300

t_expect "keel banner" 'keel: keel '
t_expect "two logical CPUs" 'keel: logical CPUs: 2'
t_expect "EPT reported" 'keel: vmx: EPT yes'
t_expect "VPID reported" 'keel: vmx: .*VPID yes'
t_expect "unrestricted guest reported" 'keel: vmx: .*unrestricted guest yes'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_done
