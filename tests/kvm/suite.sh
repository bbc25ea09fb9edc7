#!/bin/sh
# SPDX-License-Identifier: MIT
# The KVM suite: run where /dev/kvm exists (inside the nested QEMU guest of
# tests/kvm/run-nested.sh, or directly by `make check-kvm` on a KVM host).
# Usage: tests/kvm/suite.sh BUILD
#   BUILD holds memvisor and check/check_kvm, and either vmlinuz,
#   guest.cpio.gz and kernel.version (the nested image) or kvm/kernel/ and
#   kvm/guest.cpio.gz (a build tree).
# MEMVISOR_FILTER (a regular expression) runs only the tests it matches.
# Under shadow paging (MEMVISOR_NPT=0, the nested script's second boot) the
# default is the part that depends on the paging mode: the tiny guests and
# ballooning a Linux guest (check_kvm without deflate-on-OOM), kvm-mode,
# and the ptwrite experiment (a Linux guest booted through memvisor run);
# boot.ini, errors, deflate-on-OOM and the two-guest policy run in the
# npt=1 boot.
# Prints "ok N - NAME" / "not ok - NAME" / "skip - NAME: WHY" lines and
# "KVM: N passed, N failed, N skipped". A test of a hardware KVM's own
# behaviour is skipped, with its reason, where kvm-mode finds none.
set -u
B=$(cd "${1:-build}" && pwd)
D=$(cd "$(dirname "$0")" && pwd)
M=$B/memvisor
K=$B/vmlinuz
[ -f "$K" ] || K=$B/kvm/kernel/vmlinuz
I=$B/guest.cpio.gz
[ -f "$I" ] || I=$B/kvm/guest.cpio.gz
V=$B/kernel.version
[ -f "$V" ] || V=$B/kvm/kernel/version
KVER=$(cat "$V")
export MEMVISOR_KVM_KERNEL=$K MEMVISOR_KVM_INITRD=$I MEMVISOR_KVM_KVER=$KVER
if [ "${MEMVISOR_NPT:-}" = 0 ] && [ -z "${MEMVISOR_FILTER:-}" ]; then
	MEMVISOR_FILTER='check_kvm|kvm-mode|ptwrite'
	export MEMVISOR_KVM_SKIP_OOM=1
fi
OUT=${TMPDIR:-/tmp}/memvisor-kvm-suite
rm -rf "$OUT"
mkdir -p "$OUT"
pass=0
fail=0
skip=0
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
bad() { fail=$((fail + 1)); echo "not ok - $*"; }
want() { [ -z "${MEMVISOR_FILTER:-}" ] || echo "$1" | grep -Eq "$MEMVISOR_FILTER"; }
# a number field of the first object in summary.json holding "name": "$2"
field() { # FILE GUEST KEY
	tr -d '\n' <"$1" | sed 's/{"name"/\n{"name"/g' | grep "\"name\": \"$2\"" |
		sed -n "s/.*\"$3\": \([0-9][0-9]*\).*/\1/p" | head -n 1
}
# a field of the host's object (the first in the file)
hfield() { grep -o "\"$2\": [0-9]*" "$1" | head -n 1 | cut -d' ' -f2; }
hnum() { grep -o "\"$2\": [0-9.]*" "$1" | head -n 1 | cut -d' ' -f2; }
run() { # NAME CONFIG SECTION... -- ARGS
	n=$1 c=$2
	shift 2
	sets=""
	while [ "$1" != -- ]; do
		sets="$sets --set $1.kernel=$K --set $1.initrd=$I"
		shift
	done
	shift
	# shellcheck disable=SC2086
	"$M" run "$D/$c" -o "$OUT/$n" -q $sets "$@" >"$OUT/$n.out" 2>"$OUT/$n.err" &
	rpid=$!
	# a line a minute, so that run-nested.sh does not take a long run for a
	# stalled outer guest (it watches the console)
	rsecs=0
	while kill -0 $rpid 2>/dev/null; do
		sleep 1
		rsecs=$((rsecs + 1))
		[ $((rsecs % 60)) = 0 ] && echo "KVM: $n running, ${rsecs} s"
	done
	wait $rpid
}

