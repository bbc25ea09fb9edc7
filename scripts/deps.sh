#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what memvisor needs to build, test and report, on Debian 12.
# Installs only what is missing; needs root (or sudo) when something is.
set -eu

# The KVM backend's tests: qemu-system-x86 (the nested host when there is
# no /dev/kvm), busybox-static and cpio (the initramfs images); Debian's
# linux-image-amd64 is fetched with apt-get download by scripts/kvm-kernel.sh.
PKGS="build-essential pkg-config check libxxhash-dev libjemalloc-dev \
libinih-dev libzstd-dev zstd gnuplot-nox python3 valgrind clang \
libclang-rt-dev qemu-system-x86 busybox-static cpio"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
