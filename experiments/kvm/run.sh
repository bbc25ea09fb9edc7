#!/bin/sh
# SPDX-License-Identifier: MIT
# Two Debian guests on KVM under ESX's allocation policy (tests/kvm/two.ini:
# 512 MiB promised on 288 MiB, one guest busy, one idle). Where /dev/kvm is
# usable memvisor runs them here; elsewhere inside the nested QEMU guest of
# tests/kvm/run-nested.sh (TCG, about 3 minutes), whose output folder comes
# back over a serial port. Then memvisor report, the key numbers and shape
# checks (exit 1 when the run does not show what the README describes),
# and the figure kvm-two.png.
# usage: run.sh [OUT]   (needs `make` and `make kvm-guest`; without /dev/kvm
# also build/check/check_kvm: `make build/check/check_kvm`)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=$top/build
out=${1:-$top/results/kvm-two-$(date +%Y%m%d-%H%M%S)}

for f in "$B/memvisor" "$B/kvm/kernel/vmlinuz" "$B/kvm/guest.cpio.gz"; do
	[ -e "$f" ] || { echo "kvm: $f is missing (make && make kvm-guest)" >&2; exit 2; }
done
mkdir -p "$(dirname "$out")"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	echo "kvm: running tests/kvm/two.ini on this host's /dev/kvm" >&2
	"$B/memvisor" run "$top/tests/kvm/two.ini" -o "$out" --verify -q \
		--set big.kernel="$B/kvm/kernel/vmlinuz" --set big.initrd="$B/kvm/guest.cpio.gz" \
		--set small.kernel="$B/kvm/kernel/vmlinuz" --set small.initrd="$B/kvm/guest.cpio.gz"
else
	echo "kvm: no /dev/kvm here: running it inside nested QEMU (tests/kvm/run-nested.sh)" >&2
	(cd "$top" && sh tests/kvm/run-nested.sh -o "$B" --npt 1 --filter two) >&2
	rm -rf "$out"
	cp -r "$B/kvm/out-npt1/two" "$out"
fi
"$B/memvisor" report "$out" >/dev/null
status=0
python3 "$here/analyze.py" "$out" || status=$?
gnuplot -e "dir='$out'" "$here/kvm.gp"
echo "figure: $out/kvm-two.png; report: $out/report.html"
exit $status