# --- page sharing on a Linux guest: ksm/ over its memfd (kvm_mem.c) ----------
# The guest holds its pages 45 s after its workload; 35 s after it is up
# they are dumped, and `memvisor share` counts byte for byte what perfect
# sharing would free then: the engine cannot have saved more.
if want share; then
	if run share boot.ini lin -- --verify --set host.sharing=on --set host.dump_ms=35000 \
		--set lin.cmdline=memvisor.hold=45; then
		S=$OUT/share/summary.json
		"$M" share --json "$OUT/share/lin.pages" >"$OUT/share/exact.json" 2>&1
		rm -f "$OUT/share/lin.pages"
		saved=$(sed -n 's/.*"before": {[^}]*"pages_saved": \([0-9]*\).*/\1/p' "$OUT/share/dump.json")
		exact=$(grep -o '"pages_saved": [0-9]*' "$OUT/share/exact.json" | cut -d' ' -f2)
		echo "KVM-SHARE-EXACT: at the dump the guest held $(grep -o '"pages_total": [0-9]*' "$OUT/share/exact.json" | cut -d' ' -f2) pages; sharing had saved ${saved:-?}, a byte-exact count says ${exact:-?} could be"
		# the most pages it shared at once (timeseries.csv's `shared`)
		most=$(awk -F, 'NR > 1 && $2 == "lin" && $6 > m { m = $6 } END { print m + 0 }' "$OUT/share/timeseries.csv")
		echo "KVM-SHARE: at most $most pages shared, $(field "$S" lin pages_sharing) at the end, merged $(field "$S" lin pages_merged), cow_breaks $(field "$S" lin cow_breaks), scanned $(field "$S" lin pages_scanned); host: peak saved $(hfield "$S" peak_pages_saved), scanner CPU $(hnum "$S" scan_cpu_seconds) s (read $(hnum "$S" scan_read_seconds) s, hash $(hnum "$S" scan_hash_seconds) s, $(hfield "$S" scan_pages_dropped) pages of credit dropped), workload $(hnum "$S" workload_seconds) s; merge: $(tr -d '\n ' <"$S" | grep -o '"merge_cost":{[^}]*}'); vm.max_map_count $(hfield "$S" max_map_count) (was $(hfield "$S" max_map_count_before)), at most $(hfield "$S" peak_vmas) mappings"
		if grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			grep -q '"sharing": true' "$S" && [ "$most" -gt 0 ] &&
			[ -n "$saved" ] && [ -n "$exact" ] && [ "$saved" -gt 0 ] && [ "$saved" -le "$exact" ] &&
			[ "$(field "$S" lin pages_merged)" -gt 0 ] &&
			[ $(($(field "$S" lin host_frames) + $(field "$S" lin balloon_actual) + $(field "$S" lin untouched) + $(field "$S" lin pages_sharing))) -eq "$(field "$S" lin guest_pages)" ]; then
			ok "a Linux guest's pages shared through ksm/ while it runs and verifies"
		else
			bad "share: summary does not hold up"
			cat "$S"
		fi
	else
		bad "share: memvisor run failed: $(tail -n 3 "$OUT/share.err")"
	fi
fi

# --- the same guest with Linux's KSM instead ([host] linux_ksm) ---------------
if want lksm; then
	if run lksm boot.ini lin -- --verify --set host.linux_ksm=on; then
		S=$OUT/lksm/summary.json
		echo "KVM-LKSM: peak saved $(hfield "$S" peak_pages_saved), full scans $(hfield "$S" full_scans), ksmd CPU $(hnum "$S" scan_cpu_seconds) s at $(hfield "$S" pages_to_scan) pages per 20 ms, workload $(hnum "$S" workload_seconds) s"
		if grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			grep -q '"sharing_engine": "linux ksm"' "$S" &&
			[ "$(hfield "$S" peak_pages_saved)" -gt 0 ]; then
			ok "a Linux guest's RAM merged by Linux's KSM while it runs and verifies"
		else
			bad "lksm: summary does not hold up"
			cat "$S"
		fi
	else
		bad "lksm: memvisor run failed: $(tail -n 3 "$OUT/lksm.err")"
	fi
fi

