#!/bin/sh
# SPDX-License-Identifier: MIT
# ESX Fig 4 on Linux guests: 1, 2 and 3 identical Debian guests booted by
# memvisor (tests/kvm/fig4.ini), shared by memvisor's engine (ksm/) and,
# beside it, by Linux's KSM; and ESX Fig 5: three mixes of unlike guests
# (tests/kvm/fig5-[abc].ini) shared by memvisor's engine. Each run has a
# byte-exact count of what could be freed at one moment (the guests' pages
# dumped while they idle, counted by `memvisor share`). Where a hardware /dev/kvm is usable the runs are
# here; elsewhere inside the nested QEMU guest of tests/kvm/run-nested.sh
# (TCG, about 30 minutes per figure), whose output comes back over a serial
# port. Then the numbers, shape checks (exit 1 when the runs do not show
# what the README describes) and the figures kvm-sharing.png and fig5.png.
# usage: [FIGS="4 5"] run.sh [OUT]   (needs `make`, `make kvm-guest`, and without a
# hardware KVM `make build/check/check_kvm` and qemu-system-x86_64)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=$top/build
out=${1:-$top/results/kvm-sharing-$(date +%Y%m%d-%H%M%S)}

for f in "$B/memvisor" "$B/kvm/kernel/vmlinuz" "$B/kvm/guest.cpio.gz"; do
	[ -e "$f" ] || { echo "kvm-sharing: $f is missing (make && make kvm-guest)" >&2; exit 2; }
done
figs=${FIGS:-4 5}
filter=$(echo "$figs" | sed 's/\([45]\)/fig\1/g; s/ /|/g')
mkdir -p "$out"
if "$B/memvisor" kvm-mode >/dev/null 2>&1; then
	echo "kvm-sharing: running the suite's $filter part on this host's hardware KVM" >&2
	TMPDIR=$out MEMVISOR_FILTER=$filter sh "$top/tests/kvm/suite.sh" "$B" | tee "$out/suite.log" >&2 || true
	mv "$out"/memvisor-kvm-suite/fig[45]-* "$out/"
else
	echo "kvm-sharing: no hardware KVM here: running it inside nested QEMU (tests/kvm/run-nested.sh)" >&2
	(cd "$top" && NESTED_TIMEOUT=${NESTED_TIMEOUT:-4800} sh tests/kvm/run-nested.sh -o "$B" --npt 1 --filter "$filter") >&2 || true
	cp -r "$B"/kvm/out-npt1/fig[45]-* "$out/"
	grep -E '^(KVM|ok|not ok)' "$B/kvm/nested-npt1.log" >"$out/suite.log" || true
fi
status=0
case " $figs " in *" 4 "*)
	python3 "$here/analyze.py" "$out" || status=$?
	gnuplot -e "dir='$out'" "$here/kvm-sharing.gp"
	echo "figure: $out/kvm-sharing.png"
	;;
esac
case " $figs " in *" 5 "*)
	python3 "$here/fig5.py" "$out" || status=$?
	gnuplot -e "dir='$out'" "$here/fig5.gp"
	echo "figure: $out/fig5.png"
	;;
esac
exit $status
