#!/usr/bin/env bash
# Builds Bochs 3.0 from Debian trixie's source package into build/tools/bochs-3.0 (once; cached)
# and prints the emulator's path. Needs root the first time (apt source list, build packages).
#
# Why: Debian 12's Bochs 2.7 never consumes an INIT sent to a CPU in VMX non-root operation and
# saves a wrong blocking-by-SMI bit on that exit (stlintel/Bochs issues #10 and #11, fixed in
# 2022). OVMF wakes APs with INIT-SIPI-SIPI, so two-CPU runs that call MP services after keel
# virtualized the machine need 3.0. Everything else runs on 2.7.
#
# Variants, each in its own prefix and source directory (the plain build is the one the tests use):
#   tools/bochs3.sh                 build/tools/bochs-3.0
#   tools/bochs3.sh --instrumented  build/tools/bochs-3.0-instr: with keel's exit trace module
#                                   (tools/bochs-instrument; KEEL_TRACE=FILE), same speed as plain
#   tools/bochs3.sh --profile       build/tools/bochs-3.0-prof: the module plus the root-mode
#                                   profiler (a hook on every instruction: much slower)
# An instrumented prefix is rebuilt when the module's sources change (a checksum in the prefix).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# 1: the plain build carries the trace module too (it costs nothing measurable at run time), and
# --instrumented is that same build, so CI builds Bochs once. Changing it rebuilds build/tools/bochs-3.0.
INSTRUMENT_PLAIN=1
VARIANT=plain
case ${1:-} in
"") ;;
--instrumented) VARIANT=instr ;;
--profile) VARIANT=prof ;;
*)
	echo "usage: tools/bochs3.sh [--instrumented | --profile]" >&2
	exit 2
	;;
esac
SRC=$ROOT/build/tools/src
MODULE=$ROOT/tools/bochs-instrument
LIST=/etc/apt/sources.list.d/keel-trixie-src.sources
[[ $VARIANT == instr && $INSTRUMENT_PLAIN == 1 ]] && VARIANT=plain
WITH_MODULE=yes
[[ $VARIANT == plain && $INSTRUMENT_PLAIN != 1 ]] && WITH_MODULE=
case $VARIANT in
plain) PREFIX=$ROOT/build/tools/bochs-3.0 SRCDIR=bochs-src ;;
instr) PREFIX=$ROOT/build/tools/bochs-3.0-instr SRCDIR=bochs-src-instr ;;
prof) PREFIX=$ROOT/build/tools/bochs-3.0-prof SRCDIR=bochs-src-prof ;;
esac
BIN=$PREFIX/bin/bochs

# module_sum: what the instrumented build was made from (module sources and variant).
module_sum() {
	(cd "$MODULE" && cat Makefile.in instrument.h keel-mode.h ./*.cc && echo "$VARIANT") | md5sum | cut -d' ' -f1
}

if [[ -x $BIN ]]; then
	if [[ -z $WITH_MODULE && ! -f $PREFIX/keel-module.md5 ]] ||
		[[ -n $WITH_MODULE && $(cat "$PREFIX/keel-module.md5" 2>/dev/null) == "$(module_sum)" ]]; then
		echo "$BIN"
		exit 0
	fi
	echo "bochs3: $PREFIX was not built with this trace module (tools/bochs-instrument): rebuilding" >&2
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "bochs3: building Bochs 3.0 needs root once (a deb-src line for trixie and g++," >&2
	echo "bochs3: libncurses-dev); run: sudo tools/bochs3.sh" >&2
	exit 1
fi
"$ROOT/tools/deps.sh" build bochs3 >&2

mkdir -p "$SRC"
cd "$SRC"
if ! ls bochs_3.0*.orig.tar.* >/dev/null 2>&1; then
	if [[ ! -f $LIST ]]; then
		# The archive is the one this machine already uses for Debian's own main suite (read
		# from apt's policy, whatever the sources format), so no host name lives in this script.
		codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
		uri=$(apt-cache policy | awk -v n="n=$codename," '
			/^ *[0-9]+ (https?|file):/ { u = $2 }
			/release / && index($0, n) && /o=Debian,/ && /l=Debian,/ && u != "" { print u; exit }')
		if [[ -z $uri ]]; then
			echo "bochs3: no Debian archive for suite '$codename' in this machine's apt configuration;" >&2
			echo "bochs3: add a deb-src line for trixie yourself, then rerun tools/bochs3.sh" >&2
			exit 1
		fi
		printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
			"$uri" /usr/share/keyrings/debian-archive-keyring.gpg >"$LIST"
		echo "bochs3: added a trixie deb-src entry for $uri in $LIST" >&2
	fi
	echo "bochs3: fetching the bochs source package from Debian trixie" >&2
	apt-get update -qq >&2
	# Only the upstream tarball is needed; apt may fail on the .dsc yet fetch it (seen here).
	apt-get source --download-only -qq bochs/trixie >&2 || true
	ls bochs_3.0*.orig.tar.* >/dev/null 2>&1 || {
		echo "bochs3: could not fetch bochs_3.0*.orig.tar.* from Debian trixie" >&2
		exit 1
	}
fi
TARBALL=$(ls bochs_3.0*.orig.tar.* | head -n 1)
LOG=$SRC/build.log
CONFIG_EXTRA=()
[[ $VARIANT == plain ]] || LOG=$SRC/build-$VARIANT.log
[[ -z $WITH_MODULE ]] || CONFIG_EXTRA=(--enable-instrumentation=instrument/keel)
rm -rf "$SRCDIR" && mkdir "$SRCDIR"
tar -xf "$TARBALL" -C "$SRCDIR" --strip-components=1
cd "$SRCDIR"
if [[ -n $WITH_MODULE ]]; then
	# configure takes the module directory relative to the source tree.
	mkdir instrument/keel
	cp "$MODULE"/Makefile.in "$MODULE"/instrument.h "$MODULE"/keel-mode.h "$MODULE"/*.cc instrument/keel/
	[[ $VARIANT == prof ]] && echo '#define KEEL_PROFILE 1' >instrument/keel/keel-mode.h
fi
echo "bochs3: configuring and building $PREFIX (about 10 minutes on 2 cores); log in $LOG" >&2
{
	./configure --prefix="$PREFIX" --with-term --without-x11 --enable-x86-64 --enable-cpu-level=6 \
		--enable-vmx=2 --enable-smp --enable-pci --enable-avx --enable-evex \
		--enable-protection-keys --enable-cet --enable-uintr --enable-amx \
		--enable-all-optimizations --enable-debugger --enable-disasm --disable-plugins \
		"${CONFIG_EXTRA[@]}"
	make -j"$(nproc)"
	make install
} >"$LOG" 2>&1 || {
	echo "bochs3: build failed; last lines of $LOG:" >&2
	tail -n 20 "$LOG" >&2
	exit 1
}
[[ -z $WITH_MODULE ]] || module_sum >"$PREFIX/keel-module.md5"
echo "$BIN"
