#!/usr/bin/env bash
# Event ingestion benchmark (issue 12): inferd beside VictoriaMetrics and InfluxDB (the Debian
# packages) taking the same line-protocol bodies in one run, then inferd alone across formats
# (line protocol, Arc MessagePack columnar and rows), compressions, buffer sizes and wal on/off.
# Closed loop: one wrk (-t1, CONNS connections) posting pre-encoded bodies; rows/s, wrk's batch
# latency p50/p99, and the server's CPU-seconds (utime + stime from /proc) so that rows per
# CPU-second is honest on a shared 2-core machine. Open loop: bench/ingest_load (build/) at fixed
# rates (OPEN_RATE bodies/s, then 0.8x the server's closed-loop maximum), latency from each
# batch's due time. Replaces the "## Event ingestion (issue 12)" section
# of docs/benchmarks.md and draws docs/img/ingest.png.
#
# Usage: bash bench/ingest.sh
#   DURATION=10 (seconds per run, after WARMUP=2)  CONNS=8  BODIES=16 (distinct bodies a run
#   cycles through)  INFERD=./build/inferd  LOAD=./build/ingest_load  DOC=docs/benchmarks.md
#   RESULTS=FILE (also keep every result, JSON lines, in FILE)
# Bodies (bench/ingest_gen.py): 5,000 lines of line protocol (~570 KB; three measurements in
# turn as in the seed's load test, cpu, mem and disk, each with tags host and region and three or
# four fields), Arc columnar MessagePack of 10,000 records, Arc row MessagePack of 5,000 rows;
# identical points across formats and servers. Two data sets: 1,000 hosts (every format and
# setting) and 1,000,000 hosts (line protocol, the peers and inferd: how each copes with many
# series). Other work on the machine skews every figure: run it idle.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-8}
BODIES=${BODIES:-16}
OPEN_RATE=${OPEN_RATE:-200} # bodies/s of the first open-loop run for each server (1M rows/s)
INFERD=${INFERD:-./build/inferd}
LOAD=${LOAD:-./build/ingest_load}
DOC=${DOC:-docs/benchmarks.md}
PNG=$(dirname "$DOC")/img/ingest.png
SECTION="## Event ingestion (issue 12)"

die() { echo "bench/ingest.sh: $*" >&2; exit 1; }
[ -x "$INFERD" ] && [ -x "$LOAD" ] || die "$INFERD or $LOAD not found; run: make build"
for t in wrk gnuplot curl; do command -v $t >/dev/null || die "$t not found; run: bash scripts/deps.sh"; done
if ! command -v victoria-metrics >/dev/null || ! command -v influxd >/dev/null; then
    echo "ingest: installing the peers (Debian's victoria-metrics and influxdb)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q victoria-metrics influxdb >/dev/null ||
        die "cannot install victoria-metrics and influxdb"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inferd-ingest.XXXXXX")
