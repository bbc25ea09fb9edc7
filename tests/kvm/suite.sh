#!/bin/sh
# SPDX-License-Identifier: MIT
# The KVM suite: run where /dev/kvm exists (inside the nested QEMU guest of
# tests/kvm/run-nested.sh, or directly by `make check-kvm` on a KVM host).
# Usage: tests/kvm/suite.sh BUILD   (BUILD holds memvisor, check/check_kvm,
# vmlinuz and guest.cpio.gz, or kvm/kernel/vmlinuz and kvm/guest.cpio.gz)
set -u
B=${1:-build}
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
bad() { fail=$((fail + 1)); echo "not ok - $*"; }

K=$B/vmlinuz
[ -f "$K" ] || K=$B/kvm/kernel/vmlinuz
I=$B/guest.cpio.gz
[ -f "$I" ] || I=$B/kvm/guest.cpio.gz
V=$B/kernel.version
[ -f "$V" ] || V=$B/kvm/kernel/version
export MEMVISOR_KVM_KERNEL=$K MEMVISOR_KVM_INITRD=$I
[ -f "$V" ] && export MEMVISOR_KVM_KVER="$(cat "$V")"

echo "KVM: check_kvm"
if "$B/check/check_kvm"; then ok check_kvm; else bad check_kvm; fi
echo "KVM: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
