#!/usr/bin/env bash
# Seed 000 side by side: inferd's POST /inferences (durable / buffered / off) against the seed's
# own stack rebuilt from Debian packages (FastAPI + uvicorn + scikit-learn + PostgreSQL 15, in
# bench/peers/seed000_app.py), all in one run on this machine, with the seed's ApacheBench command
# (ab -n 1000 -c 50 -l, a new connection per request) and with wrk (keep-alive). For every durable
# configuration the rows stored are counted against the requests the tool reports as completed.
# Prints markdown tables, replaces the "## Seed 000: ..." section of docs/benchmarks.md and draws
# docs/img/seed000.png.
#
# Usage: bash bench/seed000.sh
#   DURATION=15s        length of each wrk run (DURATION=3s for a smoke run)
#   N=1000 C=50         ab requests and concurrency (the seed's); wrk uses the same C
#   AB_RUNS=5           ab runs per configuration; the median run is reported
#   PEER_RUNS="db:1 asyncpg:4 db:4 dbnosync:1 nodb:1"   peer MODE:WORKERS runs (see the app)
#   SWEEP_C="256 1000"  further wrk connection counts for inferd durable vs off ("" for none)
#   NULL_US="0 100 300" commit times for inferd durable on the null sink (records discarded, each
#                       commit sleeps that many microseconds): the serving path without a database
#   RATES="30000 60000 90000" RATE_C=200   offered loads (req/s, over RATE_C connections) for
#                       inferd off and durable with h2load --rps: a fixed rate, not a closed loop
#   INFERD=./build/inferd  PYTHON=/usr/bin/python3  PGBIN=/usr/lib/postgresql/15/bin
#   DOC=docs/benchmarks.md  where the section goes (the PNG goes to img/ beside it)
#   BENCH_TMP=/var/tmp  where the databases live (must be a real disk: fsync is what is measured)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-15s}
N=${N:-1000}
AB_RUNS=${AB_RUNS:-5}
C=${C:-50}
PEER_RUNS=${PEER_RUNS:-db:1 asyncpg:4 db:4 dbnosync:1 nodb:1}
SWEEP_C=${SWEEP_C-256 1000}
NULL_US=${NULL_US-0 100 300}
RATES=${RATES-30000 60000 90000}
RATE_C=${RATE_C:-200}
INFERD=${INFERD:-./build/inferd}
PYTHON=${PYTHON:-/usr/bin/python3}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DOC=${DOC:-docs/benchmarks.md}
BENCH_TMP=${BENCH_TMP:-${TMPDIR:-/tmp}}
PNG=$(dirname "$DOC")/img/seed000.png
MODEL_ONNX=tests/fixtures/models/breast_cancer_logreg.onnx
INPUT_JSON=tests/fixtures/data/breast_cancer_logreg.b1.input.json
SECTION="## Seed 000: durable predictions, inferd vs FastAPI + PostgreSQL"

die() { echo "bench/seed000.sh: $*" >&2; exit 1; }
note() { echo "bench/seed000.sh: $*" >&2; }

# --- tools ---------------------------------------------------------------------------------------
for t in ab wrk h2load gnuplot curl sqlite3 psql awk; do
    command -v "$t" >/dev/null || die "$t not found; run: bash scripts/deps.sh"
done
[ -x "$PYTHON" ] || die "$PYTHON not found (Debian's python3, which has the python3-* packages)"
for b in initdb pg_ctl postgres createdb; do
    [ -x "$PGBIN/$b" ] || die "$PGBIN/$b not found: PostgreSQL 15 server (postgresql-15) needed"
done
"$PYTHON" -c 'import fastapi, uvicorn, sklearn, numpy, psycopg2, asyncpg' 2>/dev/null ||
    die "$PYTHON lacks a peer module; needs python3-fastapi python3-uvicorn python3-sklearn" \
        "python3-psycopg2 python3-asyncpg (and python3-uvloop python3-httptools as uvicorn[standard])"
[ -x "$INFERD" ] || die "$INFERD not found; run: make build"
for f in "$MODEL_ONNX" "$INPUT_JSON"; do [ -f "$f" ] || die "fixture missing: $f"; done

load_start=$(cut -d" " -f1-3 /proc/loadavg)  # other work on the machine skews every figure
tmp=$(mktemp -d "$BENCH_TMP/inferd-seed000.XXXXXX")
chmod 755 "$tmp"  # the PostgreSQL user must reach $tmp/pg
server_pid="" load_pid="" pg_started=""
PGUSER_OS=""  # the OS user PostgreSQL runs as ("" = this one)

as_pg() { if [ -n "$PGUSER_OS" ]; then runuser -u "$PGUSER_OS" -- "$@"; else "$@"; fi; }

stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
cleanup() {
    [ -n "$load_pid" ] && { kill -TERM "$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; }
    stop_server
    if [ -n "$pg_started" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Runs a load tool in the background and waits: bash defers traps until a foreground child exits,
# so this lets INT/TERM stop the script at once rather than after a whole run.
run_load() { "$@" & load_pid=$!; wait "$load_pid"; local rc=$?; load_pid=""; return $rc; }

# --- the request body, the wrk script, the model repository ---------------------------------------
"$PYTHON" - "$INPUT_JSON" >"$tmp/body.json" <<'EOF'
import json, sys
row = json.load(open(sys.argv[1]))["inputs"]["input"]["data"]
print(json.dumps({"model": "breast_cancer", "features": row}, separators=(",", ":")))
EOF
cat >"$tmp/post.lua" <<EOF
-- POST the seed's body; count answers other than 200 (wrk itself only flags non-2xx/3xx).
local f = assert(io.open("$tmp/body.json", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not200 = 0 end
function response(status, headers, body) if status ~= 200 then not200 = not200 + 1 end end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("not200") end
  io.write(string.format("Not-200 responses: %d\n", n))
end
EOF
mkdir -p "$tmp/models/breast_cancer/1"
cp "$MODEL_ONNX" "$tmp/models/breast_cancer/1/model.onnx"  # no config.ini: --durability decides

# --- a private PostgreSQL 15: own data dir, free port, 127.0.0.1 only, default durability ---------
if [ "$(id -u)" -eq 0 ]; then
    # initdb and postgres refuse to run as root.
    if id postgres >/dev/null 2>&1; then PGUSER_OS=postgres
    elif id nobody >/dev/null 2>&1; then PGUSER_OS=nobody
    else die "running as root and neither a postgres nor a nobody user exists to run PostgreSQL"; fi
    command -v runuser >/dev/null || die "runuser not found (util-linux): needed to run PostgreSQL as $PGUSER_OS"
fi
mkdir -p "$tmp/pg"
[ -n "$PGUSER_OS" ] && chown "$PGUSER_OS" "$tmp/pg"
pg_port=$(free_port)
as_pg "$PGBIN/initdb" -D "$tmp/pg/data" -U bench --auth=trust -E UTF8 --no-locale \
    >"$tmp/initdb.log" 2>&1 || die "initdb failed: $(tail -n5 "$tmp/initdb.log")"
# max_connections: a pool of $C per uvicorn worker for the most workers a run asks for, plus room
# for inferd's sink and the script's own psql.
max_workers=$(for r in $PEER_RUNS; do echo "${r#*:}"; done | sort -n | tail -n1)
max_conns=$(( ${max_workers:-1} * C + 100 ))
[ "$max_conns" -ge 100 ] || max_conns=100
pg_ctl_opts="-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$tmp/pg"
pg_ctl_opts+=" -c max_connections=$max_conns"
pg_started=1
as_pg "$PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -o "$pg_ctl_opts" -w -t 60 start \
    >/dev/null 2>&1 || die "PostgreSQL did not start: $(tail -n5 "$tmp/pg/server.log" 2>/dev/null)"
pgq() { psql -X -q -A -t -h 127.0.0.1 -p "$pg_port" -U bench -d "$1" -c "$2"; }
for db in peer inferd inferd_c inferd_s1 inferd_s2 inferd_s3 inferd_s4; do
    "$PGBIN/createdb" -h 127.0.0.1 -p "$pg_port" -U bench "$db" || die "createdb $db failed"
done
PEER_DSN="host=127.0.0.1 port=$pg_port dbname=peer user=bench"
INFERD_PG="postgres:host=127.0.0.1 port=$pg_port dbname=inferd user=bench"
pg_settings=$(pgq peer "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
    FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'wal_sync_method',
    'shared_buffers', 'full_page_writes', 'max_connections', 'commit_delay')")
note "PostgreSQL on 127.0.0.1:$pg_port${PGUSER_OS:+ (as $PGUSER_OS)}: $pg_settings"

# This disk's cost of one durable write (8 kB + fdatasync), the thing group commit amortises.
# Measured before and after the runs: virtual disks vary a lot from one moment to the next.
cat >"$tmp/fsync.py" <<'PYFS'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync.probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
buf = b"\0" * 8192
n, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < 2.0:
    os.pwrite(fd, buf, 0)
    os.fdatasync(fd)
    n += 1
print(f"{n / (time.perf_counter() - t0):.0f}")
os.close(fd)
os.unlink(p)
PYFS
fsync_before=$("$PYTHON" "$tmp/fsync.py" "$tmp")
note "this disk: $fsync_before fdatasync/s (8 kB, rewritten in place)"

# --- servers ---------------------------------------------------------------------------------------
port="" probe_pred=""

# Starts inferd with the given store and durability; 0, or 1 if it exits before listening.
# start_inferd NAME STORE DURABILITY [JOURNAL]: the journal is a fresh directory of its own unless
# JOURNAL says otherwise ("none": durable means the database's commit, as before issue 10).
start_inferd() {
    local name=$1 store=$2 durability=$3 journal=${4:-$tmp/$1.journal} log=$tmp/$1.log
    "$INFERD" serve --listen 127.0.0.1:0 --models "$tmp/models" --store "$store" \
        --durability "$durability" --journal "$journal" --access-log false 2>"$log" &
    server_pid=$!
    port=""
    for _ in $(seq 200); do
        port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
        [ -n "$port" ] && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            server_pid=""
            return 1
        fi
        sleep 0.05
    done
    die "$name: inferd did not report its port: $(cat "$log")"
}

# Starts the peer in MODE with WORKERS uvicorn workers; waits until every worker answers.
start_peer() {
    local name=$1 mode=$2 workers=$3 log=$tmp/$1.log
    port=$(free_port)
    SEED000_MODE=$mode SEED000_DSN=$PEER_DSN SEED000_POOL=$C "$PYTHON" -m uvicorn \
        --app-dir bench/peers seed000_app:app --host 127.0.0.1 --port "$port" \
        --workers "$workers" --no-access-log --log-level warning >"$log" 2>&1 &
    server_pid=$!
    local pids="" p
    for _ in $(seq 600); do
        kill -0 "$server_pid" 2>/dev/null || die "$name: uvicorn exited: $(tail -n20 "$log")"
        p=$(curl -s -m 2 "http://127.0.0.1:$port/health" |
            sed -n 's/.*"pid":\([0-9]*\).*/\1/p') || true
        [ -n "$p" ] && case " $pids " in *" $p "*) ;; *) pids="$pids $p" ;; esac
        [ "$(echo "$pids" | wc -w)" -ge "$workers" ] && return 0
        sleep 0.05
    done
    die "$name: only $(echo "$pids" | wc -w) of $workers uvicorn workers answered: $(tail -n20 "$log")"
}

# One POST: must be 200 with a prediction, and with the record's id where one is stored ($2 is
# not "no"). Keeps the prediction for the report.
probe() {
    local name=$1 stored=$2 out=$tmp/probe-$1 code
    code=$(curl -s -o "$out" -w '%{http_code}' -m 10 -H 'Content-Type: application/json' \
        --data-binary @"$tmp/body.json" "http://127.0.0.1:$port/inferences") || code=000
    [ "$code" = 200 ] || die "$name: POST /inferences answered $code: $(head -c 300 "$out")"
    grep -q '"prediction":' "$out" || die "$name: POST /inferences: no prediction: $(head -c 300 "$out")"
    [ "$stored" = no ] || grep -q '"id":"' "$out" ||
        die "$name: POST /inferences answered no record id: $(head -c 300 "$out")"
    probe_pred=$(sed -n 's/.*"prediction":\([0-9]*\).*"probabilities":\[\([0-9.e+-]*\),\([0-9.e+-]*\)\].*/\1 p1=\3/p' "$out")
}

# Rows stored so far for a counter ("sqlite:PATH", "pg:DB", "-"); "?" when the table is absent.
count_rows() {
    case $1 in
        sqlite:*) sqlite3 "${1#sqlite:}" 'SELECT count(*) FROM inferences' 2>/dev/null || echo '?' ;;
        pg:*) pgq "${1#pg:}" 'SELECT count(*) FROM inferences' 2>/dev/null || echo '?' ;;
        *) echo '-' ;;
    esac
}
# Counts once the figure has stopped moving (requests still in flight when the tool stopped,
# buffered records waiting for their flush).
settled_rows() {
    local a b
    a=$(count_rows "$1")
    [ "$a" = - ] || [ "$a" = '?' ] && { echo "$a"; return; }
    for _ in $(seq 25); do
        sleep 0.4
        b=$(count_rows "$1")
        [ "$b" = "$a" ] && break
        a=$b
    done
    echo "$a"
}

# CPU snapshot: "SERVER_S PG_S BUSY TOTAL": CPU seconds used so far by the server's process tree
# and by PostgreSQL's (reaped children included), and the machine's busy and total jiffies.
cat >"$tmp/cpu.py" <<'PYCPU'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
procs = {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    procs[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))  # ppid; utime stime cutime cstime
def tree(root):
    if root <= 0 or root not in procs:
        return 0.0
    todo, seen, t = [root], set(), 0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        t += procs[p][1]
        todo += [c for c, (pp, _) in procs.items() if pp == p]
    return t / tck
def thread(root, name):  # CPU seconds of the server's threads called name (the store's writer...)
    t = 0
    try:
        for tid in os.listdir(f"/proc/{root}/task"):
            try:
                if open(f"/proc/{root}/task/{tid}/comm").read().strip() == name:
                    f = open(f"/proc/{root}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
                    t += int(f[11]) + int(f[12])
            except OSError:
                pass
    except OSError:
        return 0.0
    return t / tck
cpu = open("/proc/stat").readline().split()[1:]
vals = [int(x) for x in cpu[:8]]
idle = vals[3] + vals[4]
srv = int(sys.argv[1])
print(f"{tree(srv):.3f} {tree(int(sys.argv[2])):.3f} {sum(vals) - idle} {sum(vals)} "
      f"{thread(srv, 'inferd-store'):.3f} {thread(srv, 'inferd-apply'):.3f}")
PYCPU
pg_master() { head -n1 "$tmp/pg/data/postmaster.pid" 2>/dev/null || echo 0; }
cpu_snap() { "$PYTHON" "$tmp/cpu.py" "${server_pid:-0}" "$(pg_master)"; }

# wrk latency ("812.00us", "1.20ms", "1.01s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    printf "%.2f", (u == "us" ? n / 1000 : u == "s" ? n * 1000 : u == "m" ? n * 60000 : n) }'; }

# From a wrk output file: req/s, a latency percentile in ms ("50%", "90%", "99%"), and the errors:
# socket errors, non-2xx/3xx, and (from post.lua) any other status than 200.
wrk_rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }
wrk_pct() { to_ms "$(awk -v p="$2" '$1 == p { print $2 }' "$1")"; }
wrk_bad() {
    awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { n += $5 } /^Not-200 responses:/ { n2 = $3 }
        END { print n + n2 }' "$1"
}

