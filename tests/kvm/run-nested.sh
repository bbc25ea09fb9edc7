#!/bin/sh
# SPDX-License-Identifier: MIT
# The KVM suite, for real, on a machine without /dev/kvm.
#
# Builds an initramfs from Debian's kernel package (its kvm, kvm-amd and
# helper modules), busybox-static, the memvisor binary and the KVM test
# binary (with the shared libraries they load), the guest kernel and guest
# initramfs, and tests/kvm/suite.sh; boots it under qemu-system-x86_64 with
# TCG and -cpu max, whose emulated AMD SVM has nested paging; and inside,
# loads kvm_amd with npt=1 (nested paging) in one boot and npt=0 (shadow
# paging) in a second, checks /sys/module/kvm_amd/parameters/npt (a CPU
# model without NPT would silently give shadow paging), and runs the suite.
# It passes or fails on what that guest prints. Timings from inside are
# for correctness and counts only.
#
# Usage: tests/kvm/run-nested.sh [-o BUILD] [--npt 1|0|both] [--filter RE]
#   BUILD holds memvisor, check/check_kvm and kvm/ (the Makefile's $(O)).
# The npt=1 boot runs the whole suite; the npt=0 boot the part that
# depends on the paging mode (tests/kvm/suite.sh says which): about 14
# and 2 minutes on a 2-core machine (more when a test runs again).
# Environment: NESTED_TIMEOUT (seconds per boot, default 2400), NESTED_STALL
#   (seconds without console output that count as a stall, default 150),
#   NESTED_RETRIES (boots again after a stall, default 3),
#   NESTED_MEM (default 3G), NESTED_KEEP=1 keeps the work directory.
set -eu
cd "$(dirname "$0")/../.."
O=build
npts="1 0"
filter=""
while [ $# -gt 0 ]; do
	case $1 in
	-o) O=$2; shift 2 ;;
	--npt) [ "$2" = both ] && npts="1 0" || npts=$2; shift 2 ;;
	--filter) filter=$2; shift 2 ;;
	*) echo "usage: $0 [-o BUILD] [--npt 1|0|both] [--filter RE]" >&2; exit 2 ;;
	esac
done
timeout_s=${NESTED_TIMEOUT:-2400}
stall_s=${NESTED_STALL:-150}
retries=${NESTED_RETRIES:-3}
mem=${NESTED_MEM:-3G}
K=$O/kvm/kernel
ver=$(cat "$K/version")
mods=$K/root/lib/modules/$ver/kernel
for f in "$O/memvisor" "$O/check/check_kvm" "$K/vmlinuz" "$O/kvm/guest.cpio.gz"; do
	[ -e "$f" ] || { echo "run-nested: $f is missing (make check-kvm builds it)" >&2; exit 2; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "run-nested: qemu-system-x86_64 missing (scripts/deps.sh)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/memvisor-nested.XXXXXX")
