# shellcheck shell=bash
# Checks for the host tool tests (tests/tools/t-*.sh): sourced, not run. Each check prints
# "  ok   DESCRIPTION" or "  FAIL DESCRIPTION" with what it saw; tt_done ends the test.

TT_FAILS=0

tt_fail() {
	echo "  FAIL $1"
	TT_FAILS=$((TT_FAILS + 1))
}

# tt_line DESCRIPTION FILE REGEX: some line of FILE matches REGEX (extended).
tt_line() {
	if grep -qE -- "$3" "$2"; then
		echo "  ok   $1"
	else
		tt_fail "$1: no line /$3/ in $2"
	fi
}

# tt_rows DESCRIPTION FILE RANGE N: the lines of FILE in the sed address RANGE are a heading, a
# column header, N rows and an empty line (the end of the section).
tt_rows() {
	local got
	got=$(sed -n "$3p" "$2" | wc -l)
	if ((got == $4 + 3)); then
		echo "  ok   $1"
	else
		tt_fail "$1: $((got - 3)) rows in $2:"
		sed -n "$3p" "$2" | sed 's/^/    | /'
	fi
}

# tt_same DESCRIPTION FILE: FILE's text is exactly standard input.
tt_same() {
	local want
	want=$(cat)
	if [[ $(cat "$2") == "$want" ]]; then
		echo "  ok   $1"
	else
		tt_fail "$1: $2 differs (- expected, + got):"
		diff <(echo "$want") "$2" | sed 's/^/    /' || true
	fi
}

# tt_cond DESCRIPTION COMMAND...: COMMAND succeeds.
tt_cond() {
	local desc=$1
	shift
	if "$@"; then
		echo "  ok   $desc"
	else
		tt_fail "$desc"
	fi
}

tt_done() {
	if ((TT_FAILS)); then
		echo "$(basename "$0" .sh): FAIL ($TT_FAILS checks failed)"
		exit 1
	fi
	echo "$(basename "$0" .sh): ok"
}
