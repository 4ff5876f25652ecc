"""Event ingestion end to end (issue 12): a real inferd with --ingest-dir takes line protocol
(InfluxDB 1 and 2 and Arc's endpoint; InfluxDB's own npm client among the writers) and Arc's
MessagePack (encoded by npm's @msgpack/msgpack), and every file it writes is read back by DuckDB,
an independent Parquet reader: row counts, column types and values, nulls, escapes, unicode,
every compression, schema growth, file layout. Durability: SIGTERM flushes everything; under
wal, kill -9 loses no acknowledged row and a replay writes none twice; a flushed log cut short
or a rename a crash interrupted are finished at start."""
import glob
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import CLIENTS, SLOW, Server, duck, node_clients

# 2023-11-14 22:13:20 UTC. Times in these tests differ by whole microseconds: DuckDB reads a
# UTC timestamp column as TIMESTAMP WITH TIME ZONE, which holds microseconds, so it cannot show
# the nanoseconds the files keep.
T0 = 1700000000000000000


def start(server_factory, tmp_path, *flags, name="ingest"):
    d = tmp_path / name
    srv = server_factory("--access-log", "false", "--ingest-dir", str(d), *flags)
    srv.ingest_dir = str(d)
    return srv


def post(srv, path, body, headers=None):
    if isinstance(body, str):
        body = body.encode()
    return srv.request("POST", path, headers or {}, body)


def metric(srv, name):
    text = srv.request("GET", "/metrics", getattr(srv, "auth", {})).body.decode()
    m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def wait_flushed(srv, timeout=10.0):
    """Until no accepted row is outside a file (the flush timer is short in these tests)."""
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if metric(srv, "inferd_ingest_buffered_rows") == 0:
            return
        time.sleep(0.05)
    raise AssertionError("rows still buffered after %.0fs" % timeout)


def parquet_files(root, db="*", meas="*"):
    return sorted(glob.glob(os.path.join(root, db, meas, "*", "*", "*", "*", "*.parquet")))


def rows(root, db, meas, cols="*", order="time"):
    files = os.path.join(root, db, meas, "**", "*.parquet")
    got, = duck("SELECT %s FROM read_parquet('%s', union_by_name=true) ORDER BY %s"
                % (cols, files, order))
    return got


def schema(path):
    got, = duck("DESCRIBE SELECT * FROM '%s'" % path)
    return {c["column_name"]: c["column_type"] for c in got}


ESCAPED = (
    # measurement with a space and a comma, tag values with space/comma/equals, a tag key with
    # an equals sign, string fields with quotes and backslashes, unicode everywhere
    'cpu\\ load\\,x,host=server\\ 01,region=us\\,west,k\\=x=a\\=b '
    'value=0.64,count=12i,big=18446744073709551615u,ok=T,'
    'msg="say \\"hi\\" \\\\ back",uni="h\u00e9llo \u2713" %d\n'
    '# a comment line, then a blank one\n'
    '\n'
    'cpu\\ load\\,x,host=server\\ 01 value=-1.5e3,count=-9223372036854775808i %d\n'
    'cpu\\ load\\,x,host=\u03b2-host value=2,ok=false %d\r\n' % (T0, T0 + 1000, T0 + 2000))


@pytest.mark.parametrize("codec,name", [("zstd", "ZSTD"), ("snappy", "SNAPPY"),
                                        ("none", "UNCOMPRESSED")])
