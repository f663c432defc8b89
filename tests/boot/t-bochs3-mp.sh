#!/bin/bash
# Bochs 3.0 (built once by tools/bochs3.sh from Debian trixie's source package), 2 CPUs: keel
# virtualizes both, and selftest runs its per-CPU cases on the AP through MP services, which wakes
# the AP with INIT-SIPI-SIPI while it runs under keel (keel's INIT and SIPI handlers).
set -euo pipefail
PROG=t-bochs3-mp
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"

t_init bochs3-mp
t_need build/keel.efi "$GUEST_DIR/selftest.efi"
if ! BOCHS3=$(tools/bochs3.sh); then
	echo "  FAIL could not build Bochs 3.0 (tools/bochs3.sh)"
	echo "$T_NAME: FAIL"
	exit 1
fi
tools/mkesp.sh --out "$T_ESP" --cfg 'log=serial\nnext=\\EFI\\keel\\selftest.efi\n'
t_run tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$T_ESP" --name "$T_NAME" --cpus 2 --timeout 600
t_expect "both CPUs virtualized" 'keel: virtualized 2 of 2 CPUs'
t_expect "selftest sees keel" 'selftest: hypervisor keel'
t_expect "the AP sees keel's CPUID leaf" '^PASS mp\.cpu1\.cpuid\.keel_leaf$'
t_expect "the AP's version hypercall works" '^PASS mp\.cpu1\.hc\.version$'
t_expect "per-CPU cases ran" '^PASS mp\.each_ap$'
t_expect "the AP's VMX instructions raise #UD" '^PASS mp\.cpu1\.vmx\.vmxon_ud$'
t_expect "the AP's ring-0 traps work under keel" '^PASS mp\.cpu1\.trap\.tf_over_cpuid_db$'
no_ap_failure() { ! grep -aqE '^FAIL mp\.cpu1\.' "$T_TEXT"; }
ap_passes_at_least() { (($(grep -aE '^PASS mp\.cpu1\.' "$T_TEXT" | sort -u | wc -l) >= $1)); }
t_check "no case failed on the AP" no_ap_failure
t_check "at least 40 different cases passed on the AP" ap_passes_at_least 40
t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
t_done
