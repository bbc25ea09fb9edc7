# SPDX-License-Identifier: MIT
# Two KVM guests under ESX's policy: memory each holds on the host, its
# allocation target and its balloon over wall time, and the host's state.
# usage: gnuplot -e "dir='OUT'" kvm.gp   (reads OUT/kvm-two.dat)
set terminal pngcairo size 900,640 font ",11"
set output dir."/kvm-two.png"
stats dir."/kvm-two.dat" using 1 nooutput
set xrange [0:STATS_max]
set multiplot layout 2,1 title "Two Debian guests on KVM, 512 MiB promised on 288 MiB (tests/kvm/two.ini)"
set grid
set key top left
set ylabel "MiB"
set xlabel ""
set format x ""
plot dir."/kvm-two.dat" index 0 using 1:2 with lines lw 2 lc rgb "#4e79a7" title "big: held on the host", \
     "" index 0 using 1:($3 > 0 ? $3 : 1/0) with lines lw 1 dt 2 lc rgb "#4e79a7" title "big: target", \
     "" index 1 using 1:2 with lines lw 2 lc rgb "#e15759" title "small: held", \
     "" index 1 using 1:($3 > 0 ? $3 : 1/0) with lines lw 1 dt 2 lc rgb "#e15759" title "small: target"
set format x "%g"
set xlabel "wall time (s)"
set ylabel "ballooned (MiB)"
set y2label "host state"
set y2range [-0.2:3.5]
set y2tics ("high" 0, "soft" 1, "hard" 2, "low" 3)
set ytics nomirror
plot dir."/kvm-two.dat" index 0 using 1:4 with lines lw 2 lc rgb "#4e79a7" title "big: balloon", \
     "" index 1 using 1:4 with lines lw 2 lc rgb "#e15759" title "small: balloon", \
     "" index 1 using 1:5 axes x1y2 with steps lw 1 lc rgb "#555555" title "host state (right)"
unset multiplot
