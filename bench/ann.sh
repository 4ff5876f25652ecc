#!/usr/bin/env bash
# Vector index benchmark (issue 11): inferd's indexes beside FAISS (Debian python3-faiss), hnswlib
# (python3-hnswlib) and USearch (npm usearch, prebuilt SIMD) on identical data and parameters, one
# thread each: build time, index size, recall@10 against the exact answer, queries/s and p50/p99
# latency for a sweep of ef (HNSW) or nprobe (IVF). Replaces the "## Vector indexes (issue 11)"
# section of docs/benchmarks.md and draws docs/img/ann_<N>.png (recall against queries/s).
#
# Usage: bash bench/ann.sh
#   SIZES="27000"        base vectors per data set (the seed's MovieLens scale; add 1000000 and
#                        3000000 for its scale-up: each takes minutes per library)
#   DIM=256 NQ=1000      dimension and queries
#   KINDS="flat ivf ivfsq ivfpq hnsw"
#   NLIST_MAX=1024       IVF lists at most (4 sqrt(N) would be 4,096 at 1M: k-means alone then
#                        takes most of an hour per library on one thread)
#   SKIP="faiss:hnsw"    library:kind pairs not to run (at 3M, FAISS's single-thread HNSW build
#                        alone would take hours)
#   RESULTS=FILE         also append every result (JSON lines) to FILE, which outlives the run
#   INFERD=./build/inferd  DOC=docs/benchmarks.md  PYTHON=/usr/bin/python3  NODE=node
#
# Data: clustered (a 32-dimensional latent space mapped into DIM, plus noise; seeded), the
# ground truth from FAISS's exact IndexFlatL2. Parameters, the same for every library: HNSW M 16,
# ef_construction 100; IVF nlist 4 sqrt(N) rounded up to a power of two (at most NLIST_MAX);
# IVF-PQ m = DIM / 8 codes of 8 bits. Metric L2.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZES=${SIZES:-27000}
DIM=${DIM:-256}
NQ=${NQ:-1000}
KINDS=${KINDS:-flat ivf ivfsq ivfpq hnsw}
SKIP=${SKIP:-}
RESULTS=${RESULTS:-}
NLIST_MAX=${NLIST_MAX:-1024}
INFERD=${INFERD:-./build/inferd}
DOC=${DOC:-docs/benchmarks.md}
PYTHON=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-node}
SECTION="## Vector indexes (issue 11)"
EFS=16,32,64,128,256
PROBES=1,4,16,64

die() { echo "bench/ann.sh: $*" >&2; exit 1; }
[ -x "$INFERD" ] || die "$INFERD not found; run: make build"
command -v gnuplot >/dev/null || die "gnuplot not found; run: bash scripts/deps.sh"
$PYTHON -c "import faiss, hnswlib" 2>/dev/null || die "python3-faiss and python3-hnswlib are needed; run: bash scripts/deps.sh"
if [ ! -f tools/ann/node_modules/usearch/package.json ]; then
    (cd tools/ann && npm ci --no-audit --no-fund >/dev/null) || die "cannot install usearch (npm)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results.jsonl
: >"$results"

runs() { [[ " $SKIP " != *"$1"* ]]; } # " lib:kind ": whether SKIP leaves it in

nlist_for() { # 4 sqrt(N) rounded up to a power of two, at most NLIST_MAX
    local l=1
    while [ $((l * l)) -lt $((16 * $1)) ] && [ $l -lt "$NLIST_MAX" ]; do l=$((l * 2)); done
    echo $l
}