# --- host swap of a Linux guest: the policy over a budget below its holding ---
# boot.ini's guest holds about 110 MiB once booted; on a 96 MiB budget with
# no balloon the policy swaps it down to its target (kvm_mem.c writes the
# pages to the swap file and punches them, a userfaultfd fault brings them
# back), while the guest runs zipf and then verifies every page it wrote.
if want swap; then
	if run swap boot.ini lin -- --verify --set host.memory=96M \
		--set "host.swap_file=$OUT/swap.file"; then
		S=$OUT/swap/summary.json
		low=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i; next}
			$h["host_swap_outs"] > 0 && $h["resident"] > 0 && (m == "" || $h["resident"] < m) {m = $h["resident"]}
			END {print m + 0}' "$OUT/swap/timeseries.csv")
		echo "KVM-SWAP: out $(field "$S" lin host_swap_outs), in $(field "$S" lin host_swap_ins), shared instead $(field "$S" lin swap_shared); uffd faults: missing $(field "$S" lin faults_missing), mean $(grep -o '"fault_mean_us": [0-9.]*' "$S" | cut -d' ' -f2) us, max $(grep -o '"fault_max_us": [0-9.]*' "$S" | cut -d' ' -f2) us, $(tr -d '\n ' <"$S" | grep -o '"fault_latency":{[^}]*}'); fewest pages held once swapping $low (budget 24576); swap file peak $(grep -o '"peak_slots": [0-9]*' "$S" | cut -d' ' -f2) slots"
		if grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			[ "$(field "$S" lin host_swap_outs)" -gt 0 ] &&
			[ "$(field "$S" lin host_swap_ins)" -gt 0 ] &&
			grep -q '"write_errors": 0' "$S" && grep -q '"fatal": null' "$S" &&
			[ "$low" -gt 0 ] && [ "$low" -lt 24576 ] && [ ! -e "$OUT/swap.file" ]; then
			ok "a Linux guest host-swapped below a 96M budget by the policy, every page verified"
		else
			bad "swap: summary does not hold up"
			cat "$S"
		fi
	else
		bad "swap: memvisor run failed: $(tail -n 3 "$OUT/swap.err")"
	fi
	# the swap file on a full disk: said once, the pages stay, the guest
	# verifies them, the run exits 1
	mkdir -p "$OUT/full"
	if mount -t tmpfs -o size=256k tmpfs "$OUT/full" 2>"$OUT/mount.err"; then
		run swapfull boot.ini lin -- --verify --set host.memory=96M \
			--set "host.swap_file=$OUT/full/swap.file"
		st=$?
		S=$OUT/swapfull/summary.json
		echo "KVM-SWAP-FULL: exit $st, $(grep -c 'host swap' "$OUT/swapfull.err") message(s): $(grep 'host swap' "$OUT/swapfull.err" | head -n 1)"
		if [ $st = 1 ] && [ "$(grep -c 'host swap' "$OUT/swapfull.err")" = 1 ] &&
			grep -q 'No space left on device' "$OUT/swapfull.err" &&
			grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			[ "$(field "$S" lin host_swap_outs)" -gt 0 ] &&
			grep -q '"write_errors": 1' "$S"; then
			ok "host swap on a full tmpfs: one message, the pages stay, the guest verifies, exit 1"
		else
			bad "swap on a full disk: exit $st: $(cat "$OUT/swapfull.err")"
			cat "$S"
		fi
		umount "$OUT/full"
	else
		skip=$((skip + 1))
		echo "skip - host swap on a full tmpfs: cannot mount one: $(cat "$OUT/mount.err")"
	fi
fi

# --- the hand-assembled guests and the Linux guests through the C API -------
if want check_kvm; then
	echo "KVM: check_kvm"
	# its output goes on to the console as it comes (the nested runner
	# takes a quiet console for a stall)
	{
		"$B/check/check_kvm" 2>&1
		echo $? >"$OUT/check_kvm.status"
	} | tee "$OUT/check_kvm.out"
	skip=$((skip + $(grep -c '^check_kvm: skip' "$OUT/check_kvm.out")))
	if [ "$(cat "$OUT/check_kvm.status")" = 0 ]; then ok check_kvm; else bad check_kvm; fi
fi

# --- kvm-mode ----------------------------------------------------------------
# With no hardware KVM (a software hypervisor that passed check-kvm's
# probe) kvm-mode names the module, exits 3 and refuses to switch, and the
# paging-mode tests, a hardware KVM's, are skipped.
if want kvm-mode; then
	mode=$("$M" kvm-mode 2>&1)
	st=$?
	mode=$(echo "$mode" | head -n 1)
	p=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null || cat /sys/module/kvm_intel/parameters/ept 2>/dev/null)
	echo "KVM-MODE: $mode (exit $st, param ${p:-none})"
