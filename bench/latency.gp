# Latency against load for both servers, from the max scenario's steps
# (bench/summarize.js writes the data: block 0 presenced, block 1 node-ws).
#   gnuplot -e "datafile='bench/results/latency.dat'; outfile='bench/results/latency.png'" bench/latency.gp
set terminal png size 960,600 font "DejaVuSans,11" background rgb "white"
set output outfile
set title "Fan-out latency against load: one room of 1,000 members, 2-core machine"
set xlabel "deliveries per second (millions)"
set ylabel "latency from send to receive (ms)"
set logscale y
set grid
set key top right box opaque
set arrow from graph 0, first 50 to graph 1, first 50 nohead dashtype 2 lc rgb "gray"
set label "50 ms bound" at graph 0.4, first 62 tc rgb "gray"
plot datafile index 0 using ($1/1e6):3 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "presenced p99", \
     datafile index 0 using ($1/1e6):2 with linespoints lw 1 pt 6 dt 2 lc rgb "#1f77b4" title "presenced p50", \
     datafile index 1 using ($1/1e6):3 with linespoints lw 2 pt 5 lc rgb "#d62728" title "node-ws p99", \
     datafile index 1 using ($1/1e6):2 with linespoints lw 1 pt 4 dt 2 lc rgb "#d62728" title "node-ws p50"
