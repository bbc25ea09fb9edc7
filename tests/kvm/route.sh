#!/bin/sh
# SPDX-License-Identifier: MIT
# `make check-kvm`: choose how the KVM suite runs from what this host's KVM
# can do, say which route and why in one line, and run it.
#
#   direct  tests/kvm/suite.sh on this host: where a hardware vendor module
#           (kvm_amd with svm, kvm_intel with vmx) provides /dev/kvm, or
#           where a short probe saw a Linux guest print its first console
#           line (`memvisor run`, MEMVISOR_KVM_PROBE_SECONDS, default 20).
#   nested  tests/kvm/run-nested.sh: the suite inside a QEMU guest with
#           emulated AMD SVM, booted with npt=1 and npt=0. Everywhere else:
#           no /dev/kvm, or a software hypervisor such as kvm_pvm, where
#           stock Linux does not boot. Where such a /dev/kvm is usable, the
#           tiny-guest part of check_kvm (kvm_tiny) and the sharing and host
#           swap tests on tiny guests (kvm_mem) and Linux's KSM over guest
#           RAM (kvm_lksm) also run on it directly
#           first (seconds there; they check the host-side memory mechanics).
#
# MEMVISOR_KVM_ROUTE=direct|nested forces a route (auto by default).
# Usage: tests/kvm/route.sh BUILD
set -u
cd "$(dirname "$0")/../.." # BUILD is relative to the source tree, as in make
O=${1:-build}
M=$O/memvisor
route=${MEMVISOR_KVM_ROUTE:-auto}
why=""
software=0

case $route in
direct | nested) why="forced by MEMVISOR_KVM_ROUTE=$route" ;;
auto) ;;
*) echo "check-kvm: MEMVISOR_KVM_ROUTE=$route: want direct, nested or auto" >&2; exit 2 ;;
esac

if [ "$route" = auto ] && ! { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	route=nested why="no usable /dev/kvm"
fi
if [ "$route" = auto ]; then
	mode=$("$M" kvm-mode)
	st=$?
	first=$(echo "$mode" | head -n 1)
	if [ $st = 0 ]; then
		route=direct why="hardware KVM: $first"
	elif [ $st = 3 ]; then
		software=1
		# does a stock Linux guest get as far as its first console line?
		secs=${MEMVISOR_KVM_PROBE_SECONDS:-20}
		probe=${TMPDIR:-/tmp}/memvisor-kvm-probe
		rm -rf "$probe"
		MEMVISOR_KVM_BOOT_ANYWAY=1 "$M" run tests/kvm/boot.ini -o "$probe" -q \
			--set lin.kernel="$O/kvm/kernel/vmlinuz" --set lin.initrd="$O/kvm/guest.cpio.gz" \
			--set lin.timeout="$secs" >/dev/null 2>"$probe.err"
		if [ -n "$(grep -m 1 . "$probe/lin.console" 2>/dev/null)" ]; then
			route=direct why="$first: a probe's Linux guest printed its first console line"
		else
			route=nested why="$first, no hardware KVM: a probe's Linux guest printed nothing in ${secs} s"
		fi
	else
		route=nested why="memvisor kvm-mode failed (status $st): $mode"
	fi
fi
echo "check-kvm: route $route: $why"

if [ "$route" = direct ]; then
	exec sh tests/kvm/suite.sh "$O"
fi
status=0
if [ $software = 1 ]; then
	echo "check-kvm: the tiny guests directly on this host's $(echo "$first" | cut -d' ' -f1) KVM"
	for suite in kvm_tiny kvm_mem kvm_lksm; do
		CK_RUN_SUITE=$suite CK_DEFAULT_TIMEOUT=600 "$O/check/check_kvm" || status=1
	done
fi
sh tests/kvm/run-nested.sh -o "$O" || status=1
exit $status
