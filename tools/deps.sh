#!/bin/bash
# Checks that the Debian packages for the named sets (build, boot, linux, fuzz, bochs3, all) are installed;
# installs the missing ones when run as root, otherwise says what to install and fails.
set -euo pipefail

usage() {
	echo "usage: tools/deps.sh SET... (SET: build, boot, linux, fuzz, bochs3, all)" >&2
	exit 2
}

pkgs_build=(gcc make binutils gnu-efi nasm libcmocka-dev mtools dosfstools python3)
pkgs_boot=(bochs bochsbios vgabios bochs-term ovmf qemu-system-x86)
pkgs_linux=(cpio busybox-static)
pkgs_fuzz=(clang libclang-rt-14-dev)
pkgs_bochs3=(g++ libncurses-dev xz-utils)

[[ $# -gt 0 ]] || usage
wanted=()
for set in "$@"; do
	case $set in
	build) wanted+=("${pkgs_build[@]}") ;;
	boot) wanted+=("${pkgs_boot[@]}") ;;
	linux) wanted+=("${pkgs_linux[@]}") ;;
	fuzz) wanted+=("${pkgs_fuzz[@]}") ;;
	bochs3) wanted+=("${pkgs_bochs3[@]}") ;;
	all) wanted+=("${pkgs_build[@]}" "${pkgs_boot[@]}" "${pkgs_linux[@]}" "${pkgs_fuzz[@]}" "${pkgs_bochs3[@]}") ;;
	*) echo "deps: unknown set '$set'" >&2; usage ;;
	esac
done

installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

missing=()
for p in "${wanted[@]}"; do
	[[ " ${missing[*]} " == *" $p "* ]] && continue
	installed "$p" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

list="${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing Debian packages: $list" >&2
	echo "deps: run as root: apt-get install -y $list" >&2
	exit 1
fi

echo "deps: installing $list"
if ! apt-get update -qq; then
	echo "deps: 'apt-get update' failed; cannot install: $list" >&2
	exit 1
fi
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
	echo "deps: 'apt-get install' failed for: $list" >&2
	exit 1
fi
still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
if ((${#still[@]})); then
	echo "deps: still not installed after apt-get: ${still[*]}" >&2
	exit 1
fi
