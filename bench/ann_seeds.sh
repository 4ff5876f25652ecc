#!/usr/bin/env bash
# How much of an IVF recall gap between inferd and FAISS is the luck of k-means: both libraries
# trained with several seeds on the same data, recall@10 per nprobe for each, then the mean and
# the spread (max - min) per library. A gap smaller than the spread is chance, not the index.
#
# Usage: bash bench/ann_seeds.sh DIR [KIND] [NLIST] [SEEDS]
#   DIR     base.fvecs, query.fvecs and gt.ivecs (bench/ann_peers.py gen DIR N DIM NQ SEED)
#   KIND    ivf, ivfsq or ivfpq (default ivfpq; PQ codes are DIM / 8 of 8 bits, as bench/ann.sh)
#   NLIST   lists (default 1024)
#   SEEDS   inferd's --seed and FAISS's k-means seed for each run (default "1 2 3"); inferd's
#           default seed (0) and FAISS's (1234) are always run too
#   INFERD=./build/inferd  PYTHON=/usr/bin/python3  PROBES=1,4,16,64
# Prints one line per run, then the table (markdown). One thread for everything; takes a few
# minutes per run at 3M x 256.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:?usage: bash bench/ann_seeds.sh DIR [KIND] [NLIST] [SEEDS]}
KIND=${2:-ivfpq}
NLIST=${3:-1024}
SEEDS=${4:-1 2 3}
INFERD=${INFERD:-./build/inferd}
PYTHON=${PYTHON:-/usr/bin/python3}
PROBES=${PROBES:-1,4,16,64}

die() { echo "bench/ann_seeds.sh: $*" >&2; exit 1; }
[ -x "$INFERD" ] || die "$INFERD not found; run: make build"
[ -f "$DIR/base.fvecs" ] || die "$DIR/base.fvecs not found; run bench/ann_peers.py gen first"
dim=$($PYTHON -c "import struct,sys; print(struct.unpack('<i', open(sys.argv[1],'rb').read(4))[0])" "$DIR/base.fvecs")
pq=()
[ "$KIND" != ivfpq ] || pq=(--pq-m $((dim / 8)) --pq-bits 8)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
res=$work/res.txt

for seed in 0 $SEEDS; do
    "$INFERD" index build --type "$KIND" --metric l2 --input "$DIR/base.fvecs" --out "$work/x.idx" \
        --threads 1 --nlist "$NLIST" "${pq[@]}" --seed "$seed" >/dev/null 2>&1
    for p in ${PROBES//,/ }; do
        "$INFERD" index search "$work/x.idx" --queries "$DIR/query.fvecs" --k 10 --nprobe "$p" \
            --threads 1 --out "$work/r.ivecs" >/dev/null
        echo "inferd $seed $p $($PYTHON bench/ann_peers.py recall "$work/r.ivecs" "$DIR/gt.ivecs" 10)" | tee -a "$res"
    done
    rm -f "$work/x.idx"
done
for seed in 1234 $SEEDS; do
    seedarg=(seed="$seed")
    [ "$seed" != 1234 ] || seedarg=() # FAISS as it comes: its default seeds
    $PYTHON bench/ann_peers.py run faiss "$KIND" "$DIR" nlist="$NLIST" pq_m=$((dim / 8)) \
        sweep="$PROBES" "${seedarg[@]}" 2>/dev/null |
        $PYTHON -c "import json,sys
for l in sys.stdin:
    r = json.loads(l); print('faiss $seed %d %.4f' % (r['param'], r['recall']))" | tee -a "$res"
done

$PYTHON - "$res" <<'EOF'
import sys
from collections import defaultdict
by = defaultdict(list)
for l in open(sys.argv[1]):
    lib, seed, p, rec = l.split()
    by[(lib, int(p))].append(float(rec))
print("| nprobe | inferd mean | inferd spread | FAISS mean | FAISS spread | mean gap |")
print("|--:|--:|--:|--:|--:|--:|")
for p in sorted({p for _, p in by}):
    a, b = by[("inferd", p)], by[("faiss", p)]
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    print("| %d | %.4f | %.4f | %.4f | %.4f | %+.4f |" % (p, ma, max(a) - min(a), mb, max(b) - min(b),
                                                       ma - mb))
EOF