inferd_kind() { # N KIND DIR NLIST: build, then one search per sweep value; JSON lines
    local n=$1 kind=$2 dir=$3 nlist=$4 args=() sweep flag out
    case $kind in
        hnsw) args=(--m 16 --ef-construction 100); sweep=$EFS; flag=--ef ;;
        ivf | ivfsq) args=(--nlist "$nlist"); sweep=$PROBES; flag=--nprobe ;;
        ivfpq) args=(--nlist "$nlist" --pq-m $((DIM / 8)) --pq-bits 8); sweep=$PROBES; flag=--nprobe ;;
        *) sweep=0; flag= ;;
    esac
    out=$(/usr/bin/time -f %M -o "$dir/rss" "$INFERD" index build --type "$kind" --metric l2 \
        --input "$dir/base.fvecs" --out "$dir/inferd.idx" --threads 1 "${args[@]}" 2>/dev/null)
    local rss_build rss_search
    rss_build=$(($(tail -n1 "$dir/rss") / 1024))
    local build bytes
    build=$(sed -n 's/.*build \([0-9.]*\) s.*/\1/p' <<<"$out")
    bytes=$(stat -c %s "$dir/inferd.idx")
    for v in ${sweep//,/ }; do
        local s rec
        if [ -n "$flag" ]; then
            s=$(/usr/bin/time -f %M -o "$dir/rss" "$INFERD" index search "$dir/inferd.idx" --queries "$dir/query.fvecs" --k 10 \
                "$flag" "$v" --threads 1 --out "$dir/r.ivecs")
        else
            s=$(/usr/bin/time -f %M -o "$dir/rss" "$INFERD" index search "$dir/inferd.idx" --queries "$dir/query.fvecs" --k 10 \
                --threads 1 --out "$dir/r.ivecs")
        fi
        rec=$($PYTHON bench/ann_peers.py recall "$dir/r.ivecs" "$dir/gt.ivecs" 10)
        rss_search=$(($(tail -n1 "$dir/rss") / 1024))
        sed -n "s/.* \([0-9.]*\) queries\/s, latency p50 \([0-9.]*\) us, p99 \([0-9.]*\) us/{\"lib\": \"inferd\", \"kind\": \"$kind\", \"param\": $v, \"build_s\": $build, \"bytes\": $bytes, \"rss_build_mb\": $rss_build, \"rss_search_mb\": $rss_search, \"recall\": $rec, \"qps\": \1, \"p50_us\": \2, \"p99_us\": \3}/p" <<<"$s"
    done
    rm -f "$dir/inferd.idx" "$dir/r.ivecs"
}

for n in $SIZES; do
    dir=$work/n$n
    echo "ann: $n x $DIM: data and ground truth" >&2
    $PYTHON bench/ann_peers.py gen "$dir" "$n" "$DIM" "$NQ" 11
    nlist=$(nlist_for "$n")
    for kind in $KINDS; do
        echo "ann: $n: $kind" >&2
        case $kind in
            hnsw) pp=(m=16 efc=100 sweep=$EFS) ;;
            ivfpq) pp=(nlist=$nlist pq_m=$((DIM / 8)) sweep=$PROBES) ;;
            ivf | ivfsq) pp=(nlist=$nlist sweep=$PROBES) ;;
            *) pp=(sweep=0) ;;
        esac
        inferd_kind "$n" "$kind" "$dir" "$nlist" | sed "s/^{/{\"n\": $n, /" >>"$results"
        runs " faiss:$kind " && $PYTHON bench/ann_peers.py run faiss "$kind" "$dir" "${pp[@]}" 2>/dev/null | sed "s/^{/{\"n\": $n, /" >>"$results"
        if [ "$kind" = hnsw ]; then
            runs " hnswlib:hnsw " && $PYTHON bench/ann_peers.py run hnswlib hnsw "$dir" "${pp[@]}" | sed "s/^{/{\"n\": $n, /" >>"$results"
            runs " usearch:hnsw " && $NODE bench/ann_usearch.mjs "$dir" 16 100 "$EFS" | sed "s/^{/{\"n\": $n, /" >>"$results"
        fi
        [ -z "$RESULTS" ] || cp "$results" "$RESULTS"
    done
    rm -rf "$dir"
done

# Tables (markdown) and the plot data, from the JSON lines.
section=$work/section.md
$PYTHON - "$results" "$section" "$work" "$DIM" "$NQ" "$(date -u +%F)" <<'EOF'
import json, sys
from collections import defaultdict
res, out, work, dim, nq, day = sys.argv[1:]
rows = [json.loads(l) for l in open(res) if l.strip()]
by = defaultdict(list)
for r in rows:
    by[(r["n"], r["kind"])].append(r)