# --- one configuration: warm-up, ab, wrk, row counts -------------------------------------------
# results: one line per configuration, "|"-separated:
#  id|label|durable|ab_rps|ab_mean|ab_p50|ab_p95|ab_p99|ab_bad|ab_done|ab_rows|
#  wrk_rps|wrk_mean|wrk_p50|wrk_p90|wrk_p99|wrk_bad|wrk_done|wrk_rows|prediction|
#  server_cpu_us|pg_cpu_us|busy%|writer_cpu_us|applier_cpu_us (per wrk request)
: >"$tmp/results"
: >"$tmp/skipped"
: >"$tmp/problems"

measure() {
    local id=$1 label=$2 durable=$3 counter=$4 url="http://127.0.0.1:$port/inferences"
    probe "$id" "$durable"
    local pred=$probe_pred
    run_load wrk -t2 -c"$C" -d2s -s "$tmp/post.lua" "$url" >/dev/null  # warm-up

    local r0 r1 r2 ab=$tmp/ab-$id wk=$tmp/wrk-$id
    r0=$(settled_rows "$counter")
    # ab's N requests last a fraction of a second against inferd, so one run is mostly noise:
    # AB_RUNS runs, and the row reports the one with the median req/s (rows are checked against
    # the requests of all of them).
    note "$label: ab -n $N -c $C -l, $AB_RUNS runs"
    local i ab_all_done=0 ab_all_bad=0
    for i in $(seq "$AB_RUNS"); do
        run_load ab -n "$N" -c "$C" -l -p "$tmp/body.json" -T application/json "$url" >"$ab.$i" 2>&1 ||
            { echo "$label: ab run $i failed: $(tail -n3 "$ab.$i")" >>"$tmp/problems"; }
        ab_all_done=$((ab_all_done + $(awk '/^Complete requests:/ { print $3 }' "$ab.$i")))
        ab_all_bad=$((ab_all_bad + $(awk '/^Failed requests:/ { n += $3 } /^Non-2xx responses:/ { n += $3 } END { print n + 0 }' "$ab.$i")))
    done
    for i in $(seq "$AB_RUNS"); do
        echo "$(awk '/^Requests per second:/ { printf "%.0f", $4 }' "$ab.$i") $i"
    done | sort -n | awk -v n="$AB_RUNS" 'NR == int((n + 1) / 2) { print $2 }' >"$ab.median"
    cp "$ab.$(cat "$ab.median")" "$ab"
    r1=$(settled_rows "$counter")
    note "$label: wrk -t2 -c$C -d$DURATION --latency"
    local c0 c1
    c0=$(cpu_snap)
    run_load wrk -t2 -c"$C" -d"$DURATION" --latency -s "$tmp/post.lua" "$url" >"$wk" 2>&1 ||
        { echo "$label: wrk failed: $(tail -n3 "$wk")" >>"$tmp/problems"; }
    c1=$(cpu_snap)
    r2=$(settled_rows "$counter")

    local ab_rps ab_mean ab_p50 ab_p95 ab_p99 ab_bad ab_done
    ab_rps=$(awk '/^Requests per second:/ { printf "%.0f", $4 }' "$ab")
    ab_mean=$(awk '/^Time per request:/ && /\(mean\)$/ { printf "%.1f", $4 }' "$ab")
    ab_p50=$(awk '$1 == "50%" { print $2 }' "$ab")
    ab_p95=$(awk '$1 == "95%" { print $2 }' "$ab")
    ab_p99=$(awk '$1 == "99%" { print $2 }' "$ab")
    ab_done=$ab_all_done
    ab_bad=$ab_all_bad

    local w_rps w_mean w_p50 w_p90 w_p99 w_bad w_done
    w_rps=$(wrk_rps "$wk")
    w_mean=$(to_ms "$(awk '$1 == "Latency" { print $2; exit }' "$wk")")
    w_p50=$(wrk_pct "$wk" 50%)
    w_p90=$(wrk_pct "$wk" 90%)
    w_p99=$(wrk_pct "$wk" 99%)
    w_done=$(awk '/ requests in / { print $1 }' "$wk")
    w_bad=$(wrk_bad "$wk")

    local ab_rows=- w_rows=-
    if [ "$r0" != - ]; then
        if [ "$r0" = '?' ] || [ "$r1" = '?' ] || [ "$r2" = '?' ]; then ab_rows='?' w_rows='?'
        else ab_rows=$((r1 - r0)) w_rows=$((r2 - r1)); fi
    fi
    [ "${ab_bad:-0}" -eq 0 ] || echo "$label: ab: $ab_bad failed or non-2xx of $ab_done" >>"$tmp/problems"
    [ "${w_bad:-0}" -eq 0 ] || echo "$label: wrk: $w_bad errors or non-200 answers" >>"$tmp/problems"
    # Durable and buffered: every completed request is a row (ab: exactly; wrk stops with up to C
    # requests in flight, which the server may still complete and store). No store: no rows.
    if [ "$durable" != no ] && [ "$ab_rows" != - ]; then
        if [ "$ab_rows" = '?' ]; then
            echo "$label: rows not countable (no inferences table in the sink)" >>"$tmp/problems"
        else
            [ "$ab_rows" -eq "$ab_done" ] ||
                echo "$label: ab completed $ab_done requests, $ab_rows rows stored" >>"$tmp/problems"
            [ "$w_rows" -ge "$w_done" ] && [ "$w_rows" -le $((w_done + C)) ] ||
                echo "$label: wrk completed $w_done requests, $w_rows rows stored" >>"$tmp/problems"
        fi
    fi
    if [ "$durable" = no ] && [ "$ab_rows" != - ] && [ "$ab_rows" != '?' ] &&
        [ $((ab_rows + w_rows)) -ne 0 ]; then
        echo "$label: no store expected, $((ab_rows + w_rows)) rows appeared" >>"$tmp/problems"
    fi
    echo "rows check: ab $ab_done completed / $ab_rows stored; wrk $w_done completed / $w_rows stored" >&2

    # CPU per completed wrk request (server tree, PostgreSQL tree), how busy the machine was, and
    # the store's writer and applier threads' CPU per record (one record per request).
    local cpu
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$w_done" -v pg="$counter" 'BEGIN {
        split(a, x, " "); split(b, y, " "); n = (n > 0 ? n : 1)
        printf "%.0f|%s|%.0f|%.1f|%.1f", (y[1] - x[1]) * 1e6 / n,
            (pg ~ /^pg:/ ? sprintf("%.0f", (y[2] - x[2]) * 1e6 / n) : "-"),
            (y[4] > x[4] ? 100 * (y[3] - x[3]) / (y[4] - x[4]) : 0),
            (y[5] - x[5]) * 1e6 / n, (y[6] - x[6]) * 1e6 / n }')
    echo "$id|$label|$durable|$ab_rps|$ab_mean|$ab_p50|$ab_p95|$ab_p99|$ab_bad|$ab_done|$ab_rows|$w_rps|$w_mean|$w_p50|$w_p90|$w_p99|$w_bad|$w_done|$w_rows|$pred|$cpu" >>"$tmp/results"
}

# The store's own view of its commits (batch sizes, commit time), kept for the report.
store_metrics() {
    curl -s -m 5 "http://127.0.0.1:$port/metrics" | grep -E '^inferd_(store|journal)' >"$tmp/metrics-$1" || true
}

echo "Note: ab/wrk, the server under test and PostgreSQL share this machine's $(nproc) cores." >&2

# inferd --------------------------------------------------------------------------------------------
run_inferd() {
    local id=$1 label=$2 store=$3 durability=$4 durable=$5 counter=$6 journal=${7:-}
    if ! start_inferd "$id" "$store" "$durability" $journal; then
        return 1
    fi
    measure "$id" "$label" "$durable" "$counter"
    store_metrics "$id"
    stop_server
}
run_inferd inferd_durable_sqlite "inferd durable, SQLite" "sqlite:$tmp/durable.db" durable yes \
    "sqlite:$tmp/durable.db" || die "inferd did not start: $(cat "$tmp/inferd_durable_sqlite.log")"
