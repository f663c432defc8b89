#!/bin/bash
# tools/trace on a hand-written trace (trace-exceptions.txt, symbols in trace-exceptions.sym):
# summary, diff, census and profile must report each reason under its own name with its own
# figures. Basic reason 0 (exception or NMI) sorts first among the reasons, where a per-reason
# grouping that starts from an unset key once shifted its row by a field (its count printed as
# the reason: "reason 4097").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
source tests/tools/lib.sh

T=tests/tools/trace-exceptions.txt
OUT=build/tests/tools/t-trace
mkdir -p "$OUT"

tools/trace summary "$T" >"$OUT/summary.txt"
tools/trace diff "$T" "$T" >"$OUT/diff.txt"
tools/trace census "$T" >"$OUT/census.txt"
tools/trace census "$T" 0 2 >"$OUT/census-cpu0-2.txt"
tools/trace profile "$T" tests/tools/trace-exceptions.sym 0x1e200000 >"$OUT/profile.txt"

# The root-mode costs of the trace, by hand: reason 0 had episodes of 150, 170 and 200
# instructions, CPUID 40 and 44; the failed entry and its exit have none.
tt_line "summary: exits by reason, exception or NMI (0): cpu0 2, cpu1 1, total 3" "$OUT/summary.txt" \
	'^exception or NMI \(0\) +2 +1 +3$'
tt_line "summary: root-mode costs of exception or NMI: 3 exits, min 150, median 170, p99 200, max 200, total 520" \
	"$OUT/summary.txt" '^exception or NMI +3 +150 +170 +200 +200 +520$'
tt_line "summary: root-mode costs of CPUID: 2 exits, min 40, median 40, p99 44, max 44, total 84" \
	"$OUT/summary.txt" '^CPUID +2 +40 +40 +44 +44 +84$'
tt_rows "summary: the root-mode table has those 2 rows and no other" "$OUT/summary.txt" \
	'/^-- root-mode instructions/,/^$/' 2
tt_line "summary: totals (6 exits, 1 failed entry, 7 entries, 2 CPUs, 604 root instructions)" "$OUT/summary.txt" \
	'^6 VM exits \(1 failed entries\) and 7 VM entries on 2 CPUs; 604 instructions in VMX root'

tt_line "diff: exception or NMI 3 and 3 exits, median 170 and 170, total 520 and 520" "$OUT/diff.txt" \
	'^exception or NMI +3 +3 +\+0 +170 +170 +520 +520 +\+0$'
tt_line "diff: CPUID 2 and 2 exits, median 40 and 40, total 84 and 84" "$OUT/diff.txt" \
	'^CPUID +2 +2 +\+0 +40 +40 +84 +84 +\+0$'
tt_line "diff: all 6 and 6 exits, total 604 and 604" "$OUT/diff.txt" '^all +6 +6 +\+0 +604 +604 +\+0$'

tt_same "census: per CPU and reason" "$OUT/census.txt" <<'EOF2'
cpu0 total 4
cpu0 CPUID 1
cpu0 exception or NMI 2
cpu0 failed entry: invalid guest state 1
cpu1 total 2
cpu1 CPUID 1
cpu1 exception or NMI 1
EOF2
tt_same "census: cpu0's first 2 exits" "$OUT/census-cpu0-2.txt" <<'EOF2'
cpu0 total 2
cpu0 CPUID 1
cpu0 exception or NMI 1
EOF2

# Each reason's block starts with its name, then its functions.
tt_same "profile: exception or NMI and CPUID, each under its own heading" "$OUT/profile.txt" <<'EOF2'

exception or NMI
         300  57.7%  vmx_exit_entry
         220  42.3%  vcpu_inject_exception

CPUID
          84 100.0%  vmx_exit_entry
EOF2
tt_done