names = {"flat": "Flat", "ivf": "IVF-Flat", "ivfsq": "IVF-SQ8", "ivfpq": "IVF-PQ", "hnsw": "HNSW"}
at = {"hnsw": 64, "ivf": 16, "ivfsq": 16, "ivfpq": 16, "flat": 0}
L = ["## Vector indexes (issue 11)", "",
     "`bash bench/ann.sh` (%s; %s queries of dimension %s, k 10, metric L2; one thread for every "
     "build and every search; clustered data, ground truth from FAISS's exact IndexFlatL2). "
     "Queries/s: one batch call over every query; p50/p99: one call per query (FAISS and hnswlib "
     "through Python, USearch through Node: their per-call costs, a few microseconds, are in "
     "those two columns, not in queries/s). Sizes: the saved index file. The table shows each kind "
     "at one setting (ef 64, nprobe 16); the plots show every setting. Parameters, the same for "
     "every library: HNSW M 16, ef_construction 100; IVF nlist 4 sqrt(N) rounded up to a power "
     "of two, at most 1,024; IVF-PQ %d codes of 8 bits; IVF-SQ8 FAISS's QT_8bit on residuals."
     % (day, nq, dim, int(dim) // 8), ""]
for n in sorted({r["n"] for r in rows}):
    L += ["### %d x %s" % (n, dim), "",
          "| kind | library | setting | build s | size MB | peak RSS MB build / search | recall@10 | queries/s | / best peer | p50 us | p99 us |",
          "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for kind in ["flat", "ivf", "ivfsq", "ivfpq", "hnsw"]:
        rs = [r for r in by[(n, kind)] if r["param"] == at[kind]]
        if not rs:
            continue
        peers = [r for r in rs if r["lib"] != "inferd"]
        best = max((r["qps"] for r in peers), default=0)
        for r in sorted(rs, key=lambda r: r["lib"] != "inferd"):
            setting = ("ef %d" if kind == "hnsw" else "nprobe %d") % r["param"] if kind != "flat" else "-"
            rss = "%d / %d" % (r["rss_build_mb"], r["rss_search_mb"]) if "rss_build_mb" in r else ""
            L.append("| %s | %s | %s | %.2f | %.1f | %s | %.4f | %.0f | %s | %.1f | %.1f |" % (
                names[kind], r["lib"], setting, r["build_s"], r["bytes"] / 1e6, rss, r["recall"],
                r["qps"], "%.2f" % (r["qps"] / best) if best and r["lib"] == "inferd" else "",
                r["p50_us"], r["p99_us"]))
    L += ["", "![recall against queries/s, %d x %s](img/ann_%d.png)" % (n, dim, n), ""]
    for kind in ["ivf", "ivfsq", "ivfpq", "hnsw"]:
        for lib in ["inferd", "faiss", "hnswlib", "usearch"]:
            pts = sorted((r["param"], r["recall"], r["qps"]) for r in by[(n, kind)] if r["lib"] == lib)
            if pts:
                with open("%s/plot_%d_%s_%s.dat" % (work, n, kind, lib), "w") as f:
                    for p in pts:
                        f.write("%d %f %f\n" % p)
open(out, "w").write("\n".join(L) + "\n")
EOF
for n in $SIZES; do
    hplots="" iplots=""
    for f in "$work"/plot_"$n"_*.dat; do
        t=$(basename "$f" .dat)
        t=${t#plot_"$n"_}
        if [ "${t%%_*}" = hnsw ]; then
            hplots+="${hplots:+, }'$f' using 2:3 with linespoints title '${t#*_}'"
        else
            iplots+="${iplots:+, }'$f' using 2:3 with linespoints title '${t/_/ }'"
        fi
    done
    nlist=$(nlist_for "$n")
    panels=$((${#hplots} > 0 ? 1 : 0))
    panels=$((panels + (${#iplots} > 0 ? 1 : 0)))
    {
        echo "set terminal pngcairo size $((600 * (panels > 0 ? panels : 1))),520 font \"sans,10\" noenhanced"
        echo "set output \"$(dirname "$DOC")/img/ann_$n.png\""
        echo "set multiplot layout 1,$panels title \"recall@10 against single-thread queries/s, $n x $DIM, L2 (bench/ann.sh)\""
        echo 'set xlabel "recall@10"; set ylabel "queries/s (log)"; set logscale y; set key bottom left; set grid'
        [ -z "$hplots" ] || echo "set title \"HNSW, M 16, ef_construction 100; ef 16..256\"; plot $hplots"
        [ -z "$iplots" ] || echo "set title \"IVF kinds, nlist $nlist; nprobe 1..64\"; plot $iplots"
        echo "unset multiplot"
    } | gnuplot || echo "ann: the plot for $n failed" >&2
done
cat "$section"
replace_section "$DOC" "$SECTION" "$section"