pg_ok=yes
if ! run_inferd inferd_durable_pg "inferd durable, PostgreSQL" "$INFERD_PG" durable yes "pg:inferd"; then
    pg_ok=
    why=$(grep -v '^\s*$' "$tmp/inferd_durable_pg.log" | tail -n1)
    note "inferd has no usable PostgreSQL sink yet, skipping: $why"
    echo "inferd durable, PostgreSQL|inferd exited at start with \`--store postgres:...\`: \`$why\`" >>"$tmp/skipped"
fi
run_inferd inferd_committed_sqlite "inferd committed, SQLite" "sqlite:$tmp/committed.db" committed committed \
    "sqlite:$tmp/committed.db" || die "inferd did not start: $(cat "$tmp/inferd_committed_sqlite.log")"
run_inferd inferd_direct_sqlite "inferd durable, SQLite, --journal none" "sqlite:$tmp/direct.db" durable \
    yes "sqlite:$tmp/direct.db" none || die "inferd did not start: $(cat "$tmp/inferd_direct_sqlite.log")"
if [ -n "$pg_ok" ]; then
    run_inferd inferd_committed_pg "inferd committed, PostgreSQL" "${INFERD_PG/dbname=inferd/dbname=inferd_c}" committed committed "pg:inferd_c" ||
        echo "inferd committed, PostgreSQL|did not start: $(tail -n1 "$tmp/inferd_committed_pg.log")" >>"$tmp/skipped"
fi
run_inferd inferd_buffered_sqlite "inferd buffered, SQLite" "sqlite:$tmp/buffered.db" buffered buffered \
    "sqlite:$tmp/buffered.db" || die "inferd did not start: $(cat "$tmp/inferd_buffered_sqlite.log")"
run_inferd inferd_off "inferd off (--store none)" none durable no - ||
    die "inferd did not start: $(cat "$tmp/inferd_off.log")"

# wrk_extra NAME STORE CONNS [DURABILITY [JOURNAL]]: one wrk run of its own against inferd (STORE
# "none" for off; durability durable and a journal of its own by default): a 2 s warm-up, then
# wrk -cCONNS into $tmp/NAME, the store's metrics kept as metrics-NAME and the writer's and
# applier's CPU per request as cpu-NAME, errors reported as problems.
wrk_extra() {
    local name=$1 store=$2 conns=$3 dur=${4:-durable} journal=${5:-} url c0 c1 n
    start_inferd "$name" "$store" "$dur" $journal || die "inferd did not start: $(cat "$tmp/$name.log")"
    url="http://127.0.0.1:$port/inferences"
    note "$name (--store $store): wrk -t2 -c$conns -d$DURATION --latency"
    run_load wrk -t2 -c"$conns" -d2s -s "$tmp/post.lua" "$url" >/dev/null
    c0=$(cpu_snap)
    run_load wrk -t2 -c"$conns" -d"$DURATION" --latency -s "$tmp/post.lua" "$url" >"$tmp/$name" 2>&1 ||
        echo "$name: wrk failed: $(tail -n3 "$tmp/$name")" >>"$tmp/problems"
    c1=$(cpu_snap)
    n=$(awk '/ requests in / { print $1 }' "$tmp/$name")
    awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { split(a, x, " "); split(b, y, " "); n = (n > 0 ? n : 1)
        printf "%.1f %.1f %.1f\n", (y[5] - x[5]) * 1e6 / n, (y[6] - x[6]) * 1e6 / n, (y[1] - x[1]) * 1e6 / n }' >"$tmp/cpu-$name"
    store_metrics "$name"
    stop_server
    local bad
    bad=$(wrk_bad "$tmp/$name")
    [ "${bad:-0}" -eq 0 ] || echo "$name: wrk: $bad errors or non-200 answers" >>"$tmp/problems"
}

# inferd durable vs off as concurrency grows: a closed loop of C clients leaves about C/2 requests
# waiting for each journal fsync, so the group (and what its fsync costs per record) depends on C.
# Committed and PostgreSQL rows too (PostgreSQL only when its main run worked).
: >"$tmp/sweep"
for c in $SWEEP_C; do
    wrk_extra "sweep_durable_$c" "sqlite:$tmp/sweep-$c.db" "$c"
    wrk_extra "sweep_off_$c" none "$c"
    wrk_extra "sweep_committed_$c" "sqlite:$tmp/sweep-c-$c.db" "$c" committed
    pg_d=- pg_c=-
    if [ -n "$pg_ok" ]; then
        wrk_extra "sweep_pgdurable_$c" "${INFERD_PG/dbname=inferd/dbname=inferd_s1}" "$c"
        wrk_extra "sweep_pgcommitted_$c" "${INFERD_PG/dbname=inferd/dbname=inferd_s2}" "$c" committed
        pg_d=$(wrk_rps "$tmp/sweep_pgdurable_$c") pg_c=$(wrk_rps "$tmp/sweep_pgcommitted_$c")
    fi
    echo "$c|$(wrk_rps "$tmp/sweep_off_$c")|$(wrk_rps "$tmp/sweep_durable_$c")|$(wrk_pct "$tmp/sweep_off_$c" 99%)|$(wrk_pct "$tmp/sweep_durable_$c" 99%)|$(wrk_rps "$tmp/sweep_committed_$c")|$pg_d|$pg_c" >>"$tmp/sweep"
done

# inferd durable on the null sink: the same queue, group commit and callbacks, no database, each
# commit a sleep of US microseconds. Separates the database's CPU from the commit latency's cost.
: >"$tmp/nullsink"
for us in $NULL_US; do
    wrk_extra "null_$us" "null:$us" "$C" durable none
    echo "$us|$(wrk_rps "$tmp/null_$us")|$(wrk_pct "$tmp/null_$us" 99%)" >>"$tmp/nullsink"
done

# inferd off and durable at fixed offered rates: h2load paces each connection at rate/RATE_C
# requests a second, so a slower answer shows as latency (and as a shortfall in req/s only once
# the server cannot keep up), unlike wrk's closed loop where every client waits for its answer.
: >"$tmp/rates"
for rate in $RATES; do
    for mode in off durable; do
        store="sqlite:$tmp/rate-$rate.db"
        [ $mode = off ] && store=none
        start_inferd "rate_${mode}_$rate" "$store" durable ||
            die "inferd did not start: $(cat "$tmp/rate_${mode}_$rate.log")"
        note "inferd $mode: h2load --h1 -c$RATE_C --rps $((rate / RATE_C)) -D ${DURATION%s}"
        run_load h2load --h1 -c"$RATE_C" --rps $((rate / RATE_C)) -D "${DURATION%s}" \
            --warm-up-time 2 -d "$tmp/body.json" -H "Content-Type: application/json" \
            "http://127.0.0.1:$port/inferences" >"$tmp/rate-$mode-$rate" 2>&1 ||
            echo "rate $rate $mode: h2load failed: $(tail -n3 "$tmp/rate-$mode-$rate")" >>"$tmp/problems"
        stop_server
        # "status codes: N 2xx, ..." and "requests: ... N failed, N errored, N timeout"
        bad=$(awk '/^status codes:/ { n += $5 + $7 + $9 } /^requests:/ { n += $10 + $12 + $14 } END { print n + 0 }' \
            "$tmp/rate-$mode-$rate")
        [ "${bad:-0}" -eq 0 ] ||
            echo "rate $rate $mode: h2load: $bad failed or non-2xx requests" >>"$tmp/problems"
    done
    # "finished in 10.00s, 59970.88 req/s, ..." and "time for request: MIN MAX MEAN SD ..." (lat 1-3)
    got() { awk '/^finished in/ { printf "%.0f", $4 }' "$tmp/rate-$1-$rate"; }
    lat() { awk -v k="$2" '/^time for request:/ { print $(3 + k) }' "$tmp/rate-$1-$rate"; }
    echo "$rate|$(got off)|$(to_ms "$(lat off 3)")|$(got durable)|$(to_ms "$(lat durable 3)")|$(to_ms "$(lat durable 2)")" >>"$tmp/rates"
