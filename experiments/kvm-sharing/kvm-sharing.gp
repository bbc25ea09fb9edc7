# SPDX-License-Identifier: MIT
# ESX Fig 4 on Linux guests: what a byte-exact count says could be freed,
# and what memvisor's sharing and Linux's KSM had saved, against the number
# of guests. Called by run.sh with dir='DIR'.
set terminal pngcairo size 800,480 font ",10"
set output dir.'/kvm-sharing.png'
set key top left
set xlabel "identical Debian guests (256 MiB each)"
set ylabel "MiB"
set xrange [0.5:3.5]
set xtics 1
set grid
set title "page sharing on Linux guests booted by memvisor"
plot dir.'/kvm-sharing.dat' using 1:2 with linespoints lw 2 title "held by the guests", \
     '' using 1:3 with linespoints lw 2 dt 2 title "freeable (byte-exact count)", \
     '' using 1:4 with linespoints lw 2 title "saved: memvisor (ksm/)", \
     '' using 1:5 with linespoints lw 2 title "saved: Linux KSM"
