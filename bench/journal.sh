#!/usr/bin/env bash
# The journal (issue 10) against the direct commit, storing nothing, and buffered, in one run,
# with two rows that take the database out (the null:0 sink: a commit that costs nothing):
# POST /inferences of the demo model under wrk -t2 -cC, each configuration a fresh server and
# database, the configurations alternating over ROUNDS rounds (single runs on this shared box
# move by 10-40%, so one run of each cannot settle a ratio). Prints a table, replaces the
# "## Journal (issue 10)" section of docs/benchmarks.md.
#
# Usage: bash bench/journal.sh
#   ROUNDS=3 DURATION=6s C=50   rounds, wrk run length and connections
#   INFERD=./build/inferd  DOC=docs/benchmarks.md  PYTHON=/usr/bin/python3
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
C=${C:-50}
INFERD=${INFERD:-./build/inferd}
DOC=${DOC:-docs/benchmarks.md}
PYTHON=${PYTHON:-/usr/bin/python3}
SECTION="## Journal (issue 10)"

die() { echo "bench/journal.sh: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found; run: bash scripts/deps.sh"
[ -x "$INFERD" ] || die "$INFERD not found; run: make build"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inferd-journal-bench.XXXXXX")
srv_pid=""
cleanup() {
    if [ -n "$srv_pid" ]; then kill -TERM "$srv_pid" 2>/dev/null || true; wait "$srv_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# One model folder per durability: the demo model with its config.ini set to it.
for d in off buffered durable committed; do
    mkdir -p "$tmp/r_$d/bc/1"
    cp models/breast_cancer/1/model.onnx "$tmp/r_$d/bc/1/"
    printf '[model]\ndurability = %s\n' "$d" >"$tmp/r_$d/bc/config.ini"
done
feats=$("$PYTHON" -c 'import json; d=json.load(open("tests/fixtures/data/breast_cancer_logreg.b7.input.json"))["inputs"]["input"]["data"]; print(json.dumps(d[:30]))')
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{"model":"bc","features":%s}]]\n' "$feats" >"$tmp/post.lua"

# run NAME DURABILITY [JOURNAL [STORE]]: one server, a warm-up, one timed wrk run; appends a
# line "NAME req/s p50_ms fsync_mean_ms records_per_append apply_rows_per_commit" to $tmp/runs.
run() {
    local name=$1 dur=$2 journal=${3:-} store=${4:-sqlite:$tmp/db.db}
    rm -rf "$tmp/db"* "$tmp/jr"
    local args=(serve --listen 127.0.0.1:0 --models "$tmp/r_$dur" --store "$store" --access-log false)
    if [ -n "$journal" ]; then args+=(--journal "$tmp/jr"); else args+=(--journal none); fi
    "$INFERD" "${args[@]}" >"$tmp/out" 2>"$tmp/log" &
    srv_pid=$!
    local port="" i
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$tmp/log" | head -n1)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || die "inferd did not start: $(tail -3 "$tmp/log")"
    wrk -t2 -c"$C" -d2s -s "$tmp/post.lua" "http://127.0.0.1:$port/inferences" >/dev/null
    wrk -t2 -c"$C" -d"$DURATION" --latency -s "$tmp/post.lua" "http://127.0.0.1:$port/inferences" >"$tmp/wrk"
    curl -s "http://127.0.0.1:$port/metrics" >"$tmp/metrics"
    kill -TERM "$srv_pid"; wait "$srv_pid" || true; srv_pid=""
    "$PYTHON" - "$name" "$tmp/wrk" "$tmp/metrics" >>"$tmp/runs" <<'PY'
import re, sys
name, wrk, met = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", wrk).group(1))
m = re.search(r"\s50%\s+([0-9.]+)(us|ms|s)", wrk)
p50 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
def val(k):
    m = re.search(r"^%s\{[^}]*\} (\S+)$" % re.escape(k), met, re.M)
    return float(m.group(1)) if m else 0.0
fs, fc = val("inferd_journal_fsync_seconds_sum"), val("inferd_journal_fsync_seconds_count")
ar = val("inferd_journal_append_records_sum")
cr, cc = val("inferd_store_commit_batch_records_sum"), val("inferd_store_commit_batch_records_count")
print(name, rps, p50, 1000 * fs / fc if fc else 0, ar / fc if fc else 0, cr / cc if cc else 0)
PY
}

for ((r = 1; r <= ROUNDS; r++)); do
    echo "bench/journal.sh: round $r of $ROUNDS" >&2
    run off off
    run durable_sqlite durable
    run durable_journal durable journal
    run committed_journal committed journal
    run buffered_journal buffered journal
    run durable_journal_null durable journal null:0
    run durable_null durable "" null:0
done

sec=$tmp/section.md
"$PYTHON" - "$tmp/runs" "$ROUNDS" "$DURATION" "$C" >"$sec" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r[0], []).append([float(x) for x in r[1:]])
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in by.items()}
off = med["off"][0]
labels = {
    "off": "off (nothing stored)",
    "durable_sqlite": "durable, no journal (answer after SQLite's commit)",
    "durable_journal": "durable, journal (answer after the journal's fdatasync)",
    "committed_journal": "committed, journal (answer after SQLite's commit)",
    "buffered_journal": "buffered, journal (answer at once: the same storing work, no wait)",
    "durable_journal_null": "durable, journal, `null:0` sink (a database that costs nothing)",
    "durable_null": "durable, no journal, `null:0` sink (the completion path alone)",
}
order = ("off", "durable_sqlite", "durable_journal", "committed_journal", "buffered_journal",
         "durable_journal_null", "durable_null")
print("## Journal (issue 10)")
print()
print("POST /inferences of the demo model, wrk -t2 -c%s for %s per run, a fresh server and SQLite"
      % (sys.argv[4], sys.argv[3]))
print("database per run; the configurations alternate over %s rounds and the table gives"
      % sys.argv[2])
print("the median of the rounds. Command: `bash bench/journal.sh`. docs/journal.md explains the")
print("levels. Buffered does all of durable's storing work (the record, the journal, SQLite) but")
print("answers before it: it is the most durable could reach if its wait cost nothing. The two")
print("`null:0` rows keep the whole serving and journal path but give the records to a sink that")
print("discards them at no cost: what durable could reach if SQLite cost nothing, and the")
print("deferred answer alone.")
print()
print("| configuration | req/s | / off | p50 ms | journal fsync ms | records per append | rows per SQLite commit |")
print("|---|---:|---:|---:|---:|---:|---:|")
for k in order:
    v = med[k]
    print("| %s | %.0f | %.2f | %.3f | %s | %s | %s |" % (
        labels[k], v[0], v[0] / off, v[1],
        "%.3f" % v[2] if v[2] else "-", "%.1f" % v[3] if v[3] else "-", "%.1f" % v[4] if v[4] else "-"))
print()
print("Per round (req/s): " + "; ".join(
    "%s %s" % (k, ", ".join("%.0f" % x[0] for x in by[k])) for k in order) + ".")
PY
cat "$sec"
replace_section "$DOC" "$SECTION" "$sec"
echo "bench/journal.sh: wrote $DOC ($SECTION)" >&2
