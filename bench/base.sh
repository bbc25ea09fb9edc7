#!/bin/sh
# SPDX-License-Identifier: MIT
# The base of `make bench`'s side-by-side figures: memvisor built from
# commit REV (git archive, release build) in BUILD/base-REV/, kept there
# for the next run. Prints the binary's path.
# usage: bench/base.sh BUILD REV
set -eu
rev=$(git rev-parse --short "$2")
dir=$1/base-$rev
if [ ! -x "$dir/build/memvisor" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	git archive "$rev" | tar -x -C "$dir"
	echo "bench: building the base, $rev, in $dir" >&2
	make -C "$dir" -j2 build/memvisor >"$dir/build.log" 2>&1 ||
		{ echo "bench: the base did not build (log $dir/build.log)" >&2; exit 1; }
fi
echo "$(cd "$dir" && pwd)/build/memvisor"