done

# the peer ------------------------------------------------------------------------------------------
for run in $PEER_RUNS; do
    mode=${run%%:*} workers=${run#*:}
    case $mode in
        db) label="FastAPI psycopg2" durable=yes counter=pg:peer ;;
        asyncpg) label="FastAPI asyncpg" durable=yes counter=pg:peer ;;
        dbnosync) label="FastAPI psycopg2, sync_commit=off" durable=nosync counter=pg:peer ;;
        nodb) label="FastAPI no db" durable=no counter=- ;;
        *) die "PEER_RUNS: unknown mode $mode (db, asyncpg, dbnosync, nodb)" ;;
    esac
    label="$label, ${workers}w"
    start_peer "peer_${mode}_$workers" "$mode" "$workers"
    measure "peer_${mode}_$workers" "$label" "$durable" "$counter"
    stop_server
done

fsync_after=$("$PYTHON" "$tmp/fsync.py" "$tmp")
note "this disk after the runs: $fsync_after fdatasync/s"

# --- report ----------------------------------------------------------------------------------------
field() { awk -F'|' -v id="$1" -v k="$2" '$1 == id { print $k }' "$tmp/results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
kind_of() {
    case $1 in yes) echo durable ;; committed) echo "committed" ;; buffered) echo "acked before commit" ;; nosync) echo "acked before WAL flush" ;; *) echo "not stored" ;; esac
}

table_ab() {
    echo "| configuration | durability | req/s | mean (ms) | p50 (ms) | p95 (ms) | p99 (ms) | failed + non-2xx | rows stored / completed |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|"
    while IFS='|' read -r _ label durable rps mean p50 p95 p99 bad ndone rows _; do
        echo "| $label | $(kind_of "$durable") | **$rps** | $mean | $p50 | $p95 | $p99 | $bad | $rows / $ndone |"
    done <"$tmp/results"
}
table_wrk() {
    echo "| configuration | durability | req/s | mean (ms) | p50 (ms) | p90 (ms) | p99 (ms) | errors + non-200 | rows stored / completed | server CPU µs/req | of which store writer | of which journal applier | PostgreSQL CPU µs/req | machine busy |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    while IFS='|' read -r _ label durable _ _ _ _ _ _ _ _ rps mean p50 p90 p99 bad ndone rows _ scpu pcpu busy wcpu acpu; do
        echo "| $label | $(kind_of "$durable") | **$rps** | $mean | $p50 | $p90 | $p99 | $bad | $rows / $ndone | $scpu | $wcpu | $acpu | $pcpu | $busy% |"
    done <"$tmp/results"
}

# Best durable peer row per tool (psycopg2 or asyncpg, any worker count).
best_peer() { awk -F'|' -v k="$1" '$1 ~ /^peer_(db|asyncpg)_/ && $k + 0 > m { m = $k + 0; id = $1 } END { print id }' "$tmp/results"; }
ab_best=$(best_peer 4) wrk_best=$(best_peer 12)
ratios() {
    local d=inferd_durable_sqlite off=inferd_off seedpeer=peer_db_1
    echo "| ratio | aim | ab | wrk |"
    echo "|---|--:|--:|--:|"
    echo "| inferd durable (SQLite) / inferd off | >= 0.8 | **$(ratio "$(field $d 4)" "$(field $off 4)")** | **$(ratio "$(field $d 12)" "$(field $off 12)")** |"
    if [ -n "$(field inferd_durable_pg 4)" ]; then
        echo "| inferd durable (PostgreSQL) / inferd off | >= 0.8 | **$(ratio "$(field inferd_durable_pg 4)" "$(field $off 4)")** | **$(ratio "$(field inferd_durable_pg 12)" "$(field $off 12)")** |"
    fi
    echo "| inferd buffered (SQLite) / inferd off | | $(ratio "$(field inferd_buffered_sqlite 4)" "$(field $off 4)") | $(ratio "$(field inferd_buffered_sqlite 12)" "$(field $off 12)") |"
    if [ -n "$(field $seedpeer 4)" ]; then
        echo "| inferd durable (SQLite) / FastAPI psycopg2, 1w (the seed's 320 req/s setup) | >= 50 | **$(ratio "$(field $d 4)" "$(field $seedpeer 4)")** | **$(ratio "$(field $d 12)" "$(field $seedpeer 12)")** |"
    fi
    if [ -n "$ab_best" ]; then
        echo "| inferd durable (SQLite) / best durable FastAPI row (ab: $(field "$ab_best" 2); wrk: $(field "$wrk_best" 2)) | >= 50 | **$(ratio "$(field $d 4)" "$(field "$ab_best" 4)")** | **$(ratio "$(field $d 12)" "$(field "$wrk_best" 12)")** |"
    fi
    if [ -n "$(field inferd_durable_pg 4)" ] && [ -n "$ab_best" ]; then
        echo "| inferd durable (PostgreSQL) / best durable FastAPI row | >= 50 | **$(ratio "$(field inferd_durable_pg 4)" "$(field "$ab_best" 4)")** | **$(ratio "$(field inferd_durable_pg 12)" "$(field "$wrk_best" 12)")** |"
    fi
    if [ -n "$(field peer_db_1 4)" ] && [ -n "$(field peer_nodb_1 4)" ]; then
        echo "| FastAPI psycopg2, 1w / FastAPI no db, 1w (seed: 320 / 1,087 = 0.29) | | $(ratio "$(field peer_db_1 4)" "$(field peer_nodb_1 4)") | $(ratio "$(field peer_db_1 12)" "$(field peer_nodb_1 12)") |"
    fi
}

# Durable vs off by wrk connections: the main run's C, then the sweep's.
table_sweep() {
    echo "| wrk connections | inferd off req/s | durable (SQLite) req/s | durable / off | committed (SQLite) req/s | durable / committed | durable (PostgreSQL) req/s | committed (PostgreSQL) req/s | records per journal fsync | journal fsync (ms) | writer CPU µs/record | off p99 (ms) | durable p99 (ms) |"
    echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    local d=inferd_durable_sqlite off=inferd_off cm=inferd_committed_sqlite
    echo "| $C | $(field $off 12) | $(field $d 12) | **$(ratio "$(field $d 12)" "$(field $off 12)")** | $(field $cm 12) | **$(ratio "$(field $d 12)" "$(field $cm 12)")** | $(field inferd_durable_pg 12) | $(field inferd_committed_pg 12) | $(group_of $d) | $(fsync_ms_of $d) | $(field $d 24) | $(field $off 16) | $(field $d 16) |"
    while IFS='|' read -r c off_rps d_rps off_p99 d_p99 c_rps pgd_rps pgc_rps; do
        echo "| $c | $off_rps | $d_rps | **$(ratio "$d_rps" "$off_rps")** | $c_rps | **$(ratio "$d_rps" "$c_rps")** | $pgd_rps | $pgc_rps | $(group_of "sweep_durable_$c") | $(fsync_ms_of "sweep_durable_$c") | $(cut -d' ' -f1 "$tmp/cpu-sweep_durable_$c") | $off_p99 | $d_p99 |"
    done <"$tmp/sweep"
}
# mean_of NAME HISTOGRAM SCALE FORMAT: a histogram's mean (sum / count) from the metrics kept for
# configuration NAME, times SCALE, printed with FORMAT; "-" when it has no observations.
mean_of() {
    awk -v h="$2" -v k="$3" -v f="$4" '$1 ~ "^" h "_sum" { s = $2 } $1 ~ "^" h "_count" { n = $2 }
         END { if (n > 0) printf f, k * s / n; else print "-" }' "$tmp/metrics-$1" 2>/dev/null || echo -
}
# The journal: records per append (one write each) and an append's mean time in ms.
group_of() { mean_of "$1" inferd_journal_append_records 1 %.1f; }
fsync_ms_of() { mean_of "$1" inferd_journal_fsync_seconds 1000 %.3f; }

