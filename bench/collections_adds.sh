#!/usr/bin/env bash
# Search latency of a collection while points are added to it: this checkout's inferd against
# the same server at BASE (default 1c90f03, the last commit whose collections locked a
# collection for each whole batch added), in one run on this machine. Both serve with
# --store none, so the figures are the index's, not the database's.
#
#   bash bench/collections_adds.sh        (BASE=1c90f03 RATE=100 BATCHES=6 KINDS="hnsw flat")
#
# bench/collections_adds.py does the measuring: searches at RATE/s, open loop, first alone, then
# while BATCHES upserts of 10,000 points (dim 128) run back to back. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-1c90f03}
RATE=${RATE:-100}
BATCHES=${BATCHES:-6}
KINDS=${KINDS:-"hnsw flat"}
PY=/usr/bin/python3

make build >/dev/null
base_dir=/tmp/inferd-base-$BASE
if [ ! -x "$base_dir/build/inferd" ]; then
    rm -rf "$base_dir"
    git worktree prune
    git worktree add --detach "$base_dir" "$BASE" >/dev/null
    cmake -S "$base_dir" -B "$base_dir/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$base_dir/build" -j "$(nproc)" --target inferd >/dev/null
fi

row() { # LABEL JSON
    $PY -c 'import json, sys
r = json.loads(sys.argv[2])
q, d = r["quiet"], r["during_adds"]
print("| %s | %s | %.2f / %.2f | %.2f / %.2f / %.0f | %d | %s |" % (
    r["kind"], sys.argv[1], q["p50"], q["p99"], d["p50"], d["p99"], d["max"], d["n"],
    format(r["points_per_s"], ",")))' "$1" "$2"
}

echo "| index | server | alone p50 / p99 ms | during adds p50 / p99 / max ms | searches during adds | points indexed/s |"
echo "|---|---|--:|--:|--:|--:|"
for kind in $KINDS; do
    for who in new base; do
        bin=./build/inferd
        [ "$who" = base ] && bin=$base_dir/build/inferd
        r=$($PY bench/collections_adds.py "$bin" --kind "$kind" --rate "$RATE" --batches "$BATCHES")
        row "$([ "$who" = base ] && echo "$BASE (locks the batch)" || echo "this checkout")" "$r"
    done
done
