#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the guest initramfs of the KVM backend: busybox-static, memvisor's
# static in-guest program, Debian's virtio and zram modules (from the
# kernel package scripts/kvm-kernel.sh unpacked), and guest/initramfs/init.
# Usage: guest/initramfs/build.sh KERNEL_DIR MEMVISOR_GUEST OUT.cpio.gz
set -eu
kdir=$1
prog=$2
out=$3
ver=$(cat "$kdir/version")
mods=$kdir/root/lib/modules/$ver/kernel
[ -x /bin/busybox ] || { echo "guest initramfs: /bin/busybox missing (busybox-static)" >&2; exit 1; }
file -L /bin/busybox 2>/dev/null | grep -q "dynamically" &&
	{ echo "guest initramfs: /bin/busybox is not static (install busybox-static)" >&2; exit 1; }
stage=$(mktemp -d "${TMPDIR:-/tmp}/memvisor-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/lib/modules"
cp /bin/busybox "$stage/bin/busybox"
cp "$prog" "$stage/bin/memvisor-guest"
cp "$(dirname "$0")/init" "$stage/init"
chmod 755 "$stage/init" "$stage/bin/memvisor-guest"
for m in drivers/virtio/virtio drivers/virtio/virtio_ring drivers/virtio/virtio_pci_legacy_dev \
	drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci \
	drivers/virtio/virtio_balloon mm/zsmalloc drivers/block/zram/zram; do
	f=$mods/$m.ko
	[ -f "$f" ] || f=$f.xz
	case $f in
	*.xz) xz -dc "$f" >"$stage/lib/modules/$(basename "$m").ko" ;;
	*) cp "$f" "$stage/lib/modules/" ;;
	esac
done
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 >"$out.tmp"
mv "$out.tmp" "$out"
echo "guest initramfs: $out ($(du -k "$out" | cut -f1) KiB)" >&2
