# shellcheck shell=bash
# Shared helpers for the boot runners (bochs.sh, qemu.sh) and the tests (t-*.sh): sourced, not run.
# Argument checks, serial-log cleaning, the live milestone echo, the end-marker poll loop, checks.

# Lines of the serial log worth showing live (matched after cleaning).
MILESTONE_RE='keel:|selftest:|^PASS |^FAIL |^SKIP |keel-linux:|Kernel panic|keelctl'

die() {
	echo "$PROG: $*" >&2
	exit 2
}

# need_arg OPTION NUMBER_OF_REMAINING_ARGS: an option's value must follow it.
need_arg() {
	[[ $2 -ge 2 ]] || die "$1 needs a value"
}

check_uint() {
	[[ $2 =~ ^[0-9]+$ ]] || die "$1 wants a whole number, got '$2'"
}

check_name() {
	[[ $1 =~ ^[A-Za-z0-9._-]+$ ]] || die "--name wants letters, digits, '.', '_' or '-', got '$1'"
}

# now: wall-clock seconds with a fraction (for elapsed times).
now() {
	echo "${EPOCHREALTIME:-$(date +%s.%N)}"
}

# since START: seconds elapsed since START, one decimal.
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'
}

# clean_log IN OUT: the serial log without carriage returns and terminal escape sequences.
clean_log() {
	if [[ -f $1 ]]; then
		LC_ALL=C tr -d '\r' <"$1" |
			LC_ALL=C sed -E $'s/\x1b\\[[0-9;?=]*[ -\\/]*[@-~]//g; s/\x1b[()][0-9A-Za-z]//g; s/\x1b[=>78DEHMc]//g' >"$2.tmp"
		mv -f "$2.tmp" "$2"
	else
		: >"$2"
	fi
}

# Live echo state: how many complete lines of the cleaned log were already looked at, and the last
# milestone shown (OVMF mirrors its console to COM1, so a line printed to both comes out twice).
ECHO_SEEN=0
ECHO_LAST=

# echo_milestones CLEAN: print the milestone lines that completed since the last call, as "  | ...".
echo_milestones() {
	local total line
	total=$(wc -l <"$1")
	((total > ECHO_SEEN)) || return 0
	while IFS= read -r line; do
		[[ $line == "$ECHO_LAST" ]] && continue
		ECHO_LAST=$line
		printf '  | %s\n' "$line"
	done < <(sed -n "$((ECHO_SEEN + 1)),${total}p" "$1" | LC_ALL=C grep -aE "$MILESTONE_RE" || true)
	ECHO_SEEN=$total
}

# alive PID: the process exists and is not a zombie.
alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $state != Z* ]]
}

# cmdline_has PID TEXT: the process PID runs with TEXT somewhere in its command line.
cmdline_has() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# start_guard PID TEXT SIGNAL: a watcher that sends SIGNAL to the emulator PID if this script dies
# without running its traps (SIGKILL, e.g. from a `timeout -s KILL` around it), so that no emulator
# is ever orphaned. It checks TEXT against the command line first, in case the PID was reused.
# Sets GUARD_PID; stop_guard ends it.
start_guard() {
	local pid=$1 text=$2 sig=$3
	(
		exec </dev/null >/dev/null 2>&1
		while kill -0 $$ 2>/dev/null; do
			sleep 1
		done
		if cmdline_has "$pid" "$text"; then
			kill "-$sig" "$pid"
		fi
	) &
	GUARD_PID=$!
}

stop_guard() {
	if [[ -n ${GUARD_PID:-} ]]; then
		kill "$GUARD_PID" 2>/dev/null || true
		wait "$GUARD_PID" 2>/dev/null || true
		GUARD_PID=
	fi
}

# watch_run PID SERIAL CLEAN END TIMEOUT GRACE START
# Polls until the end marker shows up in the serial log, the emulator exits, or TIMEOUT seconds pass.
# When the marker shows up, the guest gets GRACE more seconds to power the machine off by itself.
# Sets OUTCOME to end, exited or timeout.
watch_run() {
	local pid=$1 serial=$2 clean=$3 end=$4 timeout=$5 grace=$6 start=$7 t_end
	OUTCOME=
	while :; do
		clean_log "$serial" "$clean"
		echo_milestones "$clean"
		if LC_ALL=C grep -aEq -- "$end" "$clean"; then
			OUTCOME=end
			break
		fi
		if ! alive "$pid"; then
			OUTCOME=exited
			break
		fi
		if awk -v e="$(since "$start")" -v t="$timeout" 'BEGIN { exit !(e >= t) }'; then
			OUTCOME=timeout
			break
		fi
		sleep 0.5
	done
	if [[ $OUTCOME == end ]]; then
		t_end=$(now)
		while alive "$pid" && awk -v e="$(since "$t_end")" -v g="$grace" 'BEGIN { exit !(e < g) }'; do
			sleep 0.2
		done
	fi
	# One last look: the guest may have printed its summary and powered off between two polls.
	clean_log "$serial" "$clean"
	if [[ $OUTCOME == exited ]] && LC_ALL=C grep -aEq -- "$end" "$clean"; then
		OUTCOME=end
	fi
	# Show a final line that has no newline yet, then everything else still unseen.
	[[ -s $clean && $(tail -c 1 "$clean") != "" ]] && echo >>"$clean"
	echo_milestones "$clean"
}

# ---- helpers for the tests (t-*.sh) ----

