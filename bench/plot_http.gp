# Bar chart of req/s per server per concurrency, for bench/http.sh.
# Usage: gnuplot -c bench/plot_http.gp DATA.tsv OUT.png "subtitle"
# DATA.tsv: a "#" comment line, then "connections  inferd_rps  nginx_rps" per row.
set terminal pngcairo size 800,480 font "sans,11"
set output ARG2
set title "HTTP core: GET /v2/health/live (wrk, keep-alive)\n{/*0.8 ".ARG3."}"
set ylabel "requests / second"
set xlabel "concurrent connections"
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0  # headroom for the value labels
set format y "%.0s%c"
set grid ytics
set key top left
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
plot ARG1 using 2:xtic(1) title "inferd" lc rgb "#1f77b4", \
     ''   using 3 title "nginx" lc rgb "#2ca02c", \
     ''   using ($0-1.0/6):2:(sprintf("%.0fk", $2/1000)) with labels offset 0,0.7 notitle, \
     ''   using ($0+1.0/6):3:(sprintf("%.0fk", $3/1000)) with labels offset 0,0.7 notitle