def test_line_protocol_values_read_back(server_factory, tmp_path, codec, name):
    srv = start(server_factory, tmp_path, "--ingest-compression", codec,
                "--ingest-flush-ms", "100")
    r = post(srv, "/api/v2/write?org=o&bucket=metrics&precision=ns", ESCAPED)
    assert r.status == 204, r.body
    wait_flushed(srv)
    files = parquet_files(srv.ingest_dir, "metrics", "cpu load,x")
    assert len(files) == 1
    assert re.search(r"/metrics/cpu load,x/2023/11/14/22/cpu load,x_20231114_221320_\d+\.parquet$",
                     files[0]), files[0]
    assert schema(files[0]) == {
        "time": "TIMESTAMP WITH TIME ZONE", "host": "VARCHAR", "region": "VARCHAR",
        "k=x": "VARCHAR", "value": "DOUBLE", "count": "BIGINT", "big": "UBIGINT",
        "ok": "BOOLEAN", "msg": "VARCHAR", "uni": "VARCHAR"}
    got = rows(srv.ingest_dir, "metrics", "cpu load,x",
               'epoch_ns(time) AS t, host, region, "k=x", value, count, big, ok, msg, uni')
    assert got == [
        {"t": str(T0), "host": "server 01", "region": "us,west", "k=x": "a=b", "value": "0.64",
         "count": "12", "big": "18446744073709551615", "ok": "true",
         "msg": 'say "hi" \\ back', "uni": "h\u00e9llo \u2713"},
        {"t": str(T0 + 1000), "host": "server 01", "region": None, "k=x": None, "value": "-1500",
         "count": "-9223372036854775808", "big": None, "ok": None, "msg": None, "uni": None},
        {"t": str(T0 + 2000), "host": "\u03b2-host", "region": None, "k=x": None, "value": "2",
         "count": None, "big": None, "ok": "false", "msg": None, "uni": None}]
    meta, kv = duck("SELECT DISTINCT compression FROM parquet_metadata('%s')" % files[0],
                    "SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('%s')"
                    % files[0])
    assert [m["compression"] for m in meta] == [name]
    assert {(x["k"], x["v"]) for x in kv} >= {("inferd.database", "metrics"),
                                              ("inferd.measurement", "cpu load,x")}


