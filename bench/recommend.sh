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
RATES=${RATES:-"500 1000 1500"}
PY=/usr/bin/python3
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

make build >/dev/null
[ -f "$OUT/movielens/tower.pt" ] || EPOCHS=${EPOCHS:-100} bash scripts/train_recommender.sh "$OUT"
M="$OUT/movielens"

# The request mix as a wrk script (bodies fixed by a seed, so both servers get the same ones).
mix_lua() { # PACE_MS
    $PY - "$M" "$1" >"$tmp/mix.lua" <<'EOF'
import json, random, sys
d, pace = sys.argv[1], float(sys.argv[2])
users = {}
with open(d + "/users.tsv") as f:
    next(f)
    for line in f:
        u, h = line.rstrip("\n").split("\t")
        users[int(u)] = [int(x) for x in h.split(",")]
rnd = random.Random(1)
ids = sorted(users)
bodies = []
for i in range(4000):
    if rnd.random() < 0.3:
        h = users[rnd.choice(ids)]
        bodies.append({"history": h[: rnd.randint(1, len(h))], "k": 10})
    else:
        bodies.append({"user_id": rnd.choice(ids), "k": 10})
print('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"')
print("local bodies = {" + ",".join("[[%s]]" % json.dumps(b, separators=(",", ":")) for b in bodies) + "}")
print("local i = 0\ninit = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6)); i = math.random(#bodies) end")
print('request = function() i = i % #bodies + 1; return wrk.format(nil, "/recommend", nil, bodies[i]) end')
if pace > 0:
    print("delay = function() return %g end" % pace)
EOF
}

wait_ready() { # URL
    for _ in $(seq 600); do curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d '{"user_id":1}' "$1" && return 0; sleep 0.1; done
    echo "bench/recommend.sh: $1 did not answer" >&2; return 1
}

warm() { # URL: every known user once, so their vectors are cached (both servers)
    $PY - "$M" "$1" <<'EOF'
import json, sys, urllib.request
d, url = sys.argv[1], sys.argv[2]
with open(d + "/users.tsv") as f:
    next(f)
    for line in f:
        u = int(line.split("\t")[0])
        req = urllib.request.Request(url, json.dumps({"user_id": u}).encode(), {"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
EOF
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
$PY - "$M" "$IURL" "$PURL" <<'EOF'
import json, sys, urllib.request
d, a, b = sys.argv[1:]
def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())
same = total = 0
for u in list(range(1, 41)):
    for body in ({"user_id": u, "k": 10}, {"history": [1, 2, 3, 50 + u], "k": 10}):
        x = [i["item_id"] for i in post(a, body)["items"]]
        y = [i["item_id"] for i in post(b, body)["items"]]
        same += len(set(x) & set(y)); total += 10
print("answers: inferd and the peer share %d of %d recommended items (same models; near-ties may differ)" % (same, total), file=sys.stderr)
EOF
warm "$IURL"
warm "$PURL"

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
echo "## fixed offered rates (each of $C connections paced by wrk's delay()), inferd"
echo
echo "| offered req/s | achieved req/s | p50 ms | p99 ms | non-2xx |"
echo "|--:|--:|--:|--:|--:|"
for rate in $RATES; do
    mix_lua "$(awk -v c="$C" -v r="$rate" 'BEGIN { printf "%.3f", 1000 * c / r }')"
    i=$(run_wrk "$IURL" "$C" "${DURATION}s")
    echo "| $rate | ${i//|/ | } |"
done

# Per stage, as the seed's table: the server's own timings for 3,000 requests of the mix sent
# one at a time (no queueing), split by path.
echo
echo "## per stage (inferd's timings_ms, 3,000 requests of the mix one at a time)"
echo
$PY - "$M" "$IURL" <<'EOF'
import json, random, sys, time, urllib.request
import numpy as np
d, url = sys.argv[1:]
users = {}
with open(d + "/users.tsv") as f:
    next(f)
    for line in f:
        u, h = line.rstrip("\n").split("\t")
        users[int(u)] = [int(x) for x in h.split(",")]
rnd = random.Random(2)
ids = sorted(users)
rows = {"cached": [], "computed": []}
total = {"cached": [], "computed": []}
for _ in range(3000):
    if rnd.random() < 0.3:
        h = users[rnd.choice(ids)]
        body, path = {"history": h[: rnd.randint(1, len(h))], "k": 10, "timings": True}, "computed"
    else:
        body, path = {"user_id": rnd.choice(ids), "k": 10, "timings": True}, "cached"
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    t = time.perf_counter()
    out = json.loads(urllib.request.urlopen(req).read())
    total[path].append((time.perf_counter() - t) * 1000)
    rows[path].append([out["timings_ms"][s] for s in ("embed", "retrieve", "rank")])
print("| path (share) | stage | p50 ms | p95 ms |")
print("|---|---|--:|--:|")
for path, share in (("computed", "30%: history, tower runs"), ("cached", "70%: known user, cache hit")):
    a = np.array(rows[path])
    for j, s in enumerate(("embed", "retrieve", "rank")):
        print("| %s | %s | %.3f | %.3f |" % (path + " (" + share + ")", s, np.percentile(a[:, j], 50), np.percentile(a[:, j], 95)))
    s = a.sum(1)
    print("| %s | compute total | %.3f | %.3f |" % (path, np.percentile(s, 50), np.percentile(s, 95)))
    print("| %s | client round trip (Python urllib) | %.3f | %.3f |" % (path, np.percentile(total[path], 50), np.percentile(total[path], 95)))
EOF

# Quality: what the training script measured (leave-last-out, every user).
echo
echo "## quality (leave-last-out on ml-latest-small, $(basename "$M")/split.json)"
echo
$PY - "$M/split.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("| model | HR@10 | NDCG@10 |\n|---|--:|--:|")
names = {"popularity": "popularity (most rated)", "matrix_factorisation": "matrix factorisation (64-d, softmax)",
         "tower_only": "user tower + flat retrieval (no ranker)", "tower_and_ranker": "served pipeline: tower + 100 candidates + ranker"}
for k, v in s["results"].items():
    print("| %s | %.4f | %.4f |" % (names.get(k, k), v["hr10"], v["ndcg10"]))
print("\n%d users, %d items, tower epochs %d, seed %d" % (s["users"], s["items"], s["epochs"], s["seed"]))
EOF
kill "$ipid" && wait "$ipid" 2>/dev/null || true
