#!/usr/bin/env bash
# HTTP core benchmark: inferd vs nginx answering the same liveness probe, both measured with wrk
# in one run on this machine. Prints a markdown table, replaces the "## HTTP core: inferd vs nginx"
# section of docs/benchmarks.md and draws docs/img/http_bench.png.
#
# Usage: bash bench/http.sh (or `make bench`)
#   DURATION=15s  length of each wrk run (DURATION=3s for a smoke run)
#   CONNS="50 256"  concurrencies; INFERD=./build/inferd; NGINX=/usr/sbin/nginx
#   DOC=docs/benchmarks.md  where the section goes (the PNG goes to img/ beside it)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-15s}
CONNS=${CONNS:-50 256}
INFERD=${INFERD:-./build/inferd}
NGINX=${NGINX:-/usr/sbin/nginx}
DOC=${DOC:-docs/benchmarks.md}
PNG=$(dirname "$DOC")/img/http_bench.png
URI=/v2/health/live
SECTION="## HTTP core: inferd vs nginx"

die() { echo "bench/http.sh: $*" >&2; exit 1; }

for t in wrk gnuplot python3; do
    command -v "$t" >/dev/null || die "$t not found; run: bash scripts/deps.sh"
done
[ -x "$NGINX" ] || die "$NGINX not found; run: bash scripts/deps.sh"
[ -x "$INFERD" ] || die "$INFERD not found; run: make build"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inferd-bench.XXXXXX")
inferd_pid="" nginx_pid="" wrk_pid=""
cleanup() {
    # TERM: inferd drains and exits, the nginx master stops its workers. Waiting means no process
    # outlives the script, whichever way it ends.
    for p in $wrk_pid $inferd_pid $nginx_pid; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $wrk_pid $inferd_pid $nginx_pid; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# True once something accepts connections on 127.0.0.1:$1.
accepting() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Checks with plain bash (curl may be absent) that 127.0.0.1:$2 answers GET $URI with 200, JSON and
# exactly the body inferd sends, so both servers are measured doing the same work.
check() {
    local name=$1 port=$2 resp=$tmp/probe-$1
    # shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"
        printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
        cat <&3' _ "$port" "$URI" >"$resp" || die "$name: no answer from GET $URI"
    head -n1 "$resp" | grep -q '^HTTP/1\.1 200 ' || die "$name: GET $URI: $(head -n1 "$resp")"
    grep -qi '^content-type: application/json' "$resp" || die "$name: GET $URI is not JSON"
    sed '1,/^\r$/d' "$resp" | cmp -s - <(printf '{"live":true}\n') ||
        die "$name: GET $URI body differs: $(sed '1,/^\r$/d' "$resp")"
}

# --- inferd: 2 event loops (one SO_REUSEPORT listener each), port chosen by the kernel ----------
"$INFERD" serve --listen 127.0.0.1:0 --threads 2 --access-log false 2>"$tmp/inferd.log" &
inferd_pid=$!
inferd_port=""
for _ in $(seq 100); do
    inferd_port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/inferd.log")
    [ -n "$inferd_port" ] && break
    kill -0 "$inferd_pid" 2>/dev/null || die "inferd exited: $(cat "$tmp/inferd.log")"
    sleep 0.1
done
[ -n "$inferd_port" ] || die "inferd did not report its port: $(cat "$tmp/inferd.log")"

# --- nginx: the same shape (2 workers, reuseport), everything it writes kept in $tmp -------------
# nginx cannot report a kernel-chosen port, so take a free one and hand it over.
nginx_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|$nginx_port|g" bench/nginx.conf.in >"$tmp/nginx.conf"
# -e: without it nginx opens its compiled-in error log before reading the config.
"$NGINX" -p "$tmp/" -e "$tmp/error.log" -c "$tmp/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
    accepting "$nginx_port" && break
    kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(cat "$tmp/error.log")"
    sleep 0.1
done
accepting "$nginx_port" || die "nginx is not listening on $nginx_port: $(cat "$tmp/error.log")"

check inferd "$inferd_port"
check nginx "$nginx_port"

port_of() { if [ "$1" = inferd ]; then echo "$inferd_port"; else echo "$nginx_port"; fi; }

# Runs wrk in the background and waits: bash defers traps until a foreground child exits, so
# this lets INT/TERM stop the script at once rather than after a whole run.
run_wrk() { wrk "$@" & wrk_pid=$!; wait "$wrk_pid"; wrk_pid=""; }

# wrk latency ("812.00us", "1.20ms", "1.01s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    printf "%.2f", (u == "us" ? n / 1000 : u == "s" ? n * 1000 : u == "m" ? n * 60000 : n) }'; }

echo "Note: wrk (2 threads) and the server under test share this machine's $(nproc) cores;" \
    "read the inferd/nginx ratio, not the absolute numbers." >&2

# A short warm-up each, so neither server is measured while its pages and caches are still cold.
for s in inferd nginx; do
    run_wrk -t2 -c50 -d2s "http://127.0.0.1:$(port_of "$s")$URI" >/dev/null
done

# One run per server and concurrency; the order alternates between concurrencies so that neither
# server always runs first (or right after the other heated the machine up).
: >"$tmp/results"
i=0
for c in $CONNS; do
    order="inferd nginx"
    [ $((i % 2)) -eq 1 ] && order="nginx inferd"
    i=$((i + 1))
    for s in $order; do
        out=$tmp/wrk-$s-$c
        echo "wrk -t2 -c$c -d$DURATION --latency  ($s)" >&2
        run_wrk -t2 -c"$c" -d"$DURATION" --latency "http://127.0.0.1:$(port_of "$s")$URI" >"$out"
        rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
        p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
        p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
        # Socket errors and non-2xx/3xx answers; on this loopback test anything but 0 is a bug.
        errs=$(awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
            /Non-2xx or 3xx responses:/ { n += $5 } END { print n + 0 }' "$out")
        [ "$errs" -eq 0 ] || { echo "WARNING: $s at $c connections: $errs errors" >&2; cat "$out" >&2; }
        echo "$s $c $rps $p50 $p99 $errs" >>"$tmp/results"
    done
done

# --- report ----------------------------------------------------------------------------------
table() {
    echo "| server | connections | req/s | p50 (ms) | p99 (ms) | errors | req/s inferd/nginx |"
    echo "|---|--:|--:|--:|--:|--:|--:|"
    for c in $CONNS; do
        read -r _ _ irps ip50 ip99 ierr < <(grep "^inferd $c " "$tmp/results")
        read -r _ _ nrps np50 np99 nerr < <(grep "^nginx $c " "$tmp/results")
        ratio=$(awk -v a="$irps" -v b="$nrps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        echo "| inferd | $c | $irps | $ip50 | $ip99 | $ierr | **$ratio** |"
        echo "| nginx | $c | $nrps | $np50 | $np99 | $nerr | |"
    done
}

for c in $CONNS; do
    echo "$c $(grep "^inferd $c " "$tmp/results" | cut -d' ' -f3) $(grep "^nginx $c " "$tmp/results" | cut -d' ' -f3)"
done | sed '1i # connections inferd nginx' >"$tmp/plot.dat"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
v_inferd="$("$INFERD" --version) (git $(git describe --always --dirty 2>/dev/null || echo unknown))"
v_nginx=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')  # "nginx/1.22.1"
v_wrk=$(wrk -v 2>&1 | head -n1 | sed 's/ *Copyright.*//' || true)
cmd="\`make bench\` (runs \`bash bench/http.sh\`)"
[ "$DURATION" = 15s ] || cmd="\`DURATION=$DURATION bash bench/http.sh\`"

mkdir -p "$(dirname "$PNG")"
gnuplot -c bench/plot_http.gp "$tmp/plot.dat" "$PNG" "$(nproc) shared cores, $cpu, $when"

cat >"$tmp/section.md" <<EOF
$SECTION

\`GET $URI\` over keep-alive connections. Both servers send the same 14-byte JSON body
(checked before the run), so this measures the HTTP core alone: accept, parse, route, respond.

- **Command:** $cmd; each wrk run lasts $DURATION
- **Date:** $when
- **Machine:** $(nproc) CPUs, $cpu, Linux $(uname -r)
- **Versions:** $v_inferd; $v_nginx; $v_wrk
- **Servers:** inferd \`serve --threads 2 --access-log false\`; nginx with \`worker_processes 2\`,
  a \`reuseport\` listener per worker (as inferd has one per event loop), \`access_log off\`,
  \`keepalive_requests 100000\` (\`bench/nginx.conf.in\`).
- **Load:** \`wrk -t2 -cN -d$DURATION --latency\`, one run per server and concurrency after a 2 s
  warm-up, the server order alternating between concurrencies.
- **Shared cores:** wrk and the server under test run on the same $(nproc) cores, unpinned.
  Pinning wrk to one core and the server to the other would leave two workers on one core, a
  different setup from the one configured; unpinned, both servers face the same contention.
  Absolute req/s are therefore well below what dedicated hardware gives; the ratio is the figure.
- **errors** counts wrk's socket errors and non-2xx/3xx answers; anything but 0 is a bug.

$(table)

![req/s per server and concurrency](img/$(basename "$PNG"))
EOF

echo
table

# Replace our section (up to the next "## " heading) and keep every other section as it is.
if [ ! -f "$DOC" ]; then
    mkdir -p "$(dirname "$DOC")"
    cat >"$DOC" <<'EOF'
# Benchmarks

Each section below comes from a script in `bench/` and states the command that produced it, the
date, the machine and the versions. The machine is a small shared 2-core VM where the load
generator competes with the server for the same cores, so absolute numbers are noisy and low.
Every figure is therefore reported next to a well-known peer measured in the same run, on the
same machine, under the same load; the ratio against that peer is what to compare across runs.
EOF
fi
# Our section (up to the next "## " heading) is replaced; every other section stays.
replace_section "$DOC" "$SECTION" "$tmp/section.md" || die "cannot update $DOC"
echo >&2
echo "wrote $DOC and $PNG" >&2
