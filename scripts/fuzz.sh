#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from the committed seed
# corpus (copied, so the repository is not written to). Fails on the first crash.
set -euo pipefail
dir=${1:-build-fuzz}
secs=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for bin in "$dir"/fuzz_*; do
    name=$(basename "$bin")
    name=${name#fuzz_}
    mkdir -p "$work/$name"
    if [ -d "$root/fuzz/corpus/$name" ]; then cp -r "$root/fuzz/corpus/$name/." "$work/$name/"; fi
    echo "fuzz: $name for ${secs}s"
    ASAN_OPTIONS=allocator_may_return_null=1 "$bin" -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" \
        "$work/$name" 2>"$work/$name.log" || { tail -50 "$work/$name.log"; exit 1; }
    grep -E "stat::number_of_executed_units" "$work/$name.log" || true
done
echo "fuzz: all targets ran clean"
