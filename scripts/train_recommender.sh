#!/usr/bin/env bash
# Trains seed 001's recommender on MovieLens ml-latest-small and writes OUTDIR/movielens/, a
# model-repository entry (`inferd serve --models OUTDIR` serves POST /recommend from it).
#
#   bash scripts/train_recommender.sh OUTDIR
#
# Environment: MOVIELENS_DIR (default ../shared/data/movielens/ml-latest-small beside the
# checkout: the data is read there and never copied into the repository, its licence forbids
# redistribution), EPOCHS (user tower epochs, default 100), NO_BASELINES=1 (skip the popularity
# and matrix-factorisation baselines), RANKER_KEEP_LAST=1 (the ranker's last epoch rather than
# its best on validation), INFERD_BIN (default build/inferd, built if missing).
# Needs Debian's python3-torch (installed by scripts/deps.sh). docs/recommend.md has the details.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:?usage: train_recommender.sh OUTDIR}"
SHARED="${INFERD_SHARED_DIR:-$ROOT/../shared}"
[ -d "$SHARED/data" ] || SHARED=/work/shared
DATA="${MOVIELENS_DIR:-$SHARED/data/movielens/ml-latest-small}"
BIN="${INFERD_BIN:-$ROOT/build/inferd}"
[ -f "$DATA/ratings.csv" ] || { echo "train_recommender: no ratings.csv in $DATA (set MOVIELENS_DIR)" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || bash "$ROOT/scripts/deps.sh"
[ -x "$BIN" ] || make -C "$ROOT" build >/dev/null
args=()
[ "${NO_BASELINES:-0}" = 1 ] && args+=(--no-baselines)
[ "${RANKER_KEEP_LAST:-0}" = 1 ] && args+=(--ranker-keep-last)
exec /usr/bin/python3 "$ROOT/scripts/recommender/train.py" --data "$DATA" --out "$OUT/movielens" \
    --inferd "$BIN" "${args[@]}"