pid=""
cleanup() {
    [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

results=$tmp/results.jsonl
: >"$results"
echo "ingest: generating $BODIES bodies of each format" >&2
/usr/bin/python3 bench/ingest_gen.py "$tmp/bodies" "$BODIES" 1000
/usr/bin/python3 bench/ingest_gen.py "$tmp/hc" "$BODIES" 1000000
hc=("$tmp"/hc/lp_*.body)
lp=("$tmp"/bodies/lp_*.body)
col=("$tmp"/bodies/columnar_*.body)
rows=("$tmp"/bodies/rows_*.body)

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
wait_port() {
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.05; done
    die "nothing listens on $port"
}
stop() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}
cpu_s() { # utime + stime of $pid, in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$pid/stat"
}

start_inferd() { # flags...
    rm -rf "$tmp/data"
    "$INFERD" serve --listen "127.0.0.1:$port" --store none --models "$tmp/none" \
        --access-log false --ingest-dir "$tmp/data" "$@" >"$tmp/server.log" 2>&1 &
    pid=$!
    wait_port
}
start_vm() {
    rm -rf "$tmp/vm"
    victoria-metrics -httpListenAddr "127.0.0.1:$port" -storageDataPath "$tmp/vm" \
        -loggerLevel ERROR >"$tmp/server.log" 2>&1 &
    pid=$!
    wait_port
}
start_influx() {
    rm -rf "$tmp/influx"
    mkdir -p "$tmp/influx"
    cat >"$tmp/influx/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$((port + 1))"
[meta]
  dir = "$tmp/influx/meta"
[data]
  dir = "$tmp/influx/data"
  wal-dir = "$tmp/influx/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
EOF
    influxd -config "$tmp/influx/influxdb.conf" >"$tmp/server.log" 2>&1 &
    pid=$!
    wait_port
    curl -sf -XPOST "http://127.0.0.1:$port/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null ||
        die "influxdb: cannot create the database"
}

# closed NAME GROUP ROWS_PER_BODY PATH HEADER FILE...: one wrk run against the server running
closed() {
    local name=$1 group=$2 per=$3 path=$4 header=$5
    shift 5
    INGEST_HEADER=$header wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s bench/ingest_wrk.lua \
        "http://127.0.0.1:$port" -- "$path" "$@" >/dev/null 2>&1
    local c0 c1 out drain=null t0
    c0=$(cpu_s)
    out=$(INGEST_HEADER=$header wrk -t1 -c"$CONNS" -d"${DURATION}s" -s bench/ingest_wrk.lua \
        "http://127.0.0.1:$port" -- "$path" "$@" | tail -n1)
    if [[ $name == inferd* ]]; then
        # Accepted is not written: time until the flush threads have caught up, every flush due
        # by size written (what stays is the open buffers' rows, below ingest_flush_records each,
        # waiting for ingest_flush_ms as in any steady state), and the CPU that took.
        t0=$(date +%s.%N)
        while [ "$(curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^inferd_ingest_flushing_rows //p')" != 0 ]; do
            sleep 0.02
        done
        drain=$(printf '%.3f' "$(echo "$(date +%s.%N) - $t0" | bc)")
    fi
    c1=$(cpu_s)
    echo "ingest: $name: $out (drain $drain s)" >&2
    echo "{\"kind\": \"closed\", \"name\": \"$name\", \"group\": \"$group\", \"per\": $per, \"cpu\": $(echo "$c1 - $c0" | bc), \"drain\": $drain, \"wrk\": $out}" >>"$results"
}

# open NAME RATE PATH HEADER FILE...: bench/ingest_load at RATE bodies/s
open_loop() {
    local name=$1 rate=$2 path=$3 header=$4
    shift 4
    local out
    out=$("$LOAD" "127.0.0.1:$port" "$path" "$rate" "$DURATION" "$CONNS" "$header" "$@")
    echo "ingest: $name at $rate/s: $out" >&2
    echo "{\"kind\": \"open\", \"name\": \"$name\", \"load\": $out}" >>"$results"
}

# Peers and inferd on the same line-protocol bodies (the aims). The aims' three runs go twice,
# interleaved (VictoriaMetrics, inferd line protocol, inferd columnar, then again): run-to-run
# spread on this machine is tens of percent, and the aims use each pair's mean.
for round in 1 2; do
    start_vm
    closed "VictoriaMetrics (run $round)" aims 5000 /write "" "${lp[@]}"
    stop
    start_inferd
    closed "inferd line protocol (run $round)" aims 5000 "/write?db=bench" "" "${lp[@]}"
    closed "inferd Arc columnar (run $round)" aims 10000 /api/v1/write/msgpack "" "${col[@]}"
    stop
done
start_vm
closed "VictoriaMetrics" peers 5000 /write "" "${lp[@]}"
vm_max=$(tail -n1 "$results" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["wrk"]["requests"]/r["wrk"]["seconds"])')
open_loop "VictoriaMetrics" "$OPEN_RATE" /write "" "${lp[@]}"
open_loop "VictoriaMetrics" "$(echo "$vm_max * 0.8" | bc)" /write "" "${lp[@]}"
stop
start_vm
closed "VictoriaMetrics, 1M hosts" cardinality 5000 /write "" "${hc[@]}"
stop
start_influx
closed "InfluxDB 1.6" peers 5000 "/write?db=bench" "" "${lp[@]}"
stop
start_influx
closed "InfluxDB 1.6, 1M hosts" cardinality 5000 "/write?db=bench" "" "${hc[@]}"
stop
start_inferd
closed "inferd line protocol, 1M hosts" cardinality 5000 "/write?db=bench" "" "${hc[@]}"
stop
start_inferd
closed "inferd line protocol" peers 5000 "/write?db=bench" "" "${lp[@]}"
in_max=$(tail -n1 "$results" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["wrk"]["requests"]/r["wrk"]["seconds"])')
open_loop "inferd line protocol" "$OPEN_RATE" "/write?db=bench" "" "${lp[@]}"
open_loop "inferd line protocol" "$(echo "$in_max * 0.8" | bc)" "/write?db=bench" "" "${lp[@]}"
closed "inferd Arc rows (5,000-row batches)" formats 5000 /api/v1/write/msgpack "" "${rows[@]}"
stop

for c in none snappy; do
    start_inferd --ingest-compression $c
    closed "inferd line protocol, $c" compression 5000 "/write?db=bench" "" "${lp[@]}"
    closed "inferd Arc columnar, $c" compression 10000 /api/v1/write/msgpack "" "${col[@]}"
    stop
done
start_inferd --ingest-zstd-level 3
closed "inferd line protocol, zstd level 3" compression 5000 "/write?db=bench" "" "${lp[@]}"
closed "inferd Arc columnar, zstd level 3" compression 10000 /api/v1/write/msgpack "" "${col[@]}"
stop
# The seed's priorities 4 and 5 (writes off the request path, flushes in parallel): one flush
# thread instead of two.
start_inferd --ingest-flush-threads 1
closed "inferd line protocol, 1 flush thread" flushers 5000 "/write?db=bench" "" "${lp[@]}"
closed "inferd Arc columnar, 1 flush thread" flushers 10000 /api/v1/write/msgpack "" "${col[@]}"
stop
for n in 10000 200000; do
    start_inferd --ingest-flush-records $n
    closed "inferd line protocol, flush every $n rows" buffers 5000 "/write?db=bench" "" "${lp[@]}"
    stop
done
start_inferd --ingest-durability wal
closed "inferd line protocol, wal" wal 5000 "/write?db=bench" "" "${lp[@]}"
closed "inferd Arc columnar, wal" wal 10000 /api/v1/write/msgpack "" "${col[@]}"
stop

[ -z "${RESULTS:-}" ] || cp "$results" "$RESULTS"
section=$tmp/section.md
/usr/bin/python3 - "$results" "$section" "$tmp/plot.dat" "$(date -u +%F)" "$DURATION" "$CONNS" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" "$(nproc)" <<'EOF'
import json, sys
res, out, plot, day, dur, conns, cpu, ncpu = sys.argv[1:]
rs = [json.loads(l) for l in open(res) if l.strip()]
closed = [r for r in rs if r["kind"] == "closed"]
def rate(r):  # rows of 2xx answers per second (wrk's requests count every answer)
    w = r["wrk"]
    return (w["requests"] - w["non2xx"]) * r["per"] / w["seconds"]
by = {r["name"]: r for r in closed}
def runs(name):  # a configuration's runs: "name", "name (run 1)", "name (run 2)"
    return [r for r in closed if r["name"] == name or r["name"].startswith(name + " (run ")]
def mean(name, f=None):
    rs = runs(name)
    return sum((f or rate)(r) for r in rs) / len(rs)
vm = mean("VictoriaMetrics")
L = ["## Event ingestion (issue 12)", "",
     "`bash bench/ingest.sh` (%s; %s, %s cores shared by the servers and the load generator). "
     "Closed loop: one wrk (`-t1 -c%s`, %s s after a warm-up) posting pre-encoded bodies: 5,000 lines "
     "of line protocol (~570 KB: three measurements in turn as in the seed's load test, cpu, mem "
     "and disk, tags host and region, three or four fields; 1,000 hosts unless the row says 1M), "
     "the same points as Arc MessagePack (columnar: 10,000 records a body, one map per "
     "measurement; rows: 5,000). Accepted rows/s count only 2xx answers; a 503 (inferd's memory "
     "cap reached: writes outrun the flush threads) is counted in its own column. Accepted is "
     "not written: for inferd the run then waits until the flush threads have caught up (every "
     "flush due by size written; what stays is the open buffers, below 50,000 rows each), and "
     "'in files' divides the rows by the run plus that wait (the peers keep about a second of "
     "rows in memory too, which no endpoint shows). Batch latency is wrk's. Server CPU: "
     "utime + stime of the server process over the measured run (and the wait), so rows per CPU-second is the "
     "cost per row whatever else the machine was doing. inferd runs with its defaults "
     "(buffered, zstd level 1, 50,000-row flushes, 2 flush threads, 2 event loops) unless the row says "
     "otherwise; VictoriaMetrics 1.79 and InfluxDB 1.6 are Debian 12's packages with their "
     "defaults, fed through their InfluxDB `/write` endpoints."
     % (day, cpu, ncpu, conns, dur), "",
     "| server, format | rows/s accepted | vs VictoriaMetrics | rows/s in files | 503s | batch p50 ms | p99 ms | server CPU-s | rows per CPU-s |",
     "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
def written(r):
    return rate(r) * r["wrk"]["seconds"] / (r["wrk"]["seconds"] + r["drain"])
for r in closed:
    cpu_s = r["cpu"]
    L.append("| %s | %s | %.2fx | %s | %d | %.1f | %.1f | %.1f | %s |" % (
        r["name"], format(int(rate(r)), ","), rate(r) / vm,
        format(int(written(r)), ",") if r["drain"] is not None else "-", r["wrk"]["non2xx"],
        r["wrk"]["p50_ms"], r["wrk"]["p99_ms"],
        cpu_s, format(int(rate(r) * r["wrk"]["seconds"] / cpu_s), ",") if cpu_s > 0 else "-"))
L += ["", "Open loop (`build/ingest_load`, %s connections, %s s): line-protocol bodies at fixed "
      "rates, 1M rows/s and then 0.8x each server's closed-loop maximum; latency from each "
      "body's due time, so time spent waiting for a free connection counts." % (conns, dur), "",
      "| server | target rows/s | achieved rows/s | p50 ms | p99 ms | max ms |",
      "|---|---:|---:|---:|---:|---:|"]
for r in rs:
    if r["kind"] != "open":
        continue
    l = r["load"]
    L.append("| %s | %s | %s | %.1f | %.1f | %.1f |" % (
        r["name"], format(int(l["rate"] * 5000), ","), format(int(l["achieved"] * 5000), ","),
        l["p50_ms"], l["p99_ms"], l["max_ms"]))
inf = mean("inferd line protocol")
col = mean("inferd Arc columnar")
colw = mean("inferd Arc columnar", written)
hc = rate(by["inferd line protocol, 1M hosts"]) / rate(by["VictoriaMetrics, 1M hosts"])
L += ["", "Aims (issue 12), from this run: line protocol %.2fx VictoriaMetrics (aim 1.5x; %.2fx "
      "with 1M hosts); Arc columnar %.2fx VictoriaMetrics' line protocol (aim 3x) and %s "
      "records/s accepted, %s in files (aim 2.42M); wal %.2fx buffered on line protocol (aim "
      "0.8x), %.2fx on columnar. VictoriaMetrics, inferd line protocol and inferd columnar are "
      "the means of their runs above (three, three and two)."
      % (inf / vm, hc, col / vm, format(int(col), ","), format(int(colw), ","),
         rate(by["inferd line protocol, wal"]) / inf, rate(by["inferd Arc columnar, wal"]) / col), "",
      "![rows/s by server and format](img/ingest.png)", ""]
open(out, "w").write("\n".join(L))
with open(plot, "w") as f:
    for r in closed:
        who = 0 if r["name"].startswith("inferd") else 1 if r["name"].startswith("Victoria") else 2
        f.write('"%s" %d %d\n' % (r["name"].replace("inferd ", "").replace(" (5,000-row batches)", ""),
                                   rate(r), who))
EOF
cat "$section"
mkdir -p "$(dirname "$PNG")"
gnuplot <<EOF
set terminal pngcairo size 1200,640 font "sans,10"
set output "$PNG"
set style fill solid 0.8
set boxwidth 0.7
set ylabel "rows/s accepted (millions)"
set title "Ingestion, closed loop: one wrk, $CONNS connections (bench/ingest.sh). Blue: inferd; grey: VictoriaMetrics; orange: InfluxDB 1.6"
set xtics rotate by -40 left
set rmargin 16
set bmargin 14
set grid ytics
set key off
set palette maxcolors 3
set palette defined (0 "#4477aa", 1 "#999999", 2 "#ee7733")
unset colorbox
set cbrange [0:2]
plot "$tmp/plot.dat" using 0:(\$2/1e6):3:xtic(1) with boxes lc palette
EOF
replace_section "$DOC" "$SECTION" "$section"
echo "ingest: wrote $DOC and $PNG" >&2