# Issue 10's aims, each from this run.
aims_journal() {
    local d=inferd_durable_sqlite off=inferd_off cm=inferd_committed_sqlite c256 r
    echo "| aim (wrk) | target | this run |"
    echo "|---|--:|--:|"
    echo "| durable (journal, SQLite) / off at -c$C | >= 0.70 | **$(ratio "$(field $d 12)" "$(field $off 12)")** |"
    c256=$(awk -F'|' '$1 == 256' "$tmp/sweep")
    if [ -n "$c256" ]; then
        echo "| durable (journal, SQLite) / off at -c256 | >= 0.85 | **$(ratio "$(echo "$c256" | cut -d'|' -f3)" "$(echo "$c256" | cut -d'|' -f2)")** |"
    fi
    echo "| durable / committed (SQLite) at -c$C | >= 1.3 | **$(ratio "$(field $d 12)" "$(field $cm 12)")** |"
    echo "| the store's writer thread, CPU per record (durable, SQLite, -c$C) | <= 1 µs | **$(field $d 24) µs** |"
    r=$(awk -F'|' '$1 == 0 { print $2 }' "$tmp/nullsink")
    [ -z "$r" ] || echo "| completion path alone (\`null:0\`, --journal none) / off at -c$C | >= 0.9 | **$(ratio "$r" "$(field $off 12)")** |"
    echo "| durable (journal) / durable (--journal none), SQLite, at -c$C | | $(ratio "$(field $d 12)" "$(field inferd_direct_sqlite 12)") |"
    [ -z "$(field inferd_durable_pg 12)" ] || echo "| durable (journal, PostgreSQL) / off at -c$C | | $(ratio "$(field inferd_durable_pg 12)" "$(field $off 12)") |"
    [ -z "$(field inferd_committed_pg 12)" ] || echo "| durable / committed (PostgreSQL) at -c$C | | $(ratio "$(field inferd_durable_pg 12)" "$(field inferd_committed_pg 12)") |"
}
# The store's commits (the applier's, with a journal): records per commit and its mean time in ms.
batch_of() { mean_of "$1" inferd_store_commit_batch_records 1 %.1f; }
commit_ms_of() { mean_of "$1" inferd_store_commit_seconds 1000 %.2f; }

# Durable on SQLite against durable on the null sink with fixed commit times, all at $C connections.
table_null() {
    local off=inferd_off d=inferd_durable_sqlite
    echo "| inferd durable, store | commit (ms, measured) | req/s | / off | records per commit | p99 (ms) |"
    echo "|---|--:|--:|--:|--:|--:|"
    echo "| SQLite (the main run) | $(commit_ms_of $d) | $(field $d 12) | **$(ratio "$(field $d 12)" "$(field $off 12)")** | $(batch_of $d) | $(field $d 16) |"
    while IFS='|' read -r us rps p99; do
        echo "| \`null:$us\` (no database; each commit sleeps $us µs) | $(commit_ms_of "null_$us") | $rps | **$(ratio "$rps" "$(field $off 12)")** | $(batch_of "null_$us") | $p99 |"
    done <"$tmp/nullsink"
}

# Off and durable at fixed offered rates.
table_rates() {
    echo "| offered req/s | off: served req/s | off mean (ms) | durable: served req/s | durable mean (ms) | durable max (ms) | durable / off |"
    echo "|--:|--:|--:|--:|--:|--:|--:|"
    while IFS='|' read -r rate off_rps off_mean d_rps d_mean d_max; do
        echo "| $rate | $off_rps | $off_mean | $d_rps | $d_mean | $d_max | **$(ratio "$d_rps" "$off_rps")** |"
    done <"$tmp/rates"
}

# Commit batches from /metrics: "N commits, mean B records/commit, mean T ms/commit".
commit_stats() {
    local f=$tmp/metrics-$1
    [ -s "$f" ] || { echo "no inferd_store metrics"; return; }
    awk '/^inferd_store_commit_batch_records_sum/ { bs = $2 } /^inferd_store_commit_batch_records_count/ { bc = $2 }
         /^inferd_store_commit_seconds_sum/ { ts = $2 } /^inferd_store_commit_seconds_count/ { tc = $2 }
         /^inferd_store_records_written_total/ { w = $2 }
         END { if (bc > 0) printf "%d records in %d commits: %.1f records per commit, %.2f ms per commit", w, bc, bs / bc, (tc > 0 ? ts / tc * 1000 : 0)
               else print "no commits recorded" }' "$f"
}

# Plot data: label, ab req/s, wrk req/s.
awk -F'|' '{ printf "\"%s\" %s %s\n", $2, ($4 == "" ? "?" : $4), ($12 == "" ? "?" : $12) }' "$tmp/results" |
    sed '1i # configuration ab_rps wrk_rps' >"$tmp/plot.dat"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
v_inferd="$("$INFERD" --version) (git $(git describe --always --dirty 2>/dev/null || echo unknown))"
v_py=$("$PYTHON" - <<'EOF'
import platform, fastapi, starlette, pydantic, uvicorn, sklearn, numpy, psycopg2, asyncpg
parts = [f"Python {platform.python_version()}", f"FastAPI {fastapi.__version__}",
         f"Starlette {starlette.__version__}", f"pydantic {pydantic.VERSION}",
         f"uvicorn {uvicorn.__version__}", f"scikit-learn {sklearn.__version__}",
         f"NumPy {numpy.__version__}", f"psycopg2 {psycopg2.__version__.split()[0]}",
         f"asyncpg {asyncpg.__version__}"]
try:
    import uvloop, httptools
    parts.append(f"uvloop {uvloop.__version__} + httptools {httptools.__version__} (uvicorn[standard])")
except ImportError:
    parts.append("asyncio + h11 (no uvloop/httptools)")
print(", ".join(parts))
EOF
)
v_pg=$("$PGBIN/postgres" --version)
v_ab=$(ab -V 2>&1 | sed -n 's/^This is ApacheBench, Version \([^ ]*\).*/ApacheBench \1/p')
v_wrk=$(wrk -v 2>&1 | head -n1 | sed 's/ *Copyright.*//' || true)
cmd="\`bash bench/seed000.sh\`"
envs=""
[ "$DURATION" = 15s ] || envs+="DURATION=$DURATION "
[ "$N" = 1000 ] || envs+="N=$N "
[ "$AB_RUNS" = 5 ] || envs+="AB_RUNS=$AB_RUNS "
[ "$C" = 50 ] || envs+="C=$C "
[ "$PEER_RUNS" = "db:1 asyncpg:4 db:4 dbnosync:1 nodb:1" ] || envs+="PEER_RUNS=\"$PEER_RUNS\" "
[ "$SWEEP_C" = "256 1000" ] || envs+="SWEEP_C=\"$SWEEP_C\" "
[ "$NULL_US" = "0 100 300" ] || envs+="NULL_US=\"$NULL_US\" "
[ "$RATES" = "30000 60000 90000" ] || envs+="RATES=\"$RATES\" "
[ "$RATE_C" = 200 ] || envs+="RATE_C=$RATE_C "
[ -z "$envs" ] || cmd="\`${envs}bash bench/seed000.sh\`"

mkdir -p "$(dirname "$PNG")"
gnuplot -c bench/plot_seed000.gp "$tmp/plot.dat" "$PNG" "$(nproc) shared cores, $cpu, $when" "$C"

