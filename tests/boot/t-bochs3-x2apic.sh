#!/bin/bash
# Bochs 3.0 (tools/bochs3.sh), default model (x2APIC, EPT), 4 CPUs: selftest's mp.x2apic cases
# (load option x2apic) put every CPU in x2APIC mode and restart each AP through the x2APIC ICR
# (WRMSR 0x830): INIT-SIPI-SIPI, INIT-INIT-SIPI, INIT and SIPI without a pause, and all-but-self
# INIT-SIPI-SIPI, three rounds, the vector alternating between two start pages. Natively first (the
# baseline), then under keel with EPT and with mmu=shadow, where every real-mode start runs on the
# EPT (docs/smp.md, "x2APIC"). Linux 6.1 does not turn x2APIC on under Bochs, so this is the boot
# that sends keel's x2APIC INITs and SIPIs.
set -euo pipefail
PROG=t-bochs3-x2apic
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/boot/lib.sh"
CPUS=4
CASES='init_sipi_sipi init_init_sipi all_but_self_init_sipi_sipi'

# x2apic_boot NAME CFG: selftest x2apic under keel.cfg line CFG; the checks every run shares.
x2apic_boot() {
	t_init "$1"
	t_need build/keel.efi "$GUEST_DIR/selftest.efi"
	tools/mkesp.sh --out "$T_ESP" --cfg "log=serial\\n$2\\nnext=\\\\EFI\\\\keel\\\\selftest.efi\\nnext_args=x2apic\\n"
	t_run tests/boot/bochs.sh --bochs "$BOCHS3" --esp "$T_ESP" --name "$T_NAME" --cpus $CPUS --timeout 600
	t_expect "every CPU in x2APIC mode" '^PASS mp\.x2apic\.all_cpus_in_x2apic_mode$'
	local c
	for c in $CASES; do
		t_expect "$c restarted every AP, 3 rounds" "^PASS mp\\.x2apic\\.$c\$"
	done
	t_expect "$((CPUS - 1)) APs restarted through MSR 0x830" "selftest: x2apic: $((CPUS - 1)) APs, [0-9]+ starts through MSR 0x830"
	t_expect "selftest summary with 0 failed" 'selftest: [0-9]+ passed, 0 failed'
}

t_init bochs3-x2apic
if ! BOCHS3=$(tools/bochs3.sh); then
	echo "  FAIL could not build Bochs 3.0 (tools/bochs3.sh)"
	echo "$T_NAME: FAIL"
	exit 1
fi
FAILS=0

echo "  -- natively (virtualize=off)"
x2apic_boot bochs3-x2apic-native virtualize=off
t_expect "natively the SIPI right behind its INIT is not asked of the CPU" \
	'^SKIP mp\.x2apic\.sipi_right_after_init: natively'
FAILS=$((FAILS + T_FAILS))

for mmu in ept shadow; do
	echo "  -- under keel, mmu=$mmu"
	x2apic_boot bochs3-x2apic-$mmu mmu=$mmu
	t_expect "keel virtualized all CPUs" "keel: virtualized $CPUS of $CPUS CPUs"
	t_expect "selftest sees keel" 'selftest: hypervisor keel'
	t_expect "a SIPI right behind its INIT started every AP, 3 rounds" '^PASS mp\.x2apic\.sipi_right_after_init$'
	t_expect "each AP started under keel: 4 starts per round per AP, 3 rounds" \
		"selftest: x2apic: $((CPUS - 1)) APs, $((12 * (CPUS - 1))) starts through MSR 0x830"
	t_check "no unhandled VM exit" bash -c "! grep -aq 'keel: unhandled VM exit' '$T_TEXT'"
	t_check "no vCPU stopped" bash -c "! grep -aq 'stopped: ' '$T_TEXT'"
	FAILS=$((FAILS + T_FAILS))
done
if [[ $mmu == shadow ]]; then
	t_expect "under mmu=shadow an AP in real mode runs on the EPT" \
		'keel: cpu1: guest paging off \(CR0 0x60000010\): runs on the EPT'
	FAILS=$((FAILS + T_FAILS))
fi

T_NAME=bochs3-x2apic
T_FAILS=$FAILS
t_done
