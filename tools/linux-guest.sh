#!/bin/bash
# Builds keel's Linux guest from Debian packages only (apt-get download + dpkg-deb):
#   OUT/vmlinuz     the EFI-stub kernel of the linux-image-6.1*-amd64 that linux-image-amd64 depends on
#   OUT/initrd.img  a gzip newc cpio: busybox (busybox-static), guest/linux/init as /init, and the
#                   static guest tools keelctl, keel-poweroff, keel-tsc and keel-mmubench (host
#                   gcc -static -O2)
# The .debs are cached in OUT/debs: once they are there, a run needs no network.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/build/guest/linux
CC=${CC:-gcc}

usage() {
	echo "usage: tools/linux-guest.sh [--out DIR]   (default build/guest/linux)" >&2
	exit 2
}

die() {
	echo "linux-guest: $*" >&2
	exit 1
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--out) [[ $# -ge 2 ]] || usage; OUT=$2; shift 2 ;;
	*) usage ;;
	esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEBS=$OUT/debs
mkdir -p "$DEBS"
for tool in apt-cache apt-get dpkg-deb cpio gzip "$CC"; do
	command -v "$tool" >/dev/null || die "'$tool' not found (tools/deps.sh build linux)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/linux-guest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---- packages ----
# apt_show PKG: the candidate's apt-cache record; runs `apt-get update` once if apt knows no PKG
# (callers run in subshells: a file remembers that it ran).
apt_show() {
	local rec
	rec=$(apt-cache show --no-all-versions "$1" 2>/dev/null || true)
	if [[ -z $rec && ! -e $TMP/apt-updated ]]; then
		: >"$TMP/apt-updated"
		echo "linux-guest: apt knows no package $1: running apt-get update" >&2
		apt-get update -qq >&2 || echo "linux-guest: apt-get update failed" >&2
		rec=$(apt-cache show --no-all-versions "$1" 2>/dev/null || true)
	fi
	printf '%s\n' "$rec"
}

# deb_name PKG OUTPUT: the file name of PKG's candidate .deb; when apt does not know PKG, the newest
# cached .deb of PKG, or else the one OUTPUT was made from; empty when there is none of these.
deb_name() {
	local ver name
	ver=$(apt_show "$1" | sed -n 's/^Version: //p' | head -n 1)
	if [[ -n $ver ]]; then
		echo "${1}_${ver//:/%3a}_amd64.deb"
		return 0
	fi
	name=$(find "$DEBS" -maxdepth 1 -name "${1}_*_amd64.deb" -printf '%f\n' | sort -V | tail -n 1)
	[[ -n $name || ! -f $2 ]] || name=$(cat "$2.deb" 2>/dev/null || true)
	[[ -z $name ]] || echo "linux-guest: apt-cache does not know $1; using $name" >&2
	echo "$name"
}

# fetch PKG NAME: prints the path of NAME (deb_name PKG), downloading it into the cache when it is
# not there yet. Without apt data or network, it falls back to the newest cached .deb of PKG.
fetch() {
	local pkg=$1 name=$2 file old
	if [[ -n $name ]]; then
		file=$DEBS/$name
		if [[ ! -f $file ]]; then
			echo "linux-guest: downloading $name" >&2
			# As root, apt's sandbox user _apt could not write into the cache: stay root.
			(cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$(deb_version "$name")") >&2 ||
				echo "linux-guest: apt-get download $pkg failed (no network?)" >&2
		fi
		if [[ -f $file ]]; then
			for old in "$DEBS/${pkg}"_*_amd64.deb; do
				[[ $old == "$file" ]] || rm -f "$old" # older versions are of no further use
			done
			echo "$file"
			return 0
		fi
	fi
	file=$(find "$DEBS" -maxdepth 1 -name "${pkg}_*_amd64.deb" -printf '%p\n' | sort -V | tail -n 1)
	[[ -n $file ]] || die "no .deb of $pkg: apt-get could not provide it and none is cached in $DEBS"
	echo "linux-guest: using cached $(basename "$file")" >&2
	echo "$file"
}

# deb_version NAME: the version in a .deb file name (PKG_VERSION_ARCH.deb, ':' spelt %3a).
deb_version() {
	local v=${1#*_}
	v=${v%_*}
	echo "${v//%3a/:}"
}

# up_to_date OUTPUT NAME: OUTPUT exists and was made from the .deb NAME (recorded in OUTPUT.deb).
up_to_date() {
	[[ -n $2 && -f $1 && $(cat "$1.deb" 2>/dev/null) == "$2" ]]
}

# The kernel package linux-image-amd64 depends on (its candidate version), e.g.
# linux-image-6.1.0-56-amd64; without apt data, the one cached.
KPKG=$(apt_show linux-image-amd64 | sed -n 's/^Depends: //p' | head -n 1 | tr ',|' '\n\n' |
	sed -E 's/^ *([^ ]+).*/\1/' | grep -E '^linux-image-6\.1[^ ]*-amd64$' | head -n 1 || true)
if [[ -z $KPKG ]]; then
	KPKG=$(find "$DEBS" -maxdepth 1 -name 'linux-image-6.1*-amd64_*.deb' -printf '%f\n' | sort -V |
		tail -n 1 | sed 's/_.*//')
	[[ -n $KPKG || ! -f $OUT/vmlinuz ]] || KPKG=$(sed 's/_.*//' "$OUT/vmlinuz.deb" 2>/dev/null || true)
	[[ -n $KPKG ]] || die "cannot resolve the kernel package: apt-cache has no linux-image-amd64 that depends on a linux-image-6.1*-amd64 (no network for apt-get update?), and $DEBS holds none"
	echo "linux-guest: apt-cache cannot resolve linux-image-amd64; using $KPKG" >&2
fi

# ---- the kernel ----
KNAME=$(deb_name "$KPKG" "$OUT/vmlinuz")
if up_to_date "$OUT/vmlinuz" "$KNAME"; then
	echo "linux-guest: vmlinuz is up to date ($KNAME)"
else
	KDEB=$(fetch "$KPKG" "$KNAME")
	echo "linux-guest: extracting the kernel from $(basename "$KDEB")"
	mkdir -p "$TMP/kernel"
	# Only ./boot/vmlinuz-*: `dpkg -x` would unpack some 400 MB of modules the guest does not load.
	dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$TMP/kernel" --wildcards './boot/vmlinuz-*'
	set -- "$TMP"/kernel/boot/vmlinuz-*
	[[ $# -eq 1 && -f $1 ]] || die "$(basename "$KDEB") holds no single boot/vmlinuz-*"
	# An EFI-stub kernel is a PE image: "MZ", then "PE\0\0" at the offset stored at 0x3c.
	[[ $(head -c 2 "$1") == MZ ]] || die "$(basename "$1") is not a PE image (no EFI stub)"
	mv -f "$1" "$OUT/vmlinuz"
	basename "$KDEB" >"$OUT/vmlinuz.deb"
fi

# ---- busybox ----
BNAME=$(deb_name busybox-static "$OUT/busybox")
if ! up_to_date "$OUT/busybox" "$BNAME"; then
	BDEB=$(fetch busybox-static "$BNAME")
	dpkg-deb -x "$BDEB" "$TMP/busybox"
	[[ -x $TMP/busybox/bin/busybox ]] || die "$(basename "$BDEB") holds no bin/busybox"
	mv -f "$TMP/busybox/bin/busybox" "$OUT/busybox"
	basename "$BDEB" >"$OUT/busybox.deb"
fi

# ---- the guest tools ----
TOOLS=$OUT/bin
mkdir -p "$TOOLS"
TOOL_CFLAGS=(-static -O2 -std=gnu11 -Wall -Wextra -Werror -I"$ROOT")
"$CC" "${TOOL_CFLAGS[@]}" -o "$TOOLS/keelctl" "$ROOT/guest/keelctl/keelctl.c"
"$CC" "${TOOL_CFLAGS[@]}" -o "$TOOLS/keel-poweroff" "$ROOT/guest/linux/keel-poweroff.c"
"$CC" "${TOOL_CFLAGS[@]}" -o "$TOOLS/keel-tsc" "$ROOT/guest/linux/keel-tsc.c"
"$CC" "${TOOL_CFLAGS[@]}" -o "$TOOLS/keel-mmubench" "$ROOT/guest/linux/keel-mmubench.c"
strip "$TOOLS"/*

# ---- the initramfs ----
R=$TMP/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}
cp "$OUT/busybox" "$R/bin/busybox"
# One symlink per applet, at the path busybox gives for it (bin/sh, sbin/poweroff, ...).
while IFS= read -r applet; do
	[[ -n $applet && ! -e $R/$applet && ! -L $R/$applet ]] || continue
	mkdir -p "$R/$(dirname "$applet")"
	ln -s /bin/busybox "$R/$applet"
done < <("$OUT/busybox" --list-full)
cp "$TOOLS/keelctl" "$TOOLS/keel-poweroff" "$TOOLS/keel-tsc" "$TOOLS/keel-mmubench" "$R/bin/"
install -m 0755 "$ROOT/guest/linux/init" "$R/init"

# newc_node NAME MODE MAJOR MINOR: one newc header for a device node, which cpio can only copy
# from a real one (mknod needs root). The kernel unpacks concatenated archives.
newc_node() {
	local name=$1 mode=$2 major=$3 minor=$4 hdr pad
	hdr=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		1 "$mode" 0 0 1 0 0 0 0 "$major" "$minor" $((${#name} + 1)) 0)
	printf '%s%s\0' "$hdr" "$name"
	pad=$(((4 - (110 + ${#name} + 1) % 4) % 4))
	head -c "$pad" /dev/zero
}
newc_trailer() {
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' 0 0 0 0 1 0 0 0 0 0 0 11 0
	printf 'TRAILER!!!\0'
	head -c 3 /dev/zero
}

(
	cd "$R"
	find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible
	newc_node dev/console $((0020600)) 5 1
	newc_trailer
) | gzip -9 -n >"$TMP/initrd.img"
mv -f "$TMP/initrd.img" "$OUT/initrd.img"

size() {
	du -k "$1" | cut -f1
}
echo "linux-guest: $OUT/vmlinuz ($(size "$OUT/vmlinuz") KiB, from $(cat "$OUT/vmlinuz.deb"))"
echo "linux-guest: $OUT/initrd.img ($(size "$OUT/initrd.img") KiB: busybox from $(cat "$OUT/busybox.deb"), keelctl, keel-poweroff, keel-tsc, keel-mmubench)"