fi
if want kvm-mode && [ $st != 0 ]; then
	if [ $st = 3 ] && echo "$mode" | grep -Eq '^(software|unknown) ' &&
		! "$M" kvm-mode shadow 2>"$OUT/mode.err" && grep -q "cannot switch" "$OUT/mode.err"; then
		ok "kvm-mode says '$mode', exits 3 and refuses to switch"
	else
		bad "kvm-mode with no hardware KVM: exit $st, '$mode': $(cat "$OUT/mode.err" 2>/dev/null)"
	fi
	skip=$((skip + 1))
	echo "skip - kvm-mode paging modes: a hardware KVM's; here: $mode"
elif want kvm-mode; then
	case "$p" in Y | 1) exp=nested other=shadow ;; *) exp=shadow other=nested ;; esac
	if echo "$mode" | grep -q "^$exp "; then ok "kvm-mode reports $exp"; else bad "kvm-mode says '$mode', param $p"; fi
	if [ "${MEMVISOR_NPT:-}" = 1 ]; then
		# refused while /dev/kvm is open, then switched and back
		exec 3</dev/kvm
		if "$M" kvm-mode "$other" 2>"$OUT/mode.err"; then
			bad "kvm-mode switched while /dev/kvm was open"
		elif grep -q "in use" "$OUT/mode.err"; then ok "kvm-mode refuses while KVM is in use"
		else bad "kvm-mode refusal: $(cat "$OUT/mode.err")"; fi
		exec 3<&-
		if "$M" kvm-mode "$other" >"$OUT/mode.out" 2>&1 && "$M" kvm-mode | grep -q "^$other " &&
			"$M" kvm-mode "$exp" >>"$OUT/mode.out" 2>&1 && "$M" kvm-mode | grep -q "^$exp "; then
			ok "kvm-mode switches to $other and back"
		else
			bad "kvm-mode switch: $(cat "$OUT/mode.out")"
		fi
	fi
fi

# --- a Linux guest through memvisor run ----------------------------------------
if want boot; then
	t0=$(date +%s)
	if run boot boot.ini lin -- --verify; then
		S=$OUT/boot/summary.json
		echo "KVM-BOOT: $(grep -o '"boot_seconds": [0-9.]*' "$S"), run $(($(date +%s) - t0)) s"
		if grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			grep -q "\"uname\": \"$KVER\"" "$S" && [ "$(field "$S" lin accesses)" = 1000000 ] &&
			[ "$(field "$S" lin memtotal_kb)" -gt 131072 ] &&
			grep -q '"kvm_stats": "binary"' "$S" && [ "$(field "$S" lin io_exits)" -gt 0 ] &&
			grep -q "^@memvisor done status=0" "$OUT/boot/lin.console" &&
			[ $(($(field "$S" lin host_frames) + $(field "$S" lin balloon_actual) + $(field "$S" lin untouched))) -eq "$(field "$S" lin guest_pages)" ] &&
			[ "$(awk -F, 'NR > 1 && $2 == "lin"' "$OUT/boot/timeseries.csv" | wc -l)" -gt 3 ]; then
			ok "Linux guest boots, runs zipf, verifies, powers off (uname $KVER)"
		else
			bad "boot.ini: summary does not hold up"
			cat "$S"
		fi
	else
		bad "boot.ini: memvisor run failed: $(cat "$OUT/boot.err")"
		tail -n 5 "$OUT/boot/lin.console" 2>/dev/null
	fi
fi

# --- clear errors: no initramfs, not a kernel, a kernel that cannot boot ------
if want errors; then
	"$M" run "$D/boot.ini" -o "$OUT/noinit" -q --set lin.kernel="$K" \
		--set lin.initrd=/nonexistent.cpio.gz >/dev/null 2>"$OUT/noinit.err"
	st=$?
	if [ $st = 2 ] && grep -q "/nonexistent.cpio.gz: No such file" "$OUT/noinit.err" &&
		[ ! -e "$OUT/noinit/summary.json" ]; then ok "a missing initramfs is a config error"
	else bad "missing initramfs: exit $st: $(cat "$OUT/noinit.err")"; fi
	"$M" run "$D/boot.ini" -o "$OUT/nokernel" -q --set lin.kernel="$M" \
		--set lin.initrd="$I" >/dev/null 2>"$OUT/nokernel.err"
	st=$?
	if [ $st = 2 ] && grep -q "not a Linux bzImage" "$OUT/nokernel.err"; then ok "a file that is no kernel is refused"
	else bad "not a kernel: exit $st: $(cat "$OUT/nokernel.err")"; fi
	# a bzImage whose compressed payload is zeroed in the middle: the
	# decompressor stops (the same bytes every run, so the same path)
	cp "$K" "$OUT/broken.bz"
	dd if=/dev/zero of="$OUT/broken.bz" bs=4096 seek=256 count=256 conv=notrunc 2>/dev/null
	t0=$(date +%s)
	"$M" run "$D/boot.ini" -o "$OUT/broken" -q --set lin.kernel="$OUT/broken.bz" \
		--set lin.initrd="$I" --set lin.timeout=10 >/dev/null 2>"$OUT/broken.err"
	st=$?
	secs=$(($(date +%s) - t0))
	if [ $st = 1 ] && [ $secs -lt 60 ] && grep -q "guest lin" "$OUT/broken.err" &&
		grep -q '"status": "failed"' "$OUT/broken/summary.json"; then
		ok "a kernel that cannot boot fails its guest in ${secs}s: $(head -c 160 "$OUT/broken.err")"
	else bad "broken kernel: exit $st after ${secs}s: $(cat "$OUT/broken.err")"; fi