[ "${NESTED_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
	"$root/lib/modules/$ver" "$root/memvisor/build/check" "$root/memvisor/tests/kvm"

# a dynamic binary and every library it loads, at the same paths
copy_bin() {
	cp "$1" "$root/$2"
	ldd "$1" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
cp /bin/busybox "$root/bin/busybox"
for m in virt/lib/irqbypass arch/x86/kvm/kvm drivers/crypto/ccp/ccp arch/x86/kvm/kvm-amd; do
	mkdir -p "$root/lib/modules/$ver/kernel/$(dirname "$m")"
	cp "$mods/$m.ko" "$root/lib/modules/$ver/kernel/$m.ko"
done
/bin/busybox depmod -b "$root" "$ver"
copy_bin "$O/memvisor" memvisor/build/memvisor
copy_bin "$O/check/check_kvm" memvisor/build/check/check_kvm
cp "$K/vmlinuz" "$root/memvisor/build/vmlinuz"
cp "$K/version" "$root/memvisor/build/kernel.version"
cp "$O/kvm/guest.cpio.gz" "$root/memvisor/build/guest.cpio.gz"
# a real program's trace for the trace test (valgrind runs here, not inside)
awk 'BEGIN { for (i = 0; i < 300; i++) print (i * 7919) % 1000 }' >"$work/sort.in"
"$O/memvisor" trace record -o "$root/memvisor/build/sort.mvt" -- sort "$work/sort.in" \
	>/dev/null 2>"$work/record.err" || { cat "$work/record.err" >&2; exit 2; }
cp tests/kvm/suite.sh "$root/memvisor/tests/kvm/"
cp tests/kvm/*.ini "$root/memvisor/tests/kvm/" 2>/dev/null || true
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
arg() { sed -n "s/.*memvisor_$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
npt=$(arg npt)
t0=$(cut -d' ' -f1 /proc/uptime)
modprobe kvm_amd npt="$npt" || echo "NESTED: modprobe kvm_amd failed"
echo "NESTED: userspace at ${t0}s, kvm_amd npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null) requested $npt, clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource), tsc_deadline_timer $(grep -c tsc_deadline_timer /proc/cpuinfo)"
cd /memvisor
[ -n "$(arg ck)" ] && export CK_RUN_SUITE="$(arg ck)"
MEMVISOR_KVM_ECHO=$(arg echo) MEMVISOR_NPT=$npt MEMVISOR_FILTER=$(arg filter) sh tests/kvm/suite.sh build
st=$?
# the runs' output folders, as a tar on the second serial port
stty -F /dev/ttyS1 raw -echo 2>/dev/null
(cd /tmp/memvisor-kvm-suite && tar -cf /dev/ttyS1 $(ls -d two smp three share lksm swap swapfull pt boot fig4-* fig5-* 2>/dev/null))
echo "NESTED-EXIT: $st after $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$work/outer.cpio.gz"
echo "run-nested: outer initramfs $(du -h "$work/outer.cpio.gz" | cut -f1)" >&2

# One boot of the outer guest with kvm_amd npt=$1, its console in $log.
# QEMU runs in the background while this watches the console: when nothing
# is printed for $stall_s seconds, the outer guest has stalled. Seen under
# QEMU 7.2's TCG with emulated SVM in 6 of about 40 boots, at random points
# of the suite: both outer CPUs halted with no interrupt arriving, or one
# looping through the INT3 handler (kernel text patching) while the other
# waits with interrupts off; not even the tests' own timeouts fire then.
# No TSC-deadline timer and a periodic tick (nohz=off highres=off) made it
# rarer, not gone. On a stall the outer CPUs' registers go into the log
# from QEMU's monitor and the boot is stopped; the caller boots again
# (NESTED_RETRIES times at most). The outer kernel may also say that it
# broke, before or instead of going quiet (seen on a 2-core machine that is
# itself a PVM guest: soft lockups and RCU stalls that go on printing until
# the boot's timeout, and once a kernel stack overflow in error_entry while
# check_kvm ran): that counts as a stall at once, and so does a reset of
# the outer guest before the suite ended. Returns 0 when the boot ended by
# itself, 3 on a stall.
# The outer kernel's own report that it broke: a panic or an oops at once;
# a soft lockup only once a CPU has been stuck for a minute, and RCU stalls
# only when reported twice (the same stall, caught while the watchdog
# still prints; a host busy for a while can cause one short report that
# the guest gets over). The Linux guests inside print to files, not to this
# console, so such a line is the outer guest's.
outer_broke() {
	tr -d '\r' <"$log" | grep -E -m 1 '^\[ *[0-9.]+\] (Kernel panic|BUG: |watchdog: BUG: soft lockup - CPU#[0-9]+ stuck for ([6-9][0-9]|[0-9]{3,})s)' ||
		tr -d '\r' <"$log" | grep -E '^\[ *[0-9.]+\] rcu: INFO: rcu_preempt detected stalls' | sed -n 2p | grep .
}
boot_outer() {
	rm -rf "$out" "$work/ttyS1.tar" "$work/monitor.sock"
	# tsc-deadline=off: the outer guest's TSC-deadline LAPIC timer stopped
	# firing in such stalls; QEMU's one-shot LAPIC timer is the plainer one
	timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max,tsc-deadline=off -m "$mem" -smp 2 \
		-nographic -serial mon:stdio -serial "file:$work/ttyS1.tar" \
		-monitor "unix:$work/monitor.sock,server=on,wait=off" \
		-no-reboot -kernel "$K/vmlinuz" -initrd "$work/outer.cpio.gz" \
		-append "console=ttyS0 quiet panic=-1 nohz=off highres=off memvisor_npt=$1 memvisor_filter=$filter memvisor_echo=${NESTED_ECHO:-} memvisor_ck=${NESTED_CK_SUITE:-}" \
		</dev/null >"$log" 2>&1 &
	qpid=$!
	last=-1
	quiet=0
	while kill -0 "$qpid" 2>/dev/null; do
		sleep 5
		size=$(wc -c <"$log")
		if [ "$size" != "$last" ]; then last=$size quiet=0; else quiet=$((quiet + 5)); fi
		if broke=$(outer_broke); then
			echo "run-nested: npt=$1: the outer guest's kernel broke: $broke; its CPUs:" >>"$log"
		elif [ "$quiet" -ge "$stall_s" ]; then
			echo "run-nested: npt=$1: no console output for ${stall_s}s: the outer guest stalled; its CPUs:" >>"$log"
		else
			continue
		fi
		python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(2)
for c in ("info cpus", "info registers -a"):
    s.send((c + "\n").encode())
    time.sleep(1)
out = b""
try:
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        out += d
except OSError:
    pass
sys.stdout.write(out.decode(errors="replace"))
' "$work/monitor.sock" >>"$log" 2>&1 || true
		kill "$qpid" 2>/dev/null # timeout passes it on to QEMU
		wait "$qpid" 2>/dev/null
		return 3
	done
	wait "$qpid" && qst=0 || qst=$?
	if broke=$(outer_broke); then
		echo "run-nested: npt=$1: the outer guest's kernel broke: $broke" >>"$log"
		return 3
	fi
	# QEMU (-no-reboot) ends with status 0 when the outer guest resets: a
	# triple fault of the outer kernel under TCG's SVM does that without a
	# word (CI saw one in the middle of check_kvm); the suite never ended
	if [ $qst = 0 ] && ! tr -d '\r' <"$log" | grep -q "^NESTED-EXIT: "; then
		echo "run-nested: npt=$1: the outer guest reset before the suite ended" >>"$log"
		return 3
	fi
	mkdir -p "$out"
	tar -xf "$work/ttyS1.tar" -C "$out" 2>/dev/null || true
	[ $qst = 0 ] || echo "run-nested: qemu exited with status $qst$([ $qst = 124 ] && echo " (timeout ${timeout_s}s)")" | tee -a "$log"
	return 0
}

status=0
for npt in $npts; do
	log=$O/kvm/nested-npt$npt.log
	out=$O/kvm/out-npt$npt
	start=$(date +%s)
	tries=1
	while ! boot_outer "$npt"; do
		mv "$log" "$log.stalled$tries"
		if [ $tries -gt "$retries" ]; then
			echo "run-nested: npt=$npt: the outer guest stalled $tries times (logs $log.stalled*)" >"$log"
			break
		fi
		echo "run-nested: npt=$npt: the outer guest stalled (log $log.stalled$tries); booting it again"
		tries=$((tries + 1))
		start=$(date +%s)
	done
	secs=$(($(date +%s) - start))
	tr -d '\r' <"$log" | grep -E '^(NESTED|KVM|ok |not ok|skip |check_kvm: skip|[0-9]+%:|#)' || true
	if tr -d '\r' <"$log" | grep -q "^NESTED-EXIT: 0 " &&
		tr -d '\r' <"$log" | grep -q "kvm_amd npt=$( [ "$npt" = 1 ] && echo Y || echo N) requested $npt"; then
		echo "run-nested: npt=$npt passed in ${secs}s (log $log)"
	else
		echo "run-nested: npt=$npt FAILED in ${secs}s (log $log)"
		tail -n 30 "$log" | tr -d '\r' >&2
		status=1
	fi
done
# The two-guest run's files make the same report as a soft run's.
if [ -f "$O/kvm/out-npt1/two/summary.json" ]; then
	if "$O/memvisor" report "$O/kvm/out-npt1/two" >"$O/kvm/report.out" 2>&1 &&
		[ -s "$O/kvm/out-npt1/two/report.html" ]; then
		echo "run-nested: memvisor report of the two-guest run: $O/kvm/out-npt1/two/report.html"
	else
		echo "run-nested: memvisor report of the two-guest run failed: $(cat "$O/kvm/report.out")"
		status=1
	fi
fi
# The same experiment under both modes: the page-table-heavy workload must
# cost more exits under shadow paging (npt=0) than under nested (npt=1).
if [ -f "$O/kvm/nested-npt1.log" ] && [ -f "$O/kvm/nested-npt0.log" ] && [ "$npts" = "1 0" ]; then
	e1=$(tr -d '\r' <"$O/kvm/nested-npt1.log" | sed -n 's/^KVM-PTWRITE: mode=nested exits=\([0-9]*\).*/\1/p')
	e0=$(tr -d '\r' <"$O/kvm/nested-npt0.log" | sed -n 's/^KVM-PTWRITE: mode=shadow exits=\([0-9]*\).*/\1/p')
	if [ -n "$e1" ] && [ -n "$e0" ] && [ "$e0" -gt "$e1" ]; then
		echo "run-nested: ptwrite exits: nested $e1, shadow $e0 ($(awk "BEGIN {printf \"%.1f\", $e0 / $e1}")x)"
	else
		echo "run-nested: ptwrite exits not higher under shadow paging: nested '${e1}', shadow '${e0}'"
		status=1
	fi
fi
[ $status = 0 ] && echo "nested: 1 passed, 0 failed" || echo "nested: 0 passed, 1 failed"
exit $status
