#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking inferd needs.
# Idempotent: only missing packages are installed, and `apt-get update` runs at most once.
set -euo pipefail

PKGS=(
    # build
    build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
    libinih-dev libssl-dev libopenblas-dev libsqlite3-dev sqlite3 libpq-dev postgresql-15
    libutf8proc-dev
    libhiredis-dev redis-server
    libzstd-dev libsnappy-dev libmsgpack-dev zlib1g-dev
    # model fixtures (node and npm, for ONNX Runtime reference outputs, come with the image)
    python3-onnx python3-sklearn python3-numpy
    # tests (FAISS: the recall peer of the vector indexes, tests/integration/test_index_cli.py;
    # zstd: the CLI that compresses test_ingest.py's zstd bodies)
    python3 python3-pytest valgrind python3-faiss zstd
    # the ONNX project's operator conformance tests (tests/conformance)
    libonnx-testdata
    # benchmarks (bench/seed000.sh rebuilds the seed's FastAPI + PostgreSQL stack as the peer)
    wrk nginx-light apache2-utils nghttp2-client gnuplot-nox curl
    python3-fastapi python3-uvicorn python3-uvloop python3-httptools python3-psycopg2 python3-asyncpg
    # bench/ann.sh: hnswlib beside FAISS (and USearch from npm, tools/ann)
    python3-hnswlib
    # scripts/train_recommender.sh (seed 001's user tower and ranker; tests/integration/test_recommend.py)
    python3-torch
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
