#!/bin/bash
# The README's `make run PLATFORM=bochs` path, as a user runs it: tools/run.sh boots keel with
# selftest.efi on Bochs (Bochs 3.0 with 2 CPUs when tools/bochs3.sh has built it, else Debian's
# Bochs 2.7 with 1 CPU), keel virtualizes every CPU and the self-test passes.
set -euo pipefail
PROG=t-run-bochs
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init run-bochs # tools/run.sh's runner writes build/boot/run-bochs/
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
t_run tools/run.sh bochs
t_expect "keel virtualized every CPU" 'keel: virtualized ([0-9]+) of \1 CPUs'
t_expect "the self-test sees keel" 'selftest: hypervisor keel'
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_done
