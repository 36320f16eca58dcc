# bench/loss.gp: draws bench/loss.sh's figures (loss.dat: "P dir direct_s
# kernel_s" lines) as time per transfer against the loss rate, direct mode
# next to the kernel, each direction. Called by bench/loss.sh with
# datafile and outfile set.
set terminal svg size 720,420 dynamic font "sans,12"
set output outfile
set title "64 MiB through a router dropping P % of TCP packets"
set xlabel "loss (%)"
set ylabel "seconds (log scale)"
set logscale y
set key top left
set grid ytics
up(c)   = strcol(2) eq "up"   ? column(c) : NaN
down(c) = strcol(2) eq "down" ? column(c) : NaN
plot datafile using 1:(up(3))   with linespoints lw 2 pt 7 title "direct, stack -> kernel", \
     datafile using 1:(up(4))   with linespoints lw 2 pt 6 dt 2 title "kernel, up", \
     datafile using 1:(down(3)) with linespoints lw 2 pt 5 title "direct, kernel -> stack", \
     datafile using 1:(down(4)) with linespoints lw 2 pt 4 dt 2 title "kernel, down"
