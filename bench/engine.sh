#!/usr/bin/env bash
# Engine benchmark: inferd's ONNX engine vs ONNX Runtime (onnxruntime-node, CPU) on the fixture
# models, same input file, same thread count, one run after the other on this machine. Prints a
# markdown table, replaces the "## Engine: inferd vs ONNX Runtime" section of docs/benchmarks.md
# and draws docs/img/engine_bench.png.
#
# Usage: bash bench/engine.sh
#   THREADS=1     intra-op threads for both (inferd bench --threads, ORT intraOpNumThreads)
#   SECONDS=2     timed seconds per run, after a warm-up of 10% of that (fractions work: SECONDS=0.5;
#                 the value is read from the environment the script was started with, as bash
#                 turns $SECONDS into its own clock)
#   MODELS="..."  fixture model names (default: the list below); BATCHES="1 32 1024"
#   INFERD=./build/inferd  DOC=docs/benchmarks.md (the PNG goes to img/ beside it)
#   PYTHON=/usr/bin/python3  NODE=node
#
# The section is rewritten whole on every run: notes added to it by hand (e.g. profiles of the
# slow rows) are dropped and must be redone for the new figures.
#
# Each (model, batch) input holds rows taken in order from tests/fixtures/data/<model>.b1000.input.json,
# cycled past 1000 rows; every input tensor is sliced along dim 0. A model that fails to load or run
# in either runtime is skipped with a note (in the table's notes and on stderr).
set -euo pipefail
# bash's $SECONDS counts seconds since start-up and cannot hold a fraction: take the value the
# caller put in the environment instead.
BENCH_SECONDS=$(tr '\0' '\n' <"/proc/$$/environ" 2>/dev/null | sed -n 's/^SECONDS=//p' | tail -n1)
BENCH_SECONDS=${BENCH_SECONDS:-2}
cd "$(dirname "$0")/.."
. bench/lib.sh

THREADS=${THREADS:-1}
MODELS=${MODELS:-breast_cancer_logreg diabetes_linreg iris_rf wine_gbc diabetes_gbr breast_cancer_gbc iris_svc_rbf digits_mlp pipeline_mixed}
BATCHES=${BATCHES:-1 32 1024}
INFERD=${INFERD:-./build/inferd}
DOC=${DOC:-docs/benchmarks.md}
PYTHON=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-node}
PNG=$(dirname "$DOC")/img/engine_bench.png
ORT_PKG=tools/ort/node_modules/onnxruntime-node/package.json
MODEL_DIR=tests/fixtures/models
DATA_DIR=tests/fixtures/data
FLOOR_MODEL=diabetes_linreg # a 10-input LinearRegressor: almost no compute, so ORT's time is its fixed cost
SECTION="## Engine: inferd vs ONNX Runtime"

die() { echo "bench/engine.sh: $*" >&2; exit 1; }

