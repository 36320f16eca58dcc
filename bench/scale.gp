# bench/scale.gp: the plot of bench/scale.sh (docs/img/scale.svg).
#   gnuplot -e "datafile='.../scale.data'; outfile='.../scale.svg'" bench/scale.gp
# scale.data: one line per connection count, tab-separated, '#' header; see
# the header line for the columns ('-': not measured). instr=0 says the
# instruction counts are missing altogether (no valgrind).
if (!exists("datafile")) datafile = 'bench/results/scale.data'
if (!exists("outfile")) outfile = 'docs/img/scale.svg'
if (!exists("instr")) instr = 1

set terminal svg size 1260,540 dynamic enhanced font "sans,12"
set output outfile
set datafile separator "\t"
set datafile missing "-"
set datafile commentschars "#"

set logscale x 10
set autoscale xfix
set offsets graph 0.12, graph 0.12, 0, 0
set format x "%.0s%c"
set xlabel "idle connections, keepalive on at both ends"
set grid ytics lc rgb "#dddddd"
set key below vertical maxrows 2 samplen 2
set pointsize 1.2

set multiplot layout 1,3 title "keepwire direct stack: many idle connections with keepalive on (median of runs; bars: min-max)"

# 1. time per timer event
set title "CPU time per keepalive probe"
set ylabel "ns"
set yrange [0:*]
plot datafile using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb "#1f77b4" \
	title "whole stack: probe + answer", \
     datafile using 1:11:12:13 with yerrorlines lw 2 pt 5 lc rgb "#ff7f0e" \
	title "bare timer heap: one event"

# 2. work per timer event, exact
set title "user-space instructions per probe (valgrind)"
set ylabel "instructions"
if (instr) {
	set yrange [0:*]
	plot datafile using 1:14 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "all", \
	     datafile using 1:15 with linespoints lw 2 pt 5 lc rgb "#ff7f0e" title "timer heap", \
	     datafile using 1:16 with linespoints lw 2 pt 9 lc rgb "#2ca02c" title "tcp\\_lookup", \
	     datafile using 1:17 with linespoints lw 2 pt 11 lc rgb "#9467bd" title "ARP scans"
} else {
	set yrange [0:1]
	set label 1 "not counted (no valgrind)" at graph 0.5, graph 0.5 center
	plot datafile using 1:(NaN) notitle
	unset label 1
}

# 3. memory
set key below vertical maxrows 4
set title "memory per connection end"
set ylabel "bytes"
set logscale y 10
set yrange [100:2000000]
set format y "10^{%L}"
plot datafile using 1:9 with linespoints lw 2 pt 7 lc rgb "#d62728" title "malloc'd (mallinfo2)", \
     datafile using 1:8 with linespoints lw 2 pt 6 dt 2 lc rgb "#8c564b" title "address space", \
     datafile using 1:7 with linespoints lw 2 pt 5 lc rgb "#1f77b4" title "resident", \
     datafile using 1:10 with linespoints lw 2 pt 4 dt 3 lc rgb "#7f7f7f" title "kernel page tables"

unset multiplot