problems() {
    if [ -s "$tmp/problems" ]; then
        echo "**Problems found in this run** (each is a failed check):"
        echo
        sed 's/^/- /' "$tmp/problems"
    else
        echo "**Checks passed:** every answer was 200 (ab: 0 failed, 0 non-2xx; wrk: 0 socket errors,"
        echo "0 non-200), and for every stored configuration the rows counted in SQLite/PostgreSQL"
        echo "equal the requests ab completed, and lie between the requests wrk completed and that plus"
        echo "$C (requests in flight when wrk stopped, which the server still finishes and stores)."
    fi
    if [ -s "$tmp/skipped" ]; then
        echo
        while IFS='|' read -r what why; do echo "**Skipped:** $what: $why."; done <"$tmp/skipped"
    fi
}

reading() {
    local d=inferd_durable_sqlite b=inferd_buffered_sqlite off=inferd_off
    local d_wrk b_wrk off_wrk
    d_wrk=$(field $d 12) b_wrk=$(field $b 12) off_wrk=$(field $off 12)
    pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
    local r_off r_peer met_off met_peer
    r_off=$(ratio "$d_wrk" "$off_wrk") r_peer=$(ratio "$d_wrk" "$(field "$wrk_best" 12)")
    met_off=$(awk -v r="$r_off" 'BEGIN { print (r != "n/a" && r + 0 >= 0.8 ? "met" : "**not met**") }')
    met_peer=$(awk -v r="$r_peer" 'BEGIN { print (r != "n/a" && r + 0 >= 50 ? "met" : "**not met**") }')
    local r_off_ab met_off_ab
    r_off_ab=$(ratio "$(field $d 4)" "$(field $off 4)")
    met_off_ab=$(awk -v r="$r_off_ab" 'BEGIN { print (r != "n/a" && r + 0 >= 0.8 ? "met" : "**not met**") }')
    echo "- **Against issue 4's aims (wrk):** durable/off >= 0.8: $met_off ($r_off; with ab, the seed's"
    echo "  command: $met_off_ab, $r_off_ab); durable vs the rebuilt stack's best durable row >= 50x:"
    echo "  $met_peer (${r_peer}x). Issue 10 restated the first (the aims table above)."
    echo "- **Durable vs off (wrk, the steady-state figure):** inferd durable keeps $(pct "$d_wrk" "$off_wrk") of"
    echo "  its no-store throughput ($d_wrk vs $off_wrk req/s; the aim is 80%) while answering only after"
    echo "  the journal's fsync ($(group_of $d) records per fsync, $(fsync_ms_of $d) ms each). Its applier fed SQLite"
    echo "  $(commit_stats $d) over the whole durable run."
    local c_off c_b c_d
    c_off=$(field $off 21) c_b=$(field $b 21) c_d=$(field $d 21)
    echo "  The server's CPU per request (all its threads) says where the difference goes: $c_off µs off,"
    echo "  $c_b µs buffered, $c_d µs durable (machine $(field $off 23)% / $(field $b 23)% / $(field $d 23)% busy). Recording a"
    echo "  prediction at all costs $((c_b - c_off)) µs (the record's JSON, the journal append, the SQLite"
    echo "  applier: $(field $b 25) µs of it), durable acknowledgement $((c_d - c_b)) µs more (many small journal appends, one write each,"
    echo "  instead of a few large ones: the writer took $(field $d 24) µs per record against $(field $b 24) buffered,"
    echo "  and handing every group back to the connections' loops)."
    echo "  With wrk on the same 2 cores the machine is CPU-bound, so extra CPU per request is lost"
    echo "  throughput (diluted by wrk's own CPU, the same per request in every row)."
    echo "  Buffered reached $(pct "$b_wrk" "$off_wrk") of off in this run."
    echo "- **The ceiling storing leaves on these cores: buffered.** Buffered does all of durable's"
    echo "  storing work (JSON, journal, SQLite) but answers before any of it, so it pays no wait:"
    echo "  its $(pct "$b_wrk" "$off_wrk") of off is what durable could reach if the journal's write cost no time at"
    echo "  all. Durable's aim of 70% at $C connections is at or above that line: what is left to win"
    echo "  there is CPU per record (the applier's SQLite inserts above all), not the wait."
    if [ -s "$tmp/nullsink" ]; then
        echo "- **What the wait costs without a database** (\`--journal none\` on the null sink: the"
        echo "  same queue, group commit and callbacks, commits that only sleep): $(while IFS='|' read -r us rps _; do printf ' %s of off at %s µs (measured %s ms per commit);' "$(pct "$rps" "$off_wrk")" "$us" "$(commit_ms_of "null_$us")"; done <"$tmp/nullsink")"
        echo "  the journal's write took $(fsync_ms_of $d) ms per group in the durable run (a flush on this disk"
        echo "  $(awk -v a="$fsync_before" -v b="$fsync_after" 'BEGIN { x = 1000 / a; y = 1000 / b; if (x > y) { t = x; x = y; y = t }; printf "%.3f-%.3f", x, y }') ms). wrk is a closed loop: a client whose request waits sends nothing"
        echo "  meanwhile, so the wait is lost throughput even where CPU is idle. The sweep table shows"
        echo "  groups growing with the connection count, and the writer's CPU per record falling with them."
    fi
    if [ -s "$tmp/rates" ]; then
        echo "- **At a fixed offered rate the aim's question has a different answer.** With traffic that"
        echo "  does not wait for its answers (h2load, $RATE_C connections each at its own pace), durable"
        echo "  serves what off serves until its writer is saturated, paying in latency instead:"
        while IFS='|' read -r rate off_rps off_mean d_rps d_mean _; do
            echo "  $rate req/s offered: off $off_rps, durable $d_rps ($(ratio "$d_rps" "$off_rps")), mean $off_mean vs $d_mean ms;"
        done <"$tmp/rates"
        echo "  the closed-loop wrk figure above is the one where latency turns into lost throughput."
    fi
    echo "- **ab** rows are $N requests on new connections and last a fraction of a second for inferd,"
    echo "  so they mostly measure connection setup, and even the median of $AB_RUNS runs is noisy"
    echo "  (durable/off with ab: $(pct "$(field $d 4)" "$(field $off 4)")). They are there because they are the seed's command."
    if [ -n "$ab_best" ]; then
        echo "- **inferd durable vs the rebuilt stack:** $(ratio "$d_wrk" "$(field "$wrk_best" 12)")x the best durable"
        echo "  FastAPI row with wrk ($(field "$wrk_best" 2)), $(ratio "$(field $d 4)" "$(field "$ab_best" 4)")x with ab ($(field "$ab_best" 2));"
        if [ -n "$(field peer_db_1 12)" ]; then
            echo "  $(ratio "$d_wrk" "$(field peer_db_1 12)")x / $(ratio "$(field $d 4)" "$(field peer_db_1 4)")x against the seed's own setup"
            echo "  (psycopg2, one worker)."
        fi
        echo "  The peer makes one INSERT and one COMMIT round trip per request, each commit waiting for"
        echo "  its WAL flush (PostgreSQL lets commits that wait at the same moment share a flush), on top"
        echo "  of its Python request path; inferd's group commit writes every record that arrived while"
        echo "  the previous commit ran in one transaction and one fsync, from one thread."
    fi
    if [ -n "$(field peer_nodb_1 12)" ]; then
        echo "- **The peer without its database** ($(field peer_nodb_1 12) req/s with wrk, $(field peer_nodb_1 21) µs"
        echo "  CPU per request) is $(ratio "$d_wrk" "$(field peer_nodb_1 12)")x below inferd durable: here the Python"
        echo "  request path (uvicorn, FastAPI, pydantic, a scikit-learn predict + predict_proba on one"
        echo "  row) is the first limit, the commit the second."
    fi
    if [ -n "$(field peer_db_1 4)" ] && [ -n "$(field peer_nodb_1 4)" ]; then
        echo "- **The peer's database share:** the seed's durable/no-db ratio was 320/1,087 = 0.29; the"
        echo "  rebuilt stack's here is $(ratio "$(field peer_db_1 4)" "$(field peer_nodb_1 4)") with ab and $(ratio "$(field peer_db_1 12)" "$(field peer_nodb_1 12)") with wrk (psycopg2 and no db, one worker each)."
        echo "  A flush on this disk took $(awk -v a="$fsync_before" -v b="$fsync_after" 'BEGIN { printf "%.3f-%.3f", 1000 / (a > b ? a : b), 1000 / (a > b ? b : a) }') ms during this run: the smaller"
        echo "  that is, the less the peer's per-request commit (and synchronous_commit=off's saving)"
        echo "  weighs against its Python request path."
    fi
    if [ -n "$d_wrk" ]; then
        echo "- **Across machines, for scale only:** inferd durable here against the seed's published"
        echo "  320 req/s durable is $(ratio "$d_wrk" 320)x (wrk) / $(ratio "$(field $d 4)" 320)x (ab); different hardware, so not a ratio to"
        echo "  hold inferd to. The same-machine ratios above are the ones that count."
    fi
}

