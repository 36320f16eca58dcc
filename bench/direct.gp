# bench/direct.gp: the plots of bench/direct.sh (make bench-direct).
#   gnuplot -e "resultdir='DIR'; imgdir='DIR'" bench/direct.gp
# reads DIR/direct-throughput.dat (name, median, quartiles, extremes of the
# Gbit/s over rounds) and DIR/direct-latency.dat (name, then p50, p90, p99,
# each the median over rounds with its quartiles, in microseconds), and
# draws imgdir/throughput.svg and imgdir/latency.svg.
if (!exists("resultdir")) resultdir = "bench/results"
if (!exists("imgdir")) imgdir = "docs/img"

set terminal svg size 760,440 dynamic enhanced font "sans,12" background rgb "white"
set border 3
set xtics nomirror scale 0
set ytics nomirror
set grid ytics lc rgb "#dddddd"
set style fill solid 0.75 border rgb "#333333"

# ---- throughput ---------------------------------------------------------------
set output imgdir."/throughput.svg"
set title "Bulk TCP, one connection, MTU 1500: median over rounds, bars from quartile to quartile"
set ylabel "Gbit/s (TCP payload; raw TAP: whole frames)"
set yrange [0:*]
set boxwidth 0.6
unset key
plot resultdir."/direct-throughput.dat" using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
     '' using 0:2:3:4 with yerrorbars lc rgb "#222222" pt -1 lw 1.5, \
     '' using 0:4:(sprintf("%.2f", $2)) with labels offset 0,0.8

# ---- latency ------------------------------------------------------------------
set output imgdir."/latency.svg"
set title "Request/response, 1 byte each way: round-trip time, median over rounds, bars from quartile to quartile"
set ylabel "microseconds"
set yrange [0:*]
set key top left
set style data histogram
set style histogram errorbars gap 1.5 lw 1.2
set boxwidth 0.9
plot resultdir."/direct-latency.dat" using 2:3:4:xtic(1) title "p50" lc rgb "#4477aa", \
     '' using 5:6:7 title "p90" lc rgb "#66ccee", \
     '' using 8:9:10 title "p99" lc rgb "#ee6677"
