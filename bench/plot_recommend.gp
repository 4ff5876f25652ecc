# Latency against offered rate for POST /recommend, inferd and the seed-style peer, for
# bench/recommend.sh. Usage: gnuplot -c bench/plot_recommend.gp DATA.tsv OUT.png "subtitle"
# DATA.tsv: "offered  inferd_achieved inferd_p50 inferd_p99  peer_achieved peer_p50 peer_p99".
set terminal pngcairo size 800,480 font "sans,11"
set output ARG2
set title "POST /recommend at fixed offered rates (70% known users, 30% histories)\n{/*0.8 ".ARG3."}"
set xlabel "offered requests / second"
set ylabel "latency, ms (log scale)"
set logscale y
set grid
set key top left
plot ARG1 using 1:4 with linespoints lw 2 lc rgb "#1f77b4" title "inferd p99", \
     ''   using 1:3 with linespoints dt 2 lc rgb "#1f77b4" title "inferd p50", \
     ''   using 1:7 with linespoints lw 2 lc rgb "#d62728" title "PyTorch + FAISS + FastAPI p99", \
     ''   using 1:6 with linespoints dt 2 lc rgb "#d62728" title "PyTorch + FAISS + FastAPI p50"