if [ -n "$(field inferd_durable_pg 4)" ]; then
    pg_note="- **inferd durable, PostgreSQL:** \`--store postgres:host=127.0.0.1 port=P dbname=inferd user=bench\`, the same private server as the peer; $(commit_stats inferd_durable_pg)."
else
    pg_note="- **inferd durable, PostgreSQL:** skipped, see below."
fi

cat >"$tmp/section.md" <<EOF
$SECTION

Seed 000's workload: \`POST /inferences\` with one 30-feature row of sklearn's breast-cancer
data, a StandardScaler + LogisticRegression prediction, one stored record per request, the
record returned. inferd serves \`$MODEL_ONNX\` (the same pipeline exported to ONNX); the peer is
the seed's stack rebuilt from Debian packages (\`bench/peers/seed000_app.py\`, see
\`bench/peers/README.md\`): FastAPI on uvicorn, the pipeline trained at start in scikit-learn
(fixed seed; both answer the probe row with prediction $(field inferd_durable_sqlite 20 | cut -d' ' -f1),
p1 $(field inferd_durable_sqlite 20 | sed 's/.*p1=//') for inferd, $(field "${ab_best:-peer_db_1}" 20 | sed 's/.*p1=//') for the peer), one INSERT into
PostgreSQL 15 per request.

- **Command:** $cmd; ab: \`ab -n $N -c $C -l -p body.json -T application/json\` (the seed's,
  no keep-alive: a new connection per request); wrk: \`wrk -t2 -c$C -d$DURATION --latency\`
  with a Lua script that POSTs the body (keep-alive). A 2 s wrk warm-up precedes each server's
  runs.
- **Date:** $when
- **Machine:** $(nproc) CPUs, $cpu, Linux $(uname -r); load average $load_start when the
  script started, $(cut -d" " -f1-3 /proc/loadavg) at the end (anything above ~2 means other work shared the
  cores); databases on ext4 on a virtual disk that
  did **$fsync_before fdatasync/s before the runs and $fsync_after after** (8 kB rewritten in
  place, 2 s each, measured by the script): one flush costs
  $(awk -v a="$fsync_before" -v b="$fsync_after" 'BEGIN { x = 1000 / a; y = 1000 / b; if (x > y) { t = x; x = y; y = t }; printf "%.3f to %.3f", x, y }') ms, and varies.
- **Versions:** $v_inferd; $v_py; $v_pg; $v_ab; $v_wrk
- **PostgreSQL:** a private cluster (initdb in a temp dir, 127.0.0.1 only, run as
  ${PGUSER_OS:-the calling user}), defaults except max_connections: $pg_settings.
- **inferd:** \`serve --store sqlite:PATH --durability committed|durable|buffered --journal DIR
  --access-log false\`, default threads (one event loop and one compute worker per core); SQLite
  in WAL mode with synchronous=FULL. *durable* (the default) answers after the fdatasync of
  inferd's journal holding the record (group commit, docs/journal.md), and the journal's applier
  feeds the database in large transactions; *committed* answers after the database's own commit
  of the record; *durable, --journal none* is durable before issue 10 (the database's commit,
  group commit); *buffered* answers at once and journals within 50 ms; *off* is
  \`--store none\` (the seed's no-db).
$pg_note
- **Peer:** uvicorn \`--workers W\` (\`Nw\` in the tables). The seed states no worker count for
  its db/no-db runs, so those run with 1; its sync-vs-async comparison states 4 workers and a pool
  of 50, so psycopg2 and asyncpg also run with 4 workers and a pool of $C per worker. *sync_commit=off*
  is the seed's "experimental" setting (\`SET synchronous_commit = off\` on the peer's connections):
  acknowledged before the WAL flush, so not durable.
- **Shared cores:** the load tool, the server, and PostgreSQL share the same $(nproc) cores,
  unpinned; absolute figures are far below a real server's. The ratios are the figures, and
  each is one run: on a shared VM, differences of less than about 30% between two rows are
  within run-to-run noise (the CPU per request columns are steadier than req/s).
- **The seed's own figures** (Docker, PostgreSQL 15, ab -n 1000 -c 50, their machine):
  320 req/s durable (psycopg2, synchronous_commit=on, mean 156 ms), 1,087 req/s without the
  database (46 ms), 511 req/s with synchronous_commit=off; with 4 workers 483 req/s psycopg2 and
  730 req/s asyncpg (68 ms).

**ab** (\`-n $N -c $C -l\`, the seed's tool, run $AB_RUNS times per configuration: each row is the run
with the median req/s, "rows stored / completed" counts all runs; mean = ab's "time per request" = c / throughput;
percentiles are ab's total connect-to-last-byte times, whole milliseconds):

$(table_ab)

**wrk** (\`-t2 -c$C -d$DURATION --latency\`; mean is wrk's latency average; wrk reports
p50/p90/p99, not p95):

$(table_wrk)

"rows stored / completed": rows that appeared in the database during that tool's run, against the
requests the tool reports as completed; "-" = nothing is stored.

$(problems)

**Ratios** (req/s over req/s):

$(ratios)

**Issue 10's aims** (the journal; the rows they come from are above and below):

$(aims_journal)

The writer's CPU is the \`inferd-store\` thread's user + system time over the wrk run (from
/proc) divided by the requests wrk completed, one record each; the SQLite applier
(\`inferd-apply\`) took $(field inferd_durable_sqlite 25) µs per record more in the same run.

**Durable vs off as concurrency grows** (wrk, \`-t2 -d$DURATION\`, inferd only; the first row is
the main run above, the others separate runs of their own):

$(table_sweep)

**What the commit's latency alone costs** (wrk \`-t2 -c$C -d$DURATION\`; inferd durable with
\`--store null:US\`, a sink that keeps nothing and sleeps US µs per commit, against off in the
main run):

$(table_null)

**At a fixed offered rate** (h2load \`--h1 -c$RATE_C --rps RATE/$RATE_C -D ${DURATION%s} --warm-up-time 2\`:
each connection sends at its own pace whether or not answers have come back, as traffic from
many independent clients does; h2load reports min/max/mean/sd, no percentiles):

$(table_rates)

![req/s per configuration, ab and wrk, log scale](img/$(basename "$PNG"))

**Reading.**

$(reading)
EOF

echo
table_ab
echo
table_wrk
echo
ratios
echo
aims_journal
echo
table_sweep
echo
table_null
echo
table_rates
echo
cat "$tmp/problems"
for m in "$tmp"/metrics-*; do
    [ -s "$m" ] && echo "$(basename "$m" | sed 's/^metrics-//'): $(commit_stats "$(basename "$m" | sed 's/^metrics-//')")"
done

# Our section (up to the next "## " heading) is replaced; every other section stays.
replace_section "$DOC" "$SECTION" "$tmp/section.md" || die "cannot update $DOC"
echo >&2
echo "wrote $DOC and $PNG" >&2