fi

# --- two guests, overcommitted, the policy moving memory ----------------------
# col FILE GUEST NAME AGG: the column NAME of GUEST's rows in a time series,
# max or last
col() {
	awk -F, -v g="$2" -v c="$3" -v a="$4" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i; next}
		$2 == g {v = $k + 0; if (a == "max" && v > m) m = v; if (a == "last") m = v}
		END {print m + 0}' "$1"
}
# Under nested QEMU (TCG's emulated SVM), a guest of this two-guest run now
# and then triple-faults in early boot, before memvisor's in-guest program
# has started (README: two guests sharing one emulated CPU; CI saw one after
# the kernel's first console line). That, and only that, is run again, at
# most twice, and said.
early_crash() { # NAME
	g=$(sed -n 's/^guest \([^:]*\): vCPU [0-9]* shut down (triple fault).*/\1/p' "$OUT/$1.err" | head -n 1)
	[ -n "$g" ] && ! grep -q "@memvisor" "$OUT/$1/$g.console" 2>/dev/null
}
if want two; then
	t0=$(date +%s)
	run two two.ini big small -- --verify
	st=$?
	for again in 1 2; do
		[ $st != 0 ] && early_crash two || break
		echo "KVM-TWO: $(head -n 1 "$OUT/two.err"); running it again ($again of 2)"
		rm -rf "$OUT/two"
		run two two.ini big small -- --verify
		st=$?
	done
	if [ $st = 0 ]; then
		S=$OUT/two/summary.json
		T=$OUT/two/timeseries.csv
		smax=$(col "$T" small balloon_actual max)
		sfin=$(col "$T" small balloon_actual last)
		bmax=$(col "$T" big balloon_actual max)
		state=$(col "$T" small host_state max)
		last=$(col "$T" small host_state last)
		# rows where the policy wants pages from small, idle, and targets
		# below its min (there must be none)
		taken=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i; next}
			$2 == "small" && $h["alloc_target"] > 0 && $h["alloc_target"] < $h["alloc_pages"] {n++}
			END {print n + 0}' "$T")
		under=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i; next}
			$2 == "small" && $h["alloc_target"] > 0 && $h["alloc_target"] < 16384 {n++}
			END {print n + 0}' "$T")
		peak=$(grep -o '"peak_frames": [0-9]*' "$S" | head -n 1 | cut -d' ' -f2)
		echo "KVM-TWO: balloons at most: small $smax pages (at its end $sfin), big $bmax; worst state $state, last $last; small's target below its holding in $taken rows; peak host frames $peak; $(grep -o '"transitions": [0-9]*' "$S"); $(($(date +%s) - t0)) s"
		if grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			[ "$state" -ge 1 ] && [ "$smax" -ge 2048 ] && [ "$taken" -gt 0 ] &&
			[ "$under" = 0 ] && [ "$last" = 0 ] && [ "$sfin" -le "$smax" ] &&
			[ "$sfin" -lt "$smax" ] &&
			[ "$(field "$S" small rejected_batches)" = 0 ] &&
			[ "$(field "$S" big rejected_batches)" = 0 ] &&
			[ "$(field "$S" small periods)" -gt 3 ] &&
			grep -q '"source": "dirty log (pages written)"' "$S"; then
			ok "two guests on 288M for 512M: the policy balloons the idle one too below the free-memory thresholds, then gives its pages back"
		else
			bad "two.ini: balloons small $smax (end $sfin), big $bmax; state $state, last $last; taken $taken, under min $under"
			cat "$S"
			awk 'NR == 1 || NR % 10 == 0' "$T" | cut -d, -f1,2,5,7,17,18,23-30
		fi
	else
		bad "two.ini: memvisor run failed: $(cat "$OUT/two.err")"
		for c in "$OUT"/two/*.console; do echo "== $c"; tail -n 25 "$c"; done
		echo "== timeseries"; awk 'NR == 1 || NR % 40 == 0' "$OUT/two/timeseries.csv.tmp" "$OUT/two/timeseries.csv" 2>/dev/null | cut -c1-200
	fi
fi

# --- two guests of two vCPUs each --------------------------------------------
# Each kernel brings its second CPU up (MP table, in-kernel LAPIC INIT and
# SIPI) and both run and verify. Said and run once more only after an early
# triple fault (early_crash), as for two.
if want smp; then
	t0=$(date +%s)
	run smp smp.ini a b -- --verify
	st=$?
	if [ $st != 0 ] && early_crash smp; then
		echo "KVM-SMP: $(head -n 1 "$OUT/smp.err"); running it again"
		rm -rf "$OUT/smp"
		run smp smp.ini a b -- --verify
		st=$?
	fi
	cpus=$(cat "$OUT"/smp/*.console 2>/dev/null | tr -d '\r' | sed -n 's/^@memvisor boot .*cpus=\([0-9]*\).*/\1/p' | tr '\n' ' ')
	echo "KVM-SMP: exit $st, CPUs seen by the guests: ${cpus:-none}; $(($(date +%s) - t0)) s"
	if [ $st = 0 ] && grep -q '"verified": true' "$OUT/smp/summary.json" && [ "$cpus" = "2 2 " ]; then
		ok "two guests of two vCPUs each boot both CPUs, run and verify"
	else
		bad "smp.ini: exit $st, CPUs '$cpus': $(cat "$OUT/smp.err")"
		for c in "$OUT"/smp/*.console; do echo "== $c"; tail -n 15 "$c"; done
	fi
fi

# --- the same two guests with all three mechanisms: balloon, sharing, swap ----
# With the balloon alone the host held 327 MiB at its peak on two.ini's 288
# MiB budget (7 December). Sharing alone saves about 100 MiB of these two
# guests and kept them at 264 MiB on it (7 December, later), so this runs them on
# 192 MiB, where the balloon and host swap have to act too: the host's
# peak should stay near the budget. A guest of this run (and of the fig4
# experiment's three-guest run) has also triple-faulted after its
# userspace was up, while the scanner merged its pages: in 2 runs of 4
# on 7 December, never with one guest. Whose fault that is, memvisor's or
# the emulator's, is not known yet (experiments/kvm-sharing/README.md):
# it is run again, at most twice, and said, so that it stays in sight.
# Only when asked for by name (MEMVISOR_FILTER=three): under QEMU's TCG
# the outer guest stalled at this test's start in 2 of the 3 suite boots
# that reached it (7 December), and each stall costs CI a whole boot.
triple_fault() { grep -q "(triple fault)" "$OUT/$1.err"; }
if [ -n "${MEMVISOR_FILTER:-}" ] && want three; then
	t0=$(date +%s)
	run three two.ini big small -- --verify --set host.sharing=on --set host.memory=192M \
		--set "host.swap_file=$OUT/three.swap"
	st=$?
	for again in 1 2; do
		[ $st != 0 ] && triple_fault three || break
		echo "KVM-THREE: $(grep "(triple fault)" "$OUT/three.err" | head -n 1); running it again ($again of 2)"
		rm -rf "$OUT/three"
		run three two.ini big small -- --verify --set host.sharing=on --set host.memory=192M \
			--set "host.swap_file=$OUT/three.swap"
		st=$?
	done
	if [ $st = 0 ]; then
		S=$OUT/three/summary.json
		peak=$(hfield "$S" peak_frames)
		echo "KVM-THREE: peak host frames $peak of 49152 ($((peak * 4 / 1024)) MiB on 192 MiB); balloons at most small $(col "$OUT/three/timeseries.csv" small balloon_actual max), big $(col "$OUT/three/timeseries.csv" big balloon_actual max); host swap out big $(field "$S" big host_swap_outs), small $(field "$S" small host_swap_outs), in $(hfield "$S" swap_ins); peak saved by sharing $(hfield "$S" peak_pages_saved); $(grep -o '"transitions": [0-9]*' "$S"); $(($(date +%s) - t0)) s"
		if grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			[ "$peak" -le 54067 ] && [ "$(hfield "$S" peak_pages_saved)" -gt 0 ] &&
			grep -q '"write_errors": 0' "$S"; then
			ok "two guests on 192M for 512M with balloon, sharing and host swap: peak $((peak * 4 / 1024)) MiB"
		else
			bad "three: summary does not hold up (peak $peak frames)"
			cat "$S"
		fi
	else
		bad "three: memvisor run failed: $(cat "$OUT/three.err")"
		for c in "$OUT"/three/*.console; do echo "== $c"; tail -n 25 "$c"; done
	fi
fi

# --- ESX Fig 4 on Linux guests (experiments/kvm-sharing; only when asked) ----
# A run whose config dumps its guests' pages ([host] dump_ms): `memvisor
# share` counts byte for byte what perfect sharing would free at that
# moment, beside what the engine had saved then (dump.json). The dumps are
# deleted here (they would not fit the serial port back). Sets saved, exact
# (freeable) and total (pages held at the dump); returns the run's status.
counted() { # NAME CONFIG SECTION... -- ARGS
	run "$@"
	cst=$?
	D2=$OUT/$1
	"$M" share --json "$D2"/*.pages >"$D2/exact.json" 2>"$D2/exact.err"
	rm -f "$D2"/*.pages
	saved=$(sed -n 's/.*"before": {[^}]*"pages_saved": \([0-9]*\).*/\1/p' "$D2/dump.json")
	exact=$(grep -o '"pages_saved": [0-9]*' "$D2/exact.json" | head -n 1 | cut -d' ' -f2)
	total=$(grep -o '"pages_total": [0-9]*' "$D2/exact.json" | cut -d' ' -f2)
	return $cst
}
counted_ok() { # STATUS NAME: the run verified, and the engine saved no more than can be
	[ "$1" = 0 ] && grep -q '"verified": true' "$OUT/$2/summary.json" &&
		[ -n "$saved" ] && [ -n "$exact" ] && [ "$saved" -le "$exact" ] && [ "$saved" -gt 0 ]
}

