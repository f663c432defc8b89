#!/usr/bin/env bash
# Builds Bochs 3.0 from Debian trixie's source package into build/tools/bochs-3.0 (once; cached)
# and prints the emulator's path. Needs root the first time (apt source list, build packages).
#
# Why: Debian 12's Bochs 2.7 never consumes an INIT sent to a CPU in VMX non-root operation and
# saves a wrong blocking-by-SMI bit on that exit (stlintel/Bochs issues #10 and #11, fixed in
# 2022). OVMF wakes APs with INIT-SIPI-SIPI, so two-CPU runs that call MP services after keel
# virtualized the machine need 3.0. Everything else runs on 2.7.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=$ROOT/build/tools/bochs-3.0
SRC=$ROOT/build/tools/src
BIN=$PREFIX/bin/bochs
LIST=/etc/apt/sources.list.d/keel-trixie-src.sources

if [[ -x $BIN ]]; then
	echo "$BIN"
	exit 0
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
rm -rf bochs-src && mkdir bochs-src
tar -xf "$TARBALL" -C bochs-src --strip-components=1
cd bochs-src
echo "bochs3: configuring and building (about 10 minutes on 2 cores); log in $SRC/build.log" >&2
{
	./configure --prefix="$PREFIX" --with-term --without-x11 --enable-x86-64 --enable-cpu-level=6 \
		--enable-vmx=2 --enable-smp --enable-pci --enable-avx --enable-evex \
		--enable-protection-keys --enable-cet --enable-uintr --enable-amx \
		--enable-all-optimizations --enable-debugger --enable-disasm --disable-plugins
	make -j"$(nproc)"
	make install
} >"$SRC/build.log" 2>&1 || {
	echo "bochs3: build failed; last lines of $SRC/build.log:" >&2
	tail -n 20 "$SRC/build.log" >&2
	exit 1
}
echo "$BIN"
