#!/bin/sh
# inferd's engine against ONNX Runtime on the MiniLM-shaped synthetic encoder (batch 1 at 5, 20
# and 128 tokens, 1 and 2 threads). Regenerates the 90 MB graph (never committed).
#   bench/engine_minilm.sh [ORT_DEPS_DIR]   (a folder with node_modules holding
#   onnxruntime-node and @huggingface/transformers; ORT is skipped without it)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
tmp=${TMPDIR:-/tmp}/inferd-minilm
mkdir -p "$tmp"
[ -f "$tmp/minilm.onnx" ] || /usr/bin/python3 "$shared/tools/make_synthetic_bert_onnx.py" "$tmp/minilm.onnx"
for n in 5 20 128; do
    /usr/bin/python3 - "$n" "$tmp/in$n.json" <<'PY'
import json, sys
n = int(sys.argv[1])
ids = [101] + [1996 + i % 50 for i in range(n - 2)] + [102]
t = lambda d: {"shape": [1, n], "datatype": "INT64", "data": d}
json.dump({"inputs": {"input_ids": t(ids), "attention_mask": t([1] * n),
                      "token_type_ids": t([0] * n)}}, open(sys.argv[2], "w"))
PY
done
for t in 1 2; do
    for n in 5 20 128; do
        printf 'inferd threads=%s tokens=%s %s\n' "$t" "$n" \
            "$("$root/build/inferd" bench "$tmp/minilm.onnx" --input "$tmp/in$n.json" --threads "$t" --seconds 5)"
    done
done
if [ $# -ge 1 ]; then
    node "$shared/tools/minilm_reference.mjs" --deps "$1" --bench "$tmp/minilm.onnx" --runs 100 --warmup 20
fi