# The sort trace a Linux guest replays (run-nested.sh records it on the
# host, where valgrind is; else here).
sort_trace() {
	T=$B/sort.mvt
	[ -f "$T" ] && return 0
	T=$OUT/sort.mvt
	[ -f "$T" ] && return 0
	awk 'BEGIN { for (i = 0; i < 300; i++) print (i * 7919) % 1000 }' >"$OUT/sort.in"
	"$M" trace record -o "$T" -- sort "$OUT/sort.in" >/dev/null 2>"$OUT/record.err" ||
		bad "trace record: $(cat "$OUT/record.err")"
}

# N = 1, 2, 3 identical guests (fig4.ini), with memvisor's sharing and with
# Linux's KSM; counted at 75 s per guest after the last one is up, when all
# of them idle.
if [ -n "${MEMVISOR_FILTER:-}" ] && want fig4; then
	for ng in 1 2 3; do
		for e in memvisor ksm; do
			name=fig4-$e-$ng
			eng=""
			[ $e = ksm ] && eng="--set host.sharing=off --set host.linux_ksm=on"
			# shellcheck disable=SC2086
			# the scanner needs about 75 s per guest under nested
			# emulation to go over them twice (hints, then merges)
			counted "$name" fig4.ini vm -- --verify --set vm.count=$ng \
				--set "host.dump_ms=$((75000 * ng))" \
				--set "vm.cmdline=memvisor.hold=$((110 * ng))" $eng
			st=$?
			echo "KVM-FIG4: $e N=$ng exit $st: held $total pages at the dump, saved ${saved:-?} of ${exact:-?} freeable byte for byte; peak saved $(hfield "$OUT/$name/summary.json" peak_pages_saved), scanner CPU $(hnum "$OUT/$name/summary.json" scan_cpu_seconds) s"
			if counted_ok $st "$name"; then
				ok "ESX Fig 4, $e, $ng guest(s): saved $saved of $exact"
			else
				bad "ESX Fig 4, $e, $ng guest(s): exit $st, saved ${saved:-?} of ${exact:-?}: $(tail -n 2 "$OUT/$name.err") $(cat "$OUT/$name/exact.err")"
			fi
		done
	done
