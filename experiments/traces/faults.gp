# SPDX-License-Identifier: MIT
# Fault curves of real traces under three replacement policies, from
# faults.csv (run.sh): faults against data frames, as a share of each
# trace's footprint. Call with -e "programs='sort ls ...'".
set datafile separator ','
set terminal pngcairo size 1200,900 font ',10'
set output 'faults.png'
n = words(programs)
set multiplot layout ceil(n / 2.0), 2 title 'Page faults against resident data frames (exact LRU, clock, random)'
set logscale y
set xlabel 'data frames (% of the footprint)'
set ylabel 'faults (first touches + swap-ins)'
set key top right
set grid
do for [i = 1:n] {
	p = word(programs, i)
	set title p
	plot for [pol in 'lru clock random'] \
		sprintf("< awk -F, '$1 == \"%s\" && $2 == \"%s\"' faults.csv", p, pol) \
		using 4:5 with linespoints title pol
}
unset multiplot
