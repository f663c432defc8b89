#!/bin/bash
# Bochs 2.7, 1 CPU, debug_corrupt=guest_tr: keel breaks the guest TR before VMLAUNCH. Bochs must
# refuse the entry; keel must report the failed entry (exit reason, qualification, guest state),
# name the SDM rule broken (its software checker), get back into the firmware's context, and
# continue the boot unvirtualized: selftest then runs
# natively and ends with 0 failed. This is keel's "never brick a boot" path.
set -euo pipefail
PROG=t-bochs-entry-failure
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs-entry-failure
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\ndebug_corrupt=guest_tr\nnext=\\EFI\\keel\\selftest.efi\n'
t_run tests/boot/bochs.sh --esp "$T_ESP" --name "$T_NAME" --cpus 1 --timeout 600 --expect-entry-failure
t_expect "keel reports the failed entry" 'keel: VM entry failed on cpu0: exit reason 0x80000021 \(invalid guest state\)'
t_expect "keel's checker names the broken rule" 'keel: check: cpu0 breaks guest\.tr \(SDM Vol\. 3C 26\.3\.1\.2\)'
t_expect "keel dumps the offending TR" 'keel:   TR sel 0x[0-9a-f]+ base 0x[0-9a-f]+ limit 0x[0-9a-f]+ ar 0x10000'
t_expect "keel falls back to an unvirtualized boot" 'keel: VT-x unavailable: VM entry failed .*; continuing without virtualization'
t_expect "the next stage still starts" 'keel: starting \\EFI\\keel\\selftest\.efi'
t_expect "selftest runs natively" 'selftest: no hypervisor'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_done
