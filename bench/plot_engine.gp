# Bar chart of ORT / inferd median latency per model, one bar per batch size, for bench/engine.sh.
# Usage: gnuplot -c bench/plot_engine.gp DATA.dat OUT.png "subtitle"
# DATA.dat: a "# model b1 b32 ..." header line, then "model ratio ratio ..." per row ("?" = missing).
# Bars grow from 1 (parity) up or down on a log scale, so 2x faster and 2x slower look alike.
set terminal pngcairo size 1000,520 font "sans,11"
set output ARG2
set title "Engine: ONNX Runtime median latency / inferd median latency (above 1: inferd faster)\n{/*0.8 ".ARG3."}"
set ylabel "ORT / inferd (log scale)"
set logscale y 2
set format y "%g"
set datafile missing "?"
set grid ytics
set key outside top center horizontal noenhanced
set style fill solid 0.85 border -1
set xtics rotate by -25 scale 0 noenhanced
set bmargin 6
header = system("head -n1 '".ARG1."'")
nb = words(header) - 2
lo = 1
hi = 1
do for [k=2:nb+1] {
    stats ARG1 using k nooutput
    lo = STATS_min < lo ? STATS_min : lo
    hi = STATS_max > hi ? STATS_max : hi
}
# y range: every bar, parity (1) and room for the value labels at both ends.
set yrange [lo / 1.6 : hi * 1.6]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#444444" lw 1.5 dt 2 front
colors = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd"
w = 0.8 / nb
x(k) = $0 + (k - (nb + 1) / 2.0) * w
set xrange [-0.6:*]
set offsets 0, 0.6, 0, 0
plot ARG1 using 0:(NaN):xtic(1) notitle, \
     for [k=1:nb] ARG1 using (x(k)):(column(k+1)):(x(k) - w / 2):(x(k) + w / 2):(1):(column(k+1)) \
         with boxxyerror title sprintf("batch %s", substr(word(header, k+2), 2, 99)) lc rgb word(colors, k), \
     for [k=1:nb] ARG1 using (x(k)):(column(k+1) >= 1 ? column(k+1) * 1.12 : column(k+1) / 1.12): \
         (sprintf(column(k+1) < 10 ? "%.2f" : "%.0f", column(k+1))) with labels font ",8" notitle