def test_endpoints_precision_and_databases(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-flush-ms", "100")
    s = T0 // 10**9
    assert post(srv, "/write?db=one&precision=s", "m v=1 %d\n" % s).status == 204
    assert post(srv, "/api/v2/write?bucket=two&precision=ms", "m v=2 %d\n" % (s * 1000)).status == 204
    assert post(srv, "/api/v2/write?bucket=two&precision=us", "m v=3 %d\n" % (s * 10**6 + 1)).status == 204
    assert post(srv, "/api/v1/write/line-protocol", "m v=4 %d\n" % T0,
                {"x-arc-database": "three"}).status == 204
    assert post(srv, "/api/v1/write/line-protocol?db=four", "m v=5\n").status == 204
    before = time.time_ns()
    wait_flushed(srv)
    assert rows(srv.ingest_dir, "one", "m", "epoch_ns(time) AS t, v") == [{"t": str(T0), "v": "1"}]
    assert rows(srv.ingest_dir, "two", "m", "epoch_ns(time) AS t, v") == [
        {"t": str(T0), "v": "2"}, {"t": str(T0 + 1000), "v": "3"}]
    assert rows(srv.ingest_dir, "three", "m", "epoch_ns(time) AS t") == [{"t": str(T0)}]
    # No timestamp: the server's clock at arrival.
    t = int(rows(srv.ingest_dir, "four", "m", "epoch_ns(time) AS t")[0]["t"])
    assert before - 60 * 10**9 < t <= before

    for path, body, want in [
            ("/api/v2/write?org=o", "m v=1\n", "bucket"),
            ("/write", "m v=1\n", "db"),
            ("/api/v2/write?bucket=b&precision=fortnight", "m v=1\n", "precision"),
            ("/write?db=..", "m v=1\n", "directory"),
            ("/write?db=a%2Fb", "m v=1\n", "directory"),
            ("/write?db=ok", "../up v=1\n", "directory"),
            ("/write?db=ok", ".hidden v=1\n", "directory"),
            ("/write?db=ok", "m time=1\n", "time column"),
            ("/write?db=ok&precision=s", "m v=1 9223372036854775\n", "out of range"),
            ("/write?db=ok", b"m,t=\xff v=1\n", "not UTF-8"),
            ("/write?db=ok", b"m s=\"\xc3(\"\n", "not UTF-8")]:
        r = post(srv, path, body)
        assert r.status == 400 and want in json.loads(r.body)["error"], (path, body, r.body)
    assert not os.path.exists(os.path.join(srv.ingest_dir, "ok"))


def test_a_bad_line_or_a_type_clash_keeps_nothing(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-flush-ms", "60m")
    good = "m,h=a v=1,n=1i %d\n" % T0
    assert post(srv, "/write?db=d", good).status == 204
    cases = [
        # a bad line anywhere: 400 naming it, and the lines before it are not kept either
        ("m,h=b v=2 %d\nm,h=c v=3 %d\nm,h=d v= %d\n" % (T0 + 1, T0 + 2, T0 + 3), "line 3"),
        # a type clash inside the body
        ("m v=2 %d\nm v=2i %d\n" % (T0 + 1, T0 + 2), "line 2: field \"v\" is integer"),
        # a clash with the rows buffered before (n is an integer there)
        ("m,h=e v=5,n=1.5 %d\n" % (T0 + 5), "field \"n\" is float here, integer"),
    ]
    for body, want in cases:
        r = post(srv, "/write?db=d", body)
        assert r.status == 400 and want in json.loads(r.body)["error"], r.body
    # A new field and a new tag widen the schema; the earlier row has nulls there.
    assert post(srv, "/write?db=d", "m,h=f,zone=z v=6,extra=\"x\" %d\n" % (T0 + 6)).status == 204
    assert metric(srv, 'inferd_ingest_refused_total{format="lineproto"}') == 3
    assert srv.stop() == 0  # flushes
    got = rows(srv.ingest_dir, "d", "m", "h, zone, v, n, extra")
    assert got == [{"h": "a", "zone": None, "v": "1", "n": "1", "extra": None},
                   {"h": "f", "zone": "z", "v": "6", "n": None, "extra": "x"}]


def msgpack_bodies(tmp_path, *values):
    node_clients("@msgpack/msgpack")
    d = tmp_path / "mp"
    d.mkdir(exist_ok=True)
    subprocess.run(["node", os.path.join(CLIENTS, "msgpack_encode.mjs"), str(d)]
                   + [json.dumps(v) for v in values], check=True)
    return [(d / ("%d.mp" % i)).read_bytes() for i in range(len(values))]


def test_msgpack_columnar_rows_and_compression(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-flush-ms", "100")
    ms = T0 // 10**6
    n = 300
    columnar = {"m": "sensor", "columns": {
        "time": [ms + i for i in range(n)],
        "device": ["dev-%d" % (i % 7) for i in range(n)],
        "temp": [i * 0.5 - 20.25 for i in range(n)],  # integral ones arrive as integers
        "count": [{"$big": str(i * 1000003 - 10**12)} for i in range(n)],
        "ok": [i % 3 == 0 for i in range(n)],
        "note": [None if i % 4 == 1 else "n\u00f8te %d" % i for i in range(n)]}}
    row = {"m": "sensor", "t": ms + n, "h": "edge-1", "tags": {"device": "dev-x"},
           "fields": {"temp": 99.5, "count": 7, "ok": False}}
    batch = {"batch": [{"m": "other", "t": ms, "f": {"x": 1.25}}, row]}
    plain, mixed, bad = msgpack_bodies(tmp_path, columnar, batch, {"m": "sensor", "columns": {
        "time": [ms, ms + 1], "v": [1.5]}})
    hdr = {"x-arc-database": "arc"}
    assert post(srv, "/api/v1/write/msgpack", plain, hdr).status == 204
    assert post(srv, "/api/v1/write/msgpack", gzip.compress(mixed), hdr).status == 204
    r = post(srv, "/api/v1/write/msgpack", bad, hdr)
    assert r.status == 400 and "has 1 values" in json.loads(r.body)["error"], r.body
    wait_flushed(srv)
    got = rows(srv.ingest_dir, "arc", "sensor",
               "epoch_ms(time) AS t, device, host, temp, count, ok, note")
    assert len(got) == n + 1
    for i in range(n):
        want = {"t": str(ms + i), "device": "dev-%d" % (i % 7), "host": None,
                "temp": repr(i * 0.5 - 20.25).rstrip("0").rstrip("."),
                "count": str(i * 1000003 - 10**12), "ok": "true" if i % 3 == 0 else "false",
                "note": None if i % 4 == 1 else "n\u00f8te %d" % i}
        assert got[i] == want, (i, got[i], want)
    assert got[n] == {"t": str(ms + n), "device": "dev-x", "host": "edge-1", "temp": "99.5",
                      "count": "7", "ok": "false", "note": None}
    assert rows(srv.ingest_dir, "arc", "other", "x") == [{"x": "1.25"}]

    # zstd by its magic bytes, and by Content-Encoding; unknown codings and bombs refused.
    z = subprocess.run(["zstd", "-q", "-c"], input=plain, capture_output=True, check=True).stdout
    assert post(srv, "/api/v1/write/msgpack", z, {"x-arc-database": "z"}).status == 204
    r = post(srv, "/api/v1/write/msgpack", plain, {"Content-Encoding": "br"})
    assert r.status == 415, r.body
    r = post(srv, "/api/v1/write/msgpack", gzip.compress(plain)[:-12], hdr)
    assert r.status == 400 and "gzip" in json.loads(r.body)["error"], r.body
    wait_flushed(srv)
    assert len(rows(srv.ingest_dir, "z", "sensor", "device")) == n


def test_decompressed_size_is_bounded(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-max-body-bytes", "1m")
    bomb = gzip.compress(b"m v=1\n" * (4 << 20))  # 24 MB of lines in ~25 KB
    r = post(srv, "/write?db=d", bomb)
    assert r.status == 413 and "larger than" in json.loads(r.body)["error"], r.body


def test_influxdb_client_writes(server_factory, tmp_path):
    """InfluxDB's official JavaScript client renders and escapes the points itself, and
    authenticates with "Token"."""
    node_clients("@influxdata/influxdb-client")
    srv = start(server_factory, tmp_path, "--ingest-flush-ms", "100", "--api-keys", "s3cret")
    srv.auth = {"Authorization": "Bearer s3cret"}
    points = [{"m": "web req,v2", "tags": {"path": "/a b,c=d", "method": "GET"},
               "fields": {"ms": ["float", 12.5], "code": ["int", 200], "size": ["uint", 4096],
                          "ok": ["bool", True], "agent": ["string", 'curl "x" \\ \u00e9']},
               "t": str(T0 + 1000 * i)} for i in range(50)]
    points.append({"m": "web req,v2", "tags": {"path": "/\u00fc"}, "fields": {"ms": ["float", 1.0]},
                   "t": str(T0 + 50000)})
    url = "http://127.0.0.1:%d" % srv.port
    cmd = ["node", os.path.join(CLIENTS, "influx_write.mjs"), url]
    p = subprocess.run(cmd + ["wrong", "o", "b", json.dumps(points)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1 and "401" in p.stderr, p.stderr
    p = subprocess.run(cmd + ["s3cret", "o", "web", json.dumps(points), "20"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    wait_flushed(srv)
    got = rows(srv.ingest_dir, "web", "web req,v2",
               "epoch_ns(time) AS t, path, method, ms, code, size, ok, agent")
    assert len(got) == 51
    for i in range(50):
        assert got[i] == {"t": str(T0 + 1000 * i), "path": "/a b,c=d", "method": "GET", "ms": "12.5",
                          "code": "200", "size": "4096", "ok": "true",
                          "agent": 'curl "x" \\ \u00e9'}, got[i]
    assert got[50]["path"] == "/\u00fc" and got[50]["code"] is None
    assert schema(parquet_files(srv.ingest_dir, "web")[0])["size"] == "UBIGINT"


def lines(meas, start, n, t0=T0, step=10**6):
    return "".join("%s,w=x id=%di,v=%d.5 %d\n" % (meas, i, i, t0 + i * step)
                   for i in range(start, start + n))


def test_flush_thresholds_files_and_hours(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-flush-records", "1000", "--ingest-flush-ms",
                "200", "--ingest-flush-threads", "3")
    # 3 measurements x 6 bodies of 500 rows: a file per 1,000 rows, written in parallel; the
    # times of "b" cross an hour, so its rows land in two hour directories.
    hour = 3600 * 10**9
    for k in range(6):
        for m, step in [("a", 10**6), ("b", hour // 2000), ("c", 1)]:
            assert post(srv, "/write?db=d", lines(m, k * 500, 500, step=step)).status == 204
    wait_flushed(srv)
    for m in "abc":
        got = rows(srv.ingest_dir, "d", m, "id", order="id")
        assert [int(x["id"]) for x in got] == list(range(3000)), m
    a = parquet_files(srv.ingest_dir, "d", "a")
    assert len(a) == 3, a
    for f in a:
        n, = duck("SELECT count(*) AS n FROM '%s'" % f)
        assert int(n[0]["n"]) == 1000
    hours = {f.split(os.sep)[-2] for f in parquet_files(srv.ingest_dir, "d", "b")}
    assert hours == {"22", "23"}, hours
    for f in parquet_files(srv.ingest_dir):
        assert re.search(r"/(\d{4})/(\d\d)/(\d\d)/(\d\d)/[abc]_\1\2\3_\4\d{4}_\d+\.parquet$", f), f
    assert not os.listdir(os.path.join(srv.ingest_dir, ".tmp"))
    assert metric(srv, "inferd_ingest_files_total") >= 9


def test_sigterm_flushes_every_buffer(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-flush-ms", "60m")
    for m in ["p", "q", "r"]:
        assert post(srv, "/write?db=d", lines(m, 0, 700)).status == 204
    assert parquet_files(srv.ingest_dir) == []
    assert metric(srv, "inferd_ingest_buffered_rows") == 2100
    assert metric(srv, "inferd_ingest_oldest_buffered_seconds") > 0
    assert srv.stop() == 0
    for m in ["p", "q", "r"]:
        assert len(rows(srv.ingest_dir, "d", m, "id")) == 700


def test_memory_cap_answers_503(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-flush-ms", "60m", "--ingest-max-bytes", "1536k")
    codes = []
    for k in range(80):
        r = post(srv, "/write?db=d", lines("m%d" % (k % 8), k * 2000, 2000))
        codes.append(r.status)
        if r.status == 503:
            assert r.header("retry-after") == "1"
            assert "ingest_max_bytes" in json.loads(r.body)["error"]
            break
    assert codes[-1] == 503 and codes[0] == 204, codes
    accepted = 2000 * codes.count(204)
    assert srv.stop() == 0
    total = sum(len(rows(srv.ingest_dir, "d", "m%d" % i, "id"))
                for i in range(8) if parquet_files(srv.ingest_dir, "d", "m%d" % i))
    assert total == accepted


def ids_in(root, db="d", meas="m"):
    if not parquet_files(root, db, meas):
        return []
    return [int(x["id"]) for x in rows(root, db, meas, "id", order="id")]


@pytest.mark.parametrize("flush_records", [1000000, 700])
def test_wal_kill9_loses_nothing_acknowledged(server_factory, tmp_path, flush_records):
    """Writers post batches of unique ids while the server is killed with SIGKILL; after a
    restart (which replays the journal) every acknowledged id is in a file exactly once. With
    700-row flushes, files are being written when the kill lands: the flushed log must keep the
    replay from writing their rows twice."""
    flags = ["--ingest-durability", "wal", "--ingest-flush-ms", "60m",
             "--ingest-flush-records", str(flush_records)]
    root = str(tmp_path / "ingest")
    srv = Server(["--access-log", "false", "--ingest-dir", root] + flags)
    srv.ingest_dir = root
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def writer(w):
        k = 0
        while not stop.is_set():
            first = (w * 10**6) + k * 100
            try:
                r = post(srv, "/write?db=d", lines("m", first, 100))
            except (OSError, EOFError):  # the kill
                return
            if r.status == 204:
                with lock:
                    acked.extend(range(first, first + 100))
            k += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.5 * SLOW)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    srv.close()
    assert len(acked) > 1000
    srv2 = server_factory("--access-log", "false", "--ingest-dir", srv.ingest_dir, *flags)
    assert srv2.stop() == 0  # SIGTERM: whatever the replay buffered goes to files
    got = ids_in(srv.ingest_dir)
    assert len(got) == len(set(got)), "a row was written twice"
    missing = set(acked) - set(got)
    assert not missing, "%d acknowledged rows lost" % len(missing)
    # Every row in a file was sent (unacknowledged ones may be there too: their batch was
    # journaled when the kill cut the answer).
    assert all((i % 10**6) // 100 < 10**4 for i in got)
    # A third start replays nothing new.
    srv3 = server_factory("--access-log", "false", "--ingest-dir", srv.ingest_dir, *flags)
    assert srv3.stop() == 0
    assert ids_in(srv.ingest_dir) == got


def test_wal_recovery_finishes_a_rename_and_ignores_a_torn_line(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-durability", "wal", "--ingest-flush-ms", "100")
    assert post(srv, "/write?db=d", lines("m", 0, 10)).status == 204
    wait_flushed(srv)
    assert srv.stop() == 0
    root = srv.ingest_dir
    made, = parquet_files(root, "d", "m")
    # As if a crash hit between the log line and the rename: the file back in .tmp, the line in
    # the log, then a line the crash tore.
    tmp_rel = ".tmp/123.parquet.tmp"
    shutil.move(made, os.path.join(root, tmp_rel))
    os.rmdir(os.path.dirname(made))
    rel = os.path.relpath(made, root)
    with open(os.path.join(root, ".wal", "flushed"), "a") as f:
        f.write("1\td\tm\t1\t%s\t%s\n" % (tmp_rel, rel))
        f.write("2\td\tm\t1\t.tmp/9")
    srv2 = server_factory("--access-log", "false", "--ingest-dir", root, "--ingest-durability",
                          "wal")
    assert os.path.exists(made)
    assert srv2.stop() == 0
    assert ids_in(root) == list(range(10))
    with open(os.path.join(root, ".wal", "flushed")) as f:
        assert f.read() == "1\td\tm\t0\n"


def test_measurement_limit_and_oversized_write(server_factory, tmp_path):
    srv = start(server_factory, tmp_path, "--ingest-flush-ms", "60m", "--ingest-max-measurements",
                "2", "--ingest-max-bytes", "1m")
    assert post(srv, "/write?db=d", "a v=1\nb v=1\n").status == 204
    r = post(srv, "/write?db=d", "a v=2\nc v=1\n")
    assert r.status == 503 and "ingest_max_measurements" in json.loads(r.body)["error"], r.body
    # One write whose decoded rows need over half the memory cap can never fit: 413, not 503.
    r = post(srv, "/write?db=d", lines("a", 0, 40000))
    assert r.status == 413 and "split it" in json.loads(r.body)["error"], r.body
    assert srv.stop() == 0
    assert [x["v"] for x in rows(srv.ingest_dir, "d", "a", "v")] == ["1"]
    assert not parquet_files(srv.ingest_dir, "d", "c")
