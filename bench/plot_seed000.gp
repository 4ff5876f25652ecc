# Bar chart of req/s per configuration (ab and wrk side by side, log scale), for bench/seed000.sh.
# Usage: gnuplot -c bench/plot_seed000.gp DATA.dat OUT.png "subtitle" CONNECTIONS
# DATA.dat: a "#" comment line, then '"label" ab_rps wrk_rps' per row ("?" = missing).
set terminal pngcairo size 1200,600 font "sans,11"
set output ARG2
set title "Seed 000: POST /inferences, one stored record per request (ab and wrk, ".ARG4." connections)\n{/*0.8 ".ARG3."}"
set ylabel "requests / second (log scale)"
set logscale y 10
set format y "%.0s%c"
set datafile missing "?"
set grid ytics mytics
set key top right noenhanced
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -30 scale 0 noenhanced
set bmargin 12
set rmargin 16
stats ARG1 using 3 nooutput
hi = STATS_max
lo = STATS_min
stats ARG1 using 2 nooutput
hi = STATS_max > hi ? STATS_max : hi
lo = STATS_min < lo ? STATS_min : lo
set yrange [10 ** floor(log10(lo / 2)) : hi * 3]
fmt(v) = v >= 10000 ? sprintf("%.0fk", v / 1000) : sprintf("%.0f", v)
plot ARG1 using 2:xtic(1) title "ab (a new connection per request)" lc rgb "#ff7f0e", \
     ''   using 3 title "wrk (keep-alive)" lc rgb "#1f77b4", \
     ''   using ($0-1.0/6):2:(fmt($2)) with labels offset 0,0.7 font ",9" notitle, \
     ''   using ($0+1.0/6):3:(fmt($3)) with labels offset 0,0.7 font ",9" notitle
