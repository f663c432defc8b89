#!/bin/bash
# Mutation check: applies each mutant of a tests/mutants/*.mutants file to a copy of the tree,
# builds the unit test named with --test, and requires that test to fail. A mutant the test
# survives, or whose text no longer matches the source (a stale mutant), is a failure.
# Usage: tools/mutants.sh --test tests/unit/test_shadow.c --srcs "mm/shadow.c" FILE.mutants
# Ends with "mutants: N passed, N failed" (passed = mutant killed).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TEST= SRCS=
while (($#)); do
	case $1 in
	--test) TEST=$2; shift 2 ;;
	--srcs) SRCS=$2; shift 2 ;;
	-*) echo "mutants: unknown option $1 (accepted: --test FILE, --srcs 'FILE...')" >&2; exit 2 ;;
	*) break ;;
	esac
done
[[ -n $TEST && -n $SRCS && $# -eq 1 && -f $1 ]] ||
	{ echo "usage: tools/mutants.sh --test TEST.c --srcs 'SRC.c...' FILE.mutants" >&2; exit 2; }
LIST=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keel-mutants.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$TMP" 2>/dev/null ||
	tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$TMP" -xf -

# Split the list into one directory per mutant: name, file, old, new.
python3 - "$LIST" "$TMP/m" <<'PY'
import os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
n = 0
cur = None
def flush():
    if cur:
        d = os.path.join(out, "%03d" % n)
        os.makedirs(d)
        for k in ("name", "file", "old", "new"):
            open(os.path.join(d, k), "w").write(cur[k])
for line in open(src).read().split("\n"):
    if line.startswith("#") or (not line and cur is None):
        continue
    if line.startswith("== "):
        flush(); n += 1
        cur = {"name": line[3:], "file": "", "old": "", "new": ""}
    elif cur is not None and line.startswith("file "):
        cur["file"] = line[5:]
    elif cur is not None and line.startswith("-"):
        cur["old"] += line[1:] + "\n"
    elif cur is not None and line.startswith("+"):
        cur["new"] += line[1:] + "\n"
flush()
PY

killed=0 survived=0
for d in "$TMP"/m/*; do
	name=$(cat "$d/name") file=$(cat "$d/file")
	cp "$ROOT/$file" "$TMP/$file"
	if ! python3 - "$TMP/$file" "$d/old" "$d/new" <<'PY'
import sys
p, o, n = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
s = open(p).read()
if not o or s.count(o) != 1:
    sys.exit(1)
open(p, "w").write(s.replace(o, n))
PY
	then
		echo "  FAIL stale mutant (its text is not in $file exactly once): $name"
		survived=$((survived + 1))
		continue
	fi
	srcs=()
	for s in $SRCS; do srcs+=("$TMP/$s"); done
	if ! gcc -std=gnu11 -O1 -g -w -DKEEL_HOST_TEST -o "$TMP/t" "$TMP/$TEST" "${srcs[@]}" -lcmocka 2>"$TMP/cc.err"; then
		echo "  FAIL mutant does not compile: $name ($(head -n 1 "$TMP/cc.err"))"
		survived=$((survived + 1))
	elif timeout 60 "$TMP/t" >"$TMP/out" 2>&1; then
		echo "  FAIL survived (the tests still pass): $name"
		survived=$((survived + 1))
	else
		killed_by=$(grep -aE '^\[  FAILED  \] test_' "$TMP/out" | sed 's/.*\] //' | sort -u | head -n 3 | paste -sd' ' -)
		echo "  ok   killed: $name (${killed_by:-crashed})"
		killed=$((killed + 1))
	fi
	cp "$ROOT/$file" "$TMP/$file"
done
echo "mutants: $killed passed, $survived failed"
((survived == 0))
