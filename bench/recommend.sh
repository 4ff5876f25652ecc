#!/usr/bin/env bash
# Seed 001's serving benchmark: POST /recommend under its mixed workload, inferd against the
# seed's stack rebuilt on the same trained models (bench/recommend_peer.py: PyTorch + FAISS
# behind FastAPI/uvicorn, 2 workers), in one run on this machine; plus the per-stage table and
# the leave-last-out quality table the training script measured.
#
#   bash bench/recommend.sh            (OUT=/tmp/inferd-bench-recommender DURATION=20 C=32)
#
# The mix: 70% known users by id (their vectors come from the cache after the first request:
# the seed's "cache hits") and 30% requests that bring a history instead of an id (a random
# user's ratings cut at a random point: the tower runs for every one, the seed's "cold path").
# Closed loop: wrk -t2 -cC; fixed rates: the same script with each connection paced by wrk's
# delay() (RATES). Prints markdown tables; docs/benchmarks.md keeps them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/inferd-bench-recommender}
DURATION=${DURATION:-20}
C=${C:-32}
RATES=${RATES:-"250 500 1000 2000 4000"}
PY=/usr/bin/python3
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

make build >/dev/null
[ -f "$OUT/movielens/tower.pt" ] || EPOCHS=${EPOCHS:-100} bash scripts/train_recommender.sh "$OUT"
M="$OUT/movielens"

T="$PY bench/recommend_tools.py"
mix_lua() { $T lua "$M" "$1" >"$tmp/mix.lua"; } # PACE_MS

wait_ready() { # URL
    for _ in $(seq 600); do curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d '{"user_id":1}' "$1" && return 0; sleep 0.1; done
    echo "bench/recommend.sh: $1 did not answer" >&2; return 1
}

# wrk's summary as "req/s|p50 ms|p99 ms|non-2xx".
run_wrk() { # URL CONNS DURATION
    wrk -t2 -c"$2" -d"$3" --latency -s "$tmp/mix.lua" "$1" >"$tmp/wrk.out" 2>&1
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
        /Non-2xx/ { bad = $NF }
        END { printf "%.0f|%.2f|%.2f|%d\n", rps, p50, p99, bad + 0 }' "$tmp/wrk.out"
}

port=$(free_port)
./build/inferd serve --models "$OUT" --listen "127.0.0.1:$port" --store none --access-log false \
    >"$tmp/inferd.log" 2>&1 &
pids+=($!)
ipid=$!
pport=$(free_port)
REC_DIR="$M" $PY -m uvicorn --app-dir bench recommend_peer:app --workers 2 --port "$pport" \
    --log-level warning --no-access-log >"$tmp/peer.log" 2>&1 &
pids+=($!)
IURL="http://127.0.0.1:$port/recommend"
PURL="http://127.0.0.1:$pport/recommend"
wait_ready "$IURL"
wait_ready "$PURL"

# Both servers must give the same answers (same models): compare a sample of the mix.
$T compare "$M" "$IURL" "$PURL"
$T warm "$M" "$IURL"
$T warm "$M" "$PURL"

mix_lua 0
echo "## closed loop: wrk -t2 -c$C -d${DURATION}s, mixed 70% known users / 30% histories"
echo
echo "| server | req/s | p50 ms | p99 ms | non-2xx | req/s vs peer |"
echo "|---|--:|--:|--:|--:|--:|"
for round in 1 2; do
    i=$(run_wrk "$IURL" "$C" "${DURATION}s")
    p=$(run_wrk "$PURL" "$C" "${DURATION}s")
    ir=${i%%|*}
    pr=${p%%|*}
    echo "| inferd (round $round) | ${i//|/ | } | $(awk -v a="$ir" -v b="$pr" 'BEGIN { printf "%.1fx", a / b }') |"
    echo "| peer: PyTorch + FAISS + FastAPI (round $round) | ${p//|/ | } | 1.0x |"
done
echo
echo "## fixed offered rates (each of $C connections paced by wrk's delay(), ${DURATION}s per rate)"
echo
echo "| offered req/s | inferd achieved | p50 ms | p99 ms | peer achieved | p50 ms | p99 ms |"
echo "|--:|--:|--:|--:|--:|--:|--:|"
: >"$tmp/rates.tsv"
for rate in $RATES; do
    mix_lua "$(awk -v c="$C" -v r="$rate" 'BEGIN { printf "%.3f", 1000 * c / r }')"
    i=$(run_wrk "$IURL" "$C" "${DURATION}s")
    p=$(run_wrk "$PURL" "$C" "${DURATION}s")
    echo "| $rate | $(cut -d'|' -f1-3 <<<"$i" | sed 's/|/ | /g') | $(cut -d'|' -f1-3 <<<"$p" | sed 's/|/ | /g') |"
    echo "$rate $(cut -d'|' -f1-3 <<<"$i" | tr '|' ' ') $(cut -d'|' -f1-3 <<<"$p" | tr '|' ' ')" >>"$tmp/rates.tsv"
done
gnuplot -c bench/plot_recommend.gp "$tmp/rates.tsv" docs/img/recommend_rates.png \
    "$(date -u +%F), $(nproc) cores shared by wrk and the server, wrk -t2 -c$C paced" 2>/dev/null ||
    echo "bench/recommend.sh: gnuplot failed" >&2

# Per stage, as the seed's table: the server's own timings for 3,000 requests of the mix sent
# one at a time (no queueing), split by path.
echo
echo "## per stage (inferd's timings_ms, 3,000 requests of the mix one at a time)"
echo
$T stages "$M" "$IURL"
echo
echo "## quality (leave-last-out on ml-latest-small: split.json)"
echo
$T quality "$M"
kill "$ipid" && wait "$ipid" 2>/dev/null || true
