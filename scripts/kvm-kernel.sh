#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetch Debian's current linux-image-amd64 kernel package and unpack it with
# dpkg -x (no postinst, no initramfs triggers) into DIR:
#   DIR/vmlinuz                  the bzImage (guest kernel and nested host)
#   DIR/root/lib/modules/VER/    its modules
#   DIR/version                  VER
# Usage: scripts/kvm-kernel.sh DIR. Does nothing when DIR/version exists.
set -eu
dir=$1
[ -f "$dir/version" ] && [ -f "$dir/vmlinuz" ] && exit 0
mkdir -p "$dir"
resolve() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1
}
pkg=$(resolve)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
	apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(resolve)
fi
if [ -z "$pkg" ]; then
	echo "kvm-kernel: cannot resolve linux-image-amd64 (run apt-get update)" >&2
	exit 1
fi
rm -rf "$dir/deb" "$dir/root"
mkdir -p "$dir/deb"
(cd "$dir/deb" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
	echo "kvm-kernel: apt-get download $pkg failed" >&2
	exit 1
}
dpkg -x "$dir"/deb/*.deb "$dir/root"
ver=${pkg#linux-image-}
cp "$dir/root/boot/vmlinuz-$ver" "$dir/vmlinuz"
rm -rf "$dir/deb" "$dir/root/boot/System.map-$ver"
echo "$ver" >"$dir/version"
echo "kvm-kernel: $pkg in $dir" >&2