command -v "$NODE" >/dev/null || die "node not found: install Node.js (it comes with the image; scripts/deps.sh does not install it), then: cd tools/ort && npm install --ignore-scripts"
command -v gnuplot >/dev/null || die "gnuplot not found; run: bash scripts/deps.sh"
[ -x "$PYTHON" ] || die "$PYTHON not found; run: bash scripts/deps.sh"
[ -f "$ORT_PKG" ] || die "onnxruntime-node is not installed; run: cd tools/ort && npm install --ignore-scripts"
[ -x "$INFERD" ] || die "$INFERD not found; run: make build"
"$INFERD" bench --help >/dev/null 2>&1 || die "$INFERD has no 'bench' command; rebuild it: make build"
awk -v s="$BENCH_SECONDS" 'BEGIN { exit !(s + 0 > 0 && s + 0 <= 600) }' || die "SECONDS must be in (0, 600], got '$BENCH_SECONDS'"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, got '$THREADS'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inferd-engine-bench.XXXXXX")
child=""
cleanup() {
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Writes OUT.json with BATCH rows taken from SRC.json (rows 0, 1, ..., cycling), every input
# tensor sliced along dim 0. Floats are written back with Python's repr (the shortest decimal that
# round-trips the double), so every value is exactly the one in the fixture.
cat >"$tmp/slice.py" <<'EOF'
import json, math, sys
src, batch, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(src) as f:
    inputs = json.load(f)["inputs"]
res = {}
for name, t in inputs.items():
    shape, data = t["shape"], t["data"]
    if not shape:  # rank 0: nothing to slice
        res[name] = t
        continue
    n, row = shape[0], math.prod(shape[1:])
    if n == 0 or len(data) != n * row:
        sys.exit(f"{src}: input {name}: shape {shape} does not match {len(data)} values")
    rows = [data[(i % n) * row:(i % n + 1) * row] for i in range(batch)]
    res[name] = dict(t, shape=[batch] + shape[1:], data=[v for r in rows for v in r])
with open(out, "w") as f:
    json.dump({"inputs": res}, f, separators=(",", ":"), allow_nan=False)
EOF

# Runs one side in the background and waits for it (bash defers traps until a foreground child
# exits; this lets INT/TERM stop the script at once). Writes $tmp/out and $tmp/err; returns its rc.
run_side() {
    local side=$1 model=$2 input=$3 rc=0
    if [ "$side" = inferd ]; then
        "$INFERD" bench "$MODEL_DIR/$model.onnx" --input "$input" --threads "$THREADS" \
            --seconds "$BENCH_SECONDS" >"$tmp/out" 2>"$tmp/err" &
    else
        "$NODE" bench/engine_ort.mjs "$MODEL_DIR/$model.onnx" "$input" "$BENCH_SECONDS" "$THREADS" \
            >"$tmp/out" 2>"$tmp/err" &
    fi
    child=$!
    wait "$child" || rc=$?
    child=""
    return "$rc"
}

json_field() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" "$2" | head -n1; }

# Writes "median_us runs" of one side on one input to $tmp/res, or fails with "side: reason" on
# stderr. Not meant for $(...): the background child must belong to this shell, for cleanup.
measure() {
    local side=$1 model=$2 input=$3 med
    if ! run_side "$side" "$model" "$input"; then
        echo "$side: $(grep -v '^[[:space:]]*$' "$tmp/err" | tail -n1)" >&2
        return 1
    fi
    med=$(json_field median_us "$tmp/out")
    [ -n "$med" ] || { echo "$side: no median_us in: $(head -c 300 "$tmp/out")" >&2; return 1; }
    # Anything a side says on stderr (e.g. ORT's skipped non-tensor outputs) is worth seeing.
    if [ -s "$tmp/err" ]; then sed "s/^/  ($side) /" "$tmp/err" >&2; fi
    echo "$med $(json_field runs "$tmp/out")" >"$tmp/res"
}

make_input() { # model batch -> path of the input file
    local f="$tmp/in/$1.b$2.json" src="$DATA_DIR/$1.b1000.input.json"
    mkdir -p "$tmp/in"
    [ -f "$f" ] || "$PYTHON" "$tmp/slice.py" "$src" "$2" "$f" >&2 || return 1
    echo "$f"
}

echo "Engine benchmark: THREADS=$THREADS, ${BENCH_SECONDS}s per run; $(nproc) CPUs; other load on" \
    "this machine shows up in the figures" >&2

: >"$tmp/results" # model batch inferd_median ort_median inferd_runs ort_runs
: >"$tmp/notes"
i=0
for model in $MODELS; do
    if [ ! -f "$MODEL_DIR/$model.onnx" ] || [ ! -f "$DATA_DIR/$model.b1000.input.json" ]; then
        echo "skipping $model: $MODEL_DIR/$model.onnx or $DATA_DIR/$model.b1000.input.json missing" >&2
        echo "- \`$model\` skipped: fixture model or b1000 input missing" >>"$tmp/notes"
        continue
    fi
    : >"$tmp/model_results"
    failed=""
    for batch in $BATCHES; do
        order="inferd ort"
        [ $((i % 2)) -eq 1 ] && order="ort inferd"
        i=$((i + 1))
        echo "$model  batch $batch  ($order)" >&2
        input=$(make_input "$model" "$batch") || die "$model: cannot build the batch-$batch input"
        for side in $order; do
            if measure "$side" "$model" "$input" 2>"$tmp/why"; then
                read -r "med_$side" "runs_$side" <"$tmp/res"
                cat "$tmp/why" >&2
            else
                failed="$(tail -n1 "$tmp/why")" # "inferd: <its last error line>"
                break 2
            fi
        done
        # shellcheck disable=SC2154 # med_* and runs_* are set by read above
        echo "  inferd $med_inferd us ($runs_inferd runs), ORT $med_ort us ($runs_ort runs)" >&2
        echo "$model $batch $med_inferd $med_ort $runs_inferd $runs_ort" >>"$tmp/model_results"
    done
    if [ -n "$failed" ]; then
        # A model that fails in either runtime, at any batch size, is left out altogether.
        echo "skipping $model (batch $batch): $failed" >&2
        echo "- \`$model\` skipped: ${failed%%: *} failed at batch $batch: \`${failed#*: }\`" >>"$tmp/notes"
    else
        cat "$tmp/model_results" >>"$tmp/results"
    fi
done
[ -s "$tmp/results" ] || die "no model ran in both runtimes"

# The binding floor: ORT's time for a model that does almost nothing, at batch 1.
echo "binding floor: $FLOOR_MODEL  batch 1" >&2
floor_in=$(make_input "$FLOOR_MODEL" 1) || die "cannot build the $FLOOR_MODEL input"
measure ort "$FLOOR_MODEL" "$floor_in" || die "ORT failed on $FLOOR_MODEL"
read -r floor_ort _ <"$tmp/res"
measure inferd "$FLOOR_MODEL" "$floor_in" || die "inferd failed on $FLOOR_MODEL"
read -r floor_inferd _ <"$tmp/res"
echo "  inferd $floor_inferd us, ORT $floor_ort us" >&2

# --- report ----------------------------------------------------------------------------------
fmt_us() { awk -v v="$1" 'BEGIN { printf (v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f"), v }'; }
ratio() { awk -v o="$2" -v i="$1" 'BEGIN { printf "%.2f", o / i }'; }

table() {
    echo "| model | batch | inferd median (µs) | ORT median (µs) | ORT / inferd | inferd rows/s |"
    echo "|---|--:|--:|--:|--:|--:|"
    while read -r model batch mi mo _ _; do
        r=$(ratio "$mi" "$mo")
        rps=$(awk -v b="$batch" -v m="$mi" 'BEGIN { printf "%.0f", b / m * 1e6 }')
        echo "| $model | $batch | $(fmt_us "$mi") | $(fmt_us "$mo") | **$r** | $rps |"
    done <"$tmp/results"
}

# Facts for the reading: geometric mean of the ratio per batch, and the models at each end.
summary() {
    awk -v batches="$BATCHES" -v floor="$floor_ort" '
        { r = $4 / $3; n[$2]++; s[$2] += log(r); key = $1 " (batch " $2 ")"
          if (r < 0.8) slow = slow sprintf("%s`%s` at batch %d: inferd %.1f× slower (%.0f vs %.0f µs)", (slow ? "; " : ""), $1, $2, 1 / r, $3, $4)
          if ($2 == 1) { ex = $4 - floor; if (ex > 0 && $3 > ex * 1.5) over = over sprintf("%s`%s`", (over ? ", " : ""), $1) } }
        END {
            split(batches, b, " ")
            line = "- **Geometric mean of ORT / inferd:**"
            for (k = 1; k in b; k++) if (n[b[k]]) line = line sprintf(" %.2f at batch %s%s", exp(s[b[k]] / n[b[k]]), b[k], (k + 1 in b) ? ";" : "")
            print line " (above 1: inferd faster)."
            print "- **Where inferd is more than 1.25× slower:** " (slow ? slow "." : "nowhere in this run.")
            if (over) print "- **Batch 1, inferd above ORT minus the binding floor** (by more than 1.5×): " over "."
        }' "$tmp/results"
}

# Plot data: one row per model, one column per batch size ("?" where missing).
{
    echo "# model $(for b in $BATCHES; do printf 'b%s ' "$b"; done)"
    for model in $(cut -d' ' -f1 "$tmp/results" | uniq); do
        printf '%s' "$model"
        for b in $BATCHES; do
            r=$(awk -v m="$model" -v b="$b" '$1 == m && $2 == b { printf "%.4f", $4 / $3 }' "$tmp/results")
            printf ' %s' "${r:-?}"
        done
        echo
    done
} >"$tmp/plot.dat"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
v_inferd="$("$INFERD" --version) (git $(git describe --always --dirty 2>/dev/null || echo unknown))"
v_ort=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$ORT_PKG" | head -n1)
v_node=$("$NODE" --version)
cmd="\`bash bench/engine.sh\`"
env_set=""
[ "$THREADS" = 1 ] || env_set="THREADS=$THREADS "
[ "$BENCH_SECONDS" = 2 ] || env_set="${env_set}SECONDS=$BENCH_SECONDS "
[ -z "$env_set" ] || cmd="\`${env_set}bash bench/engine.sh\`"

mkdir -p "$(dirname "$PNG")"
gnuplot -c bench/plot_engine.gp "$tmp/plot.dat" "$PNG" \
    "$THREADS thread(s), $(nproc) shared cores, $cpu; inferd $("$INFERD" --version | sed 's/^inferd //'), ORT $v_ort; $when" ||
    die "gnuplot failed"

cat >"$tmp/section.md" <<EOF
$SECTION

Latency of one inference call in inferd's own ONNX engine against ONNX Runtime's CPU execution
provider, on the fixture models (\`tests/fixtures/models\`) and the same input file for both.
No HTTP and no JSON: each side decodes the input once, then runs the model on it again and again.

- **Command:** $cmd; each run lasts ${BENCH_SECONDS}s after a warm-up of 10% of that
- **Date:** $when
- **Machine:** $(nproc) CPUs, $cpu, Linux $(uname -r)
- **Versions:** $v_inferd; onnxruntime-node $v_ort (node $v_node)
- **Threads:** $THREADS. inferd \`bench --threads $THREADS\`; ORT \`intraOpNumThreads: $THREADS\`,
  \`interOpNumThreads: 1\`, sequential execution, \`graphOptimizationLevel: 'all'\`.
- **Inputs:** batch B is the first B rows of \`tests/fixtures/data/<model>.b1000.input.json\`
  (cycled past 1000 rows), every input tensor sliced along dim 0.
- **Timing:** inferd: \`inferd bench\` (in-process C, the time of each session run);
  ORT: \`node bench/engine_ort.mjs\`, the wall time of each \`await session.run(feeds)\`.
  The figure is the median over all runs. The runtime that goes first alternates per row.
- **The ORT figure includes onnxruntime-node's per-call cost:** the N-API binding (wrapping the
  inputs, copying the outputs into new JS tensors) and the promise and \`setImmediate\` hop around
  every call. The **binding floor** measures it: \`$FLOOR_MODEL\` (one LinearRegressor over 10
  features, next to no compute) at batch 1 takes **$(fmt_us "$floor_ort") µs** in ORT from node
  ($(fmt_us "$floor_inferd") µs in inferd). That is the floor under every ORT figure below; it
  also holds ORT's own fixed cost per \`Run()\`, which a C++ caller would still pay in part.
  At batch 1 read the ratio with this in mind; at batch 1024 it is noise.
- **ORT / inferd** above 1 means inferd is faster; 0.5 means inferd takes twice as long.
  Both compute every output of these models (all are tensors; for a model with a map or sequence
  output ORT would fetch only the tensors, as onnxruntime-node cannot return the others).

$(table)
$(if [ -s "$tmp/notes" ]; then echo; cat "$tmp/notes"; fi)

![ORT / inferd median latency per model and batch size](img/$(basename "$PNG"))

**How to read it.** At batch 1 and 32 the ratio is mostly per-call overhead: every ORT figure
carries the binding floor, while an inferd run costs tens of nanoseconds beyond its kernels. A C or
C++ caller of ORT would pay less than the floor, so for compute compare inferd with ORT minus the
floor there. At batch 1024 the fixed costs are noise and the ratio compares the kernels. Generated
from the figures above:

$(summary)
EOF

echo
table
if [ -s "$tmp/notes" ]; then echo; cat "$tmp/notes"; fi
echo
echo "binding floor ($FLOOR_MODEL, batch 1): ORT $floor_ort us, inferd $floor_inferd us"
echo
summary

# Our section (up to the next "## " heading) is replaced; every other section stays.
replace_section "$DOC" "$SECTION" "$tmp/section.md" || die "cannot update $DOC"
echo >&2
echo "wrote $DOC and $PNG" >&2
