# SPDX-License-Identifier: MIT
# The paging figure: gnuplot -e "dir='OUT'" paging.gp writes OUT/paging.png
# and OUT/paging.svg from the .dat files analyze.py wrote there.
if (!exists("dir")) dir = "."

set style data histogram
set style fill solid 0.85 border -1
set boxwidth 0.8
set key top right noenhanced
set xtics rotate by -30 noenhanced
set grid ytics
set datafile missing "-"

do for [fmt in "png svg"] {
	if (fmt eq "png") {
		set terminal pngcairo size 1400,1000 font "sans,10" noenhanced
	} else {
		set terminal svg size 1400,1000 font "sans,10" noenhanced background '#ffffff'
	}
	set output dir."/paging.".fmt
	set multiplot layout 2,2 title "memvisor paging experiment (modeled cycles, 3 GHz)"

	set title "(a) TLB-miss heavy: cycles per access, no walk cache"
	set style histogram rowstacked
	set ylabel "modeled cycles / access"
	plot dir."/cycles_tlb.dat" using 2:xtic(1) title "access", \
	     "" using 3 title "page walks", "" using 4 title "exits", \
	     "" using 5 title "guest OS"

	set title "(b) page-table heavy: cycles per access, no walk cache"
	plot dir."/cycles_pt.dat" using 2:xtic(1) title "access", \
	     "" using 3 title "page walks", "" using 4 title "exits", \
	     "" using 5 title "guest OS"

	set title "(c) walk references per TLB miss"
	set key top center
	set style histogram clustered gap 1
	set ylabel "references / miss"
	set yrange [0:*]
	plot dir."/refs.dat" using 2:xtic(1) title "no walk cache", \
	     "" using 3 title "16-entry walk cache"

	set title "(d) exits by reason (log scale)"
	set ylabel "exits / 1000 accesses"
	set logscale y
	set yrange [0.001:*]
	reasons = "nested_fault hidden_fault pt_write cr3_write invlpg mode_switch"
	set key top left
	plot for [i=2:7] dir."/exits.dat" using i:xtic(1) title word(reasons, i - 1)
	set key top right
	unset logscale y
	set yrange [*:*]
	unset multiplot
}