fi

# ESX Fig 5: three mixes of unlike guests (fig5-a.ini: one OS, three
# services; fig5-b.ini: three sizes; fig5-c.ini: a real program's trace, an
# idle OS and private data), memvisor's sharing, counted as fig4's. A run
# that triple-faults is said, with the memory audit of the guest, and run
# once more.
if [ -n "${MEMVISOR_FILTER:-}" ] && want fig5; then
	sort_trace
	for mix in a b c; do
		name=fig5-$mix
		fset="--verify"
		for s in $(sed -n 's/^\[guest \(.*\)\]$/\1/p' "$D/$name.ini"); do
			fset="$fset --set $s.cmdline=memvisor.hold=330"
		done
		[ $mix = c ] && fset="$fset --set tr.workload=trace:$T"
		for try in 1 2; do
			rm -rf "${OUT:?}/$name"
			# shellcheck disable=SC2046,SC2086
			counted "$name" "$name.ini" $(sed -n 's/^\[guest \(.*\)\]$/\1/p' "$D/$name.ini") -- $fset
			st=$?
			[ $st != 0 ] && [ $try = 1 ] && triple_fault "$name" || break
			echo "KVM-FIG5: mix $mix: $(grep "(triple fault)" "$OUT/$name.err" | head -n 1); running it again"
		done
		S=$OUT/$name/summary.json
		sharing=$(sed -n 's/.*"before": {[^}]*"pages_sharing": \([0-9]*\).*/\1/p' "$OUT/$name/dump.json")
		echo "KVM-FIG5: mix $mix exit $st: held ${total:-?} pages at the dump, sharing ${sharing:-?}, saved ${saved:-?} of ${exact:-?} freeable byte for byte; scanner CPU $(hnum "$S" scan_cpu_seconds) s"
		if counted_ok $st "$name"; then
			ok "ESX Fig 5, mix $mix: saved $saved of $exact"
		else
			bad "ESX Fig 5, mix $mix: exit $st, saved ${saved:-?} of ${exact:-?}: $(tail -n 2 "$OUT/$name.err") $(cat "$OUT/$name/exact.err")"
		fi
	done