# t_init NAME: start a test whose runner work directory is build/boot/NAME (ESP in build/boot/NAME-esp).
# Sets T_ESP, T_SERIAL, T_TEXT (the cleaned serial log) and GUEST_DIR (build/guest, or
# $KEEL_GUEST_DIR to try the tests with other guest programs), and moves to the repository root.
# shellcheck disable=SC2034
t_init() {
	T_NAME=$1
	T_FAILS=0
	T_ESP="$ROOT/build/boot/$1-esp"
	T_SERIAL="$ROOT/build/boot/$1/serial.log"
	T_TEXT="$ROOT/build/boot/$1/serial.text"
	GUEST_DIR=${KEEL_GUEST_DIR:-$ROOT/build/guest}
	cd "$ROOT" || exit 1
}

# t_need FILE...: fail the test at once, with a clear message, when an input is missing.
t_need() {
	local f
	for f in "$@"; do
		if [[ ! -f $f ]]; then
			echo "  FAIL missing $f (run 'make all')"
			echo "$T_NAME: FAIL"
			exit 1
		fi
	done
}

# t_run COMMAND...: run the runner; a failing runner fails the test, but the checks still run.
t_run() {
	if ! "$@"; then
		echo "  FAIL the runner reported a failure"
		T_FAILS=$((T_FAILS + 1))
	fi
	clean_log "$T_SERIAL" "$T_TEXT"
}

# t_expect DESCRIPTION REGEX: the cleaned serial log must match REGEX (extended). Sets T_LINE to the
# number of the first matching line (0 when none).
t_expect() {
	T_LINE=$(LC_ALL=C grep -anE -- "$2" "$T_TEXT" | head -n 1 | cut -d: -f1 || true)
	T_LINE=${T_LINE:-0}
	if ((T_LINE)); then
		echo "  ok   $1"
	else
		echo "  FAIL $1: no /$2/ in build/boot/$T_NAME/serial.log"
		T_FAILS=$((T_FAILS + 1))
	fi
}

# t_check DESCRIPTION CONDITION...: a check of anything else (CONDITION is a command).
t_check() {
	local desc=$1
	shift
	if "$@"; then
		echo "  ok   $desc"
	else
		echo "  FAIL $desc"
		T_FAILS=$((T_FAILS + 1))
	fi
}

t_done() {
	if ((T_FAILS)); then
		echo "$T_NAME: FAIL ($T_FAILS checks failed)"
		exit 1
	fi
	echo "$T_NAME: ok"
}

# ---- the Linux guest (tools/linux-guest.sh) ----

# The kernel command line of every Linux boot test. loglevel=4: warnings and worse only; every
# console byte costs Bochs ~17k ticks at 115200 baud, and a panic (KERN_EMERG) still shows.
LINUX_CMDLINE='console=ttyS0,115200 initrd=\\EFI\\keel\\initrd.img loglevel=4'

# t_linux_guest: sets LINUX and builds the guest when it is missing or older than its sources (a
# rebuild from cached .debs is offline and takes seconds; the first one downloads about 70 MB).
t_linux_guest() {
	LINUX=build/guest/linux
	local stale=0
	[[ -f $LINUX/vmlinuz && -f $LINUX/initrd.img ]] || stale=1
	if ((!stale)) && [[ -n $(find guest/keelctl guest/linux tools/linux-guest.sh vmm/hypercall_abi.h \
		-newer "$LINUX/initrd.img" -print -quit) ]]; then
		stale=1
	fi
	if ((stale)); then
		echo "  building the Linux guest (make linux-guest)"
		if ! make --no-print-directory linux-guest; then
			echo "  FAIL could not build $LINUX/vmlinuz and initrd.img with 'make linux-guest':"
			echo "       it needs Debian's package servers (apt-get download) unless $LINUX/debs holds the .debs"
			echo "$T_NAME: FAIL"
			exit 1
		fi
	fi
	t_need "$LINUX/vmlinuz" "$LINUX/initrd.img"
}

# t_bochs3: sets BOCHS3 to the project's Bochs 3.0 (tools/bochs3.sh builds it once).
t_bochs3() {
	if ! BOCHS3=$(tools/bochs3.sh); then
		echo "  FAIL could not build Bochs 3.0 (tools/bochs3.sh)"
		echo "$T_NAME: FAIL"
		exit 1
	fi
}

# t_linux_esp CFG: T_ESP with the kernel and initramfs; keel.cfg is CFG (mkesp.sh escapes, each
# line ending in \n) followed by the lines that start the kernel.
t_linux_esp() {
	tools/mkesp.sh --out "$T_ESP" --guests /nonexistent \
		--add "$LINUX/vmlinuz:EFI/keel/vmlinuz" --add "$LINUX/initrd.img:EFI/keel/initrd.img" \
		--cfg "$1"'next=\\EFI\\keel\\vmlinuz\nnext_args='"$LINUX_CMDLINE"'\n'
}

# t_linux_checks: what every Linux boot under keel must show: userspace, keelctl's info and
# stats, /init's end, and no panic, unhandled exit or stopped vCPU.
t_linux_checks() {
	t_expect "keel started the kernel" 'keel: starting \\EFI\\keel\\vmlinuz'
	t_expect "Linux reached userspace" 'keel-linux: userspace reached'
	t_expect "keelctl info found keel" 'keelctl: keel [0-9]+\.[0-9]+\.[0-9]+, [0-9]+ CPUs virtualized'
	t_expect "keelctl stats printed a total" 'keelctl: total [0-9]+ exits on [0-9]+ CPUs'
	t_expect "init finished" 'keel-linux: done'
	t_check "no Kernel panic" bash -c "! grep -aq 'Kernel panic' '$T_TEXT'"
	t_check "no unhandled VM exit" bash -c "! grep -aq 'keel: unhandled VM exit' '$T_TEXT'"
	t_check "no vCPU stopped" bash -c "! grep -aq 'stopped: ' '$T_TEXT'"
}
