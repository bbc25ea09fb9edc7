# SPDX-License-Identifier: MIT
# ESX Fig 4 style: memory shared and reclaimed against the number of guests,
# zero pages apart. Called by run.sh with out='DIR'.
set terminal pngcairo size 1100,420 font ",10"
set output out.'/sharing.png'
set multiplot layout 1,2
set key top left
set xlabel "guests"
set ylabel "MiB"
set xrange [0.5:*]
set xtics 1
set grid
set title "identical guests"
plot out.'/identical.dat' using 1:4 with linespoints lw 2 title "shared", \
     '' using 1:5 with linespoints lw 2 title "reclaimed", \
     '' using 1:6 with linespoints dt 2 title "shared (zero pages)", \
     '' using 1:7 with linespoints dt 2 title "reclaimed (zero pages)"
set title "mix of web, db and batch guests"
plot out.'/mixed.dat' using 1:4 with linespoints lw 2 title "shared", \
     '' using 1:5 with linespoints lw 2 title "reclaimed", \
     '' using 1:6 with linespoints dt 2 title "shared (zero pages)", \
     '' using 1:7 with linespoints dt 2 title "reclaimed (zero pages)"
unset multiplot