fi

# --- a real program's trace replayed in a Linux guest -------------------------
if want trace; then
	sort_trace
	"$M" trace info --json "$T" >"$OUT/info.json" 2>&1
	recs=$(sed -n 's/.*"records": \([0-9]*\).*/\1/p' "$OUT/info.json" | head -n 1)
	pages=$(sed -n 's/.*"distinct_pages": \([0-9]*\).*/\1/p' "$OUT/info.json" | head -n 1)
	if run trace trace.ini tr -- --verify --set "tr.workload=trace:$T"; then
		S=$OUT/trace/summary.json
		got=$(sed -n 's/^@memvisor trace_procs=1 trace_pages=\([0-9]*\).*/\1/p' "$OUT/trace/tr.console" | tr -d '\r')
		echo "KVM-TRACE: $recs records, $pages pages in the trace; the guest replayed $(field "$S" tr accesses) over $got pages"
		if grep -q '"status": "ok"' "$S" && grep -q '"verified": true' "$S" &&
			[ -n "$recs" ] && [ "$(field "$S" tr accesses)" = "$recs" ] && [ "$got" = "$pages" ]; then
			ok "a Linux guest replays a real trace (sort, $recs records) and verifies every page"
		else
			bad "trace.ini: records $recs pages $pages, guest: $(grep '^@memvisor' "$OUT/trace/tr.console" | tr '\n' ' ')"
		fi
	else
		bad "trace.ini: memvisor run failed: $(cat "$OUT/trace.err")"
		tail -n 5 "$OUT/trace/tr.console" 2>/dev/null
	fi
fi

# --- the page-table-heavy workload: exits under this boot's paging mode ------
if want ptwrite; then
	if run pt ptwrite.ini pt --; then
		S=$OUT/pt/summary.json
		pm=$("$M" kvm-mode | head -n 1 | cut -d' ' -f1)
		echo "KVM-PTWRITE: mode=$pm exits=$(field "$S" pt exits) pf_fixed=$(field "$S" pt pf_fixed) mmu_pte_write=$(field "$S" pt mmu_pte_write) invlpg=$(field "$S" pt invlpg) seconds=$(grep -o '"workload_seconds": [0-9.]*' "$S" | cut -d' ' -f2)"
		if grep -q '"status": "ok"' "$S" && [ "$(field "$S" pt accesses)" -ge 30000 ]; then
			ok "a Linux guest runs ptwrite under $pm paging"
		else bad "ptwrite: $(cat "$S")"; fi
	else
		bad "ptwrite.ini: memvisor run failed: $(cat "$OUT/pt.err")"
	fi
fi

echo "KVM: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
