"""Every prediction is recorded: durable answers only after the commit, buffered within the
window, off never; records are readable over HTTP and survive restarts and kill -9."""
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import SLOW, Server
from records import f32, features, model_repo, post


@pytest.fixture
def repo(tmp_path):
    return model_repo(tmp_path, ("durable", "buffered", "off"))


def db_ids(path):
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT id FROM inferences")}
    finally:
        con.close()


def test_durable_record_is_readable_at_once(server_factory, repo, tmp_path):
    db = tmp_path / "r.db"
    srv = server_factory("--models", str(repo), "--journal", "none", "--store", "sqlite:%s" % db,
                         "--access-log", "false")
    r = post(srv, {"model": "durable", "features": features(1)[0]}, {"X-Request-Id": "req-42"})
    assert r.status == 200, r.body
    rid = r.json()["id"]
    # Committed before the answer: visible to another connection right away.
    assert rid in db_ids(db)
    g = srv.request("GET", "/inferences/" + rid)
    assert g.status == 200
    rec = g.json()
    assert rec["model"] == "durable" and rec["version"] == "1" and rec["request_id"] == "req-42"
    assert rec["input"] == features(1)[0]  # the numbers as sent, not as float32 reprints them
    assert rec["output"]["prediction"] == r.json()["prediction"]
    assert rec["output"]["probabilities"] == r.json()["probabilities"]
    assert srv.request("GET", "/inferences/01a2136f-0000-7000-8000-000000000000").status == 404
    text = srv.request("GET", "/metrics").body.decode()
    for series in ["inferd_store_records_written_total", "inferd_store_commit_seconds_bucket",
                   "inferd_store_commit_batch_records", "inferd_store_queue_depth",
                   "inferd_store_buffered_window_seconds", 'inferd_stage_seconds_count{stage="commit"}',
                   'inferd_stage_seconds_count{stage="queue_wait"}',
                   'inferd_stage_seconds_count{stage="compute"}']:
        assert series in text, series


def test_batch_stores_one_record_per_row_and_lists_in_pages(server_factory, repo, tmp_path):
    srv = server_factory("--models", str(repo), "--access-log", "false")
    r = post(srv, {"model": "durable", "features": features(25)})
    ids = [x["id"] for x in r.json()["results"]]
    assert len(ids) == 25 and ids == sorted(ids) and len(set(ids)) == 25
    got, cursor = [], None
    while True:
        q = "/inferences?model=durable&limit=10" + ("&cursor=" + cursor if cursor else "")
        page = srv.request("GET", q).json()
        got += [x["id"] for x in page["records"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert got == ids
    assert srv.request("GET", "/inferences?model=off").json()["records"] == []
    now = time.time()
    assert len(srv.request("GET", "/inferences?since=%f" % (now - 60)).json()["records"]) == 25
    assert srv.request("GET", "/inferences?until=%f" % (now - 60)).json()["records"] == []
    for bad in ["limit=0", "limit=1001", "limit=x", "since=-1", "cursor=nope", "model=%zz"]:
        assert srv.request("GET", "/inferences?" + bad).status == 400, bad


def test_records_keep_the_features_text_as_sent(server_factory, repo):
    srv = server_factory("--models", str(repo), "--access-log", "false")
    rows = features(3)
    # Pretty-printed, odd spacing, integers and exponents: stored compacted, digits untouched.
    rows[1][0] = 14
    rows[2][1] = 1.5e1
    body = '{ "model" : "durable",\n  "features" : [\n' + ",\n".join(
        "    [ " + " ,\t".join(repr(x) for x in row) + " ]" for row in rows) + "\n  ] }"
    r = srv.request("POST", "/inferences", None, body.encode())
    assert r.status == 200, r.body
    for k, res in enumerate(r.json()["results"]):
        rec = srv.request("GET", "/inferences/" + res["id"])
        text = rec.body.decode()
        assert '"input":[' + ",".join(repr(x) for x in rows[k]) + "]" in text, text
        assert rec.json()["output"]["probabilities"] == res["probabilities"]
    # A key written with escapes ahead of the features is another key (duplicate keys are 400),
    # so the text scan still finds the features as sent.
    body = '{"\\u0078": 1, "model": "durable", "features": %s}' % json.dumps(rows[0])
    r = srv.request("POST", "/inferences", None, body.encode())
    assert r.status == 200, r.body
    rec = srv.request("GET", "/inferences/" + r.json()["id"]).json()
    assert rec["input"] == rows[0]
    # The features key itself written with escapes: the scan cannot vouch for it, and the record
    # holds the float32 values printed back.
    body = '{"model": "durable", "f\\u0065atures": %s}' % json.dumps(rows[0])
    r = srv.request("POST", "/inferences", None, body.encode())
    assert r.status == 200, r.body
    rec = srv.request("GET", "/inferences/" + r.json()["id"]).json()
    assert f32(rec["input"]) == f32(rows[0]) and rec["input"] != rows[0]


def test_oip_infer_records_too(server_factory, repo):
    srv = server_factory("--models", str(repo), "--access-log", "false")
    req = {"id": "oip-1", "inputs": [{"name": "input", "shape": [2, 30], "datatype": "FP32",
                                      "data": sum(features(2), [])}]}
    r = srv.request("POST", "/v2/models/durable/infer", None, json.dumps(req).encode())
    ids = r.json()["parameters"]["record_ids"]
    assert len(ids) == 2
    rec = srv.request("GET", "/inferences/" + ids[1]).json()
    assert rec["request_id"] == "oip-1" and f32(rec["input"]["input"]) == f32(features(2)[1])
    assert set(rec["output"]) == {"label", "probabilities"}


def test_buffered_is_committed_within_the_window_and_off_is_not_stored(server_factory, repo,
                                                                       tmp_path):
    db = tmp_path / "b.db"
    srv = server_factory("--models", str(repo), "--store", "sqlite:%s" % db,
                         "--store-flush-ms", "100ms", "--access-log", "false")
    rid = post(srv, {"model": "buffered", "features": features(1)[0]}).json()["id"]
    deadline = time.time() + 2 * SLOW
    while rid not in db_ids(db):
        assert time.time() < deadline, "buffered record not committed within the window"
        time.sleep(0.02)
    r = post(srv, {"model": "off", "features": features(1)[0]})
    assert r.status == 200 and "id" not in r.json()
    assert len(db_ids(db)) == 1


def test_records_survive_restart(server_factory, repo, tmp_path):
    db = tmp_path / "p.db"
    srv = server_factory("--models", str(repo), "--store", "sqlite:%s" % db, "--access-log", "false")
    ids = [post(srv, {"model": "buffered", "features": f}).json()["id"] for f in features(5)]
    assert srv.stop() == 0  # shutdown flushes the buffered ones
    assert db_ids(db) >= set(ids)
    srv2 = server_factory("--models", str(repo), "--store", "sqlite:%s" % db, "--access-log", "false")
    assert srv2.request("GET", "/inferences/" + ids[-1]).status == 200


def test_store_none_records_nothing(server_factory, repo):
    srv = server_factory("--models", str(repo), "--store", "none", "--access-log", "false")
    r = post(srv, {"model": "durable", "features": features(1)[0]})
    assert r.status == 200 and "id" not in r.json()
    assert srv.request("GET", "/inferences/x").status == 404


def hammer(port, stop, acked, errors):
    """Sends durable requests until stopped; records the ids the server acknowledged."""
    import http.client
    body = json.dumps({"model": "durable", "features": features(3)}).encode()
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            while not stop.is_set():
                c.request("POST", "/inferences", body, {"Content-Type": "application/json"})
                resp = c.getresponse()
                data = resp.read()
                if resp.status == 200:
                    acked.extend(x["id"] for x in json.loads(data)["results"])
        except (OSError, http.client.HTTPException):
            time.sleep(0.01)  # the server was killed: expected


def crash_rounds(rounds, repo, db_uri, db_check, extra=(), before_kill=None):
    for n in range(rounds):
        srv = Server(["--models", str(repo), "--store", db_uri, "--access-log", "false"] +
                     list(extra))
        try:
            stop = threading.Event()
            acked, errors = [], []
            threads = [threading.Thread(target=hammer, args=(srv.port, stop, acked, errors))
                       for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.1, 0.5) * SLOW)
            if before_kill:
                before_kill(srv)
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            stop.set()
            for t in threads:
                t.join()
            ids = db_check()
            missing = [i for i in acked if i not in ids]
            assert not missing, "round %d: %d of %d acknowledged ids lost" % (n, len(missing),
                                                                             len(acked))
        finally:
            srv.close()


def test_kill_9_loses_no_acknowledged_record_sqlite(repo, tmp_path):
    db = tmp_path / "crash.db"
    random.seed(7)

    def check():
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return {r[0] for r in con.execute("SELECT id FROM inferences")}
        finally:
            con.close()

    crash_rounds(int(os.environ.get("INFERD_CRASH_ROUNDS", "20")), repo, "sqlite:%s" % db, check,
                 extra=["--journal", "none"])
    assert len(check()) > 0


def journal_lag(srv):
    r = srv.request("GET", "/metrics")
    m = re.search(r'^inferd_journal_lag_records\{sink="sqlite"\} (\S+)$', r.body.decode(), re.M)
    return float(m.group(1)) if m else None


@pytest.mark.parametrize("feed", ["32m", "64k"])
def test_kill_9_journal_sqlite(repo, tmp_path, feed):
    """Journal mode: kill -9 under durable load, many rounds on one database. Each acknowledged
    id must reach SQLite (applied from the journal by the next start) exactly once. With a 64 KiB
    feed most appends do not fit in memory and the applier reads them back from the journal
    files while the server runs, not only after a restart."""
    db = tmp_path / "jcrash.db"
    args = ["--journal", str(tmp_path / "journal"), "--journal-segment-bytes", "256k",
            "--journal-feed-bytes", feed]
    random.seed(11)

    def check():
        # The next start applies what the journal holds beyond the database, then stops cleanly.
        srv = Server(["--models", str(repo), "--store", "sqlite:%s" % db, "--access-log",
                      "false"] + args)
        try:
            deadline = time.time() + 20 * SLOW
            while journal_lag(srv) != 0 and time.time() < deadline:
                time.sleep(0.05)
            assert journal_lag(srv) == 0, srv.log()
        finally:
            srv.stop()
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ids = [r[0] for r in con.execute("SELECT id FROM inferences")]
            assert len(ids) == len(set(ids)), "a record was applied twice"
            return set(ids)
        finally:
            con.close()

    rereads = []

    def note_rereads(srv):
        r = srv.request("GET", "/metrics")
        m = re.search(r'^inferd_journal_reread_records_total\{sink="sqlite"\} (\S+)$',
                      r.body.decode(), re.M)
        rereads.append(float(m.group(1)) if m else 0)

    crash_rounds(int(os.environ.get("INFERD_CRASH_ROUNDS", "20")), repo, "sqlite:%s" % db, check,
                 extra=args, before_kill=note_rereads)
    assert len(check()) > 0
    if feed == "64k":  # the reread path ran under load, not only at restarts
        assert max(rereads) > 0, rereads


def post_until_ok(srv, body, acked, timeout):
    """Posts body until it is acknowledged, adding its ids to acked; fails after timeout s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = post(srv, body)
        if r.status == 200:
            acked.extend(x["id"] for x in r.json()["results"])
            return
        time.sleep(0.1)
    raise AssertionError("durable requests never succeeded again:\n" + srv.log())


def assert_in_sqlite_once(db, acked):
    """Every acknowledged id is in the SQLite file, and no record is there twice."""
    con = sqlite3.connect(db)
    try:
        ids = [r[0] for r in con.execute("SELECT id FROM inferences")]
    finally:
        con.close()
    assert len(ids) == len(set(ids)), "a record was applied twice"
    missing = set(acked) - set(ids)
    assert not missing, "%d of %d acknowledged ids lost" % (len(missing), len(acked))


def test_journal_disk_full_gives_503_and_loses_nothing(repo, tmp_path):
    """Journal mode on a 1.5 MiB tmpfs with 256 KiB segments, SQLite held locked by another
    connection so nothing can be applied: the journal fills the file system, then durable
    requests get 503 (nothing acknowledged that is not on disk); once the lock is released the
    journal drains and every acknowledged record is in SQLite exactly once."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    db = tmp_path / "full.db"
    lock = None
    srv = None
    try:
        srv = Server(["--models", str(repo), "--store", "sqlite:%s" % db, "--access-log", "false",
                      "--journal", str(mnt / "journal"), "--journal-segment-bytes", "256k"])
        lock = sqlite3.connect(db, timeout=30)
        lock.execute("BEGIN IMMEDIATE")  # the applier cannot write until this ends
        body = {"model": "durable", "features": features(20)}
        acked, statuses = [], []
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline:
            r = post(srv, body)
            statuses.append(r.status)
            if r.status == 200:
                acked.extend(x["id"] for x in r.json()["results"])
            elif r.status == 503:
                break
            else:
                raise AssertionError("unexpected %d: %s" % (r.status, r.body))
        assert statuses[-1] == 503, "the journal never filled the file system"
        assert len(acked) > 100
        assert "cannot allocate" in srv.log(), srv.log()  # ENOSPC making a segment
        assert post(srv, body).status == 503  # still full: refused, not acknowledged
        lock.rollback()
        lock.close()
        lock = None
        post_until_ok(srv, body, acked, 30 * SLOW)  # drained (segments released)
        assert srv.stop() == 0
    finally:
        if lock is not None:
            lock.close()
        if srv is not None:
            srv.close()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    assert_in_sqlite_once(db, acked)


def test_journal_cap_gives_503_with_retry_after_and_drains(repo, tmp_path):
    """journal_max_bytes: SQLite held locked by another connection so nothing can be applied,
    the journal grows to its cap (three 256 KiB segments), then durable requests get 503 with
    Retry-After and a body naming the cause, nothing beyond the cap acknowledged; once the lock
    goes the journal drains, durable requests succeed again, and every acknowledged record is in
    SQLite exactly once."""
    db = tmp_path / "cap.db"
    lock = None
    srv = Server(["--models", str(repo), "--store", "sqlite:%s" % db, "--access-log", "false",
                  "--journal", str(tmp_path / "journal"), "--journal-segment-bytes", "256k",
                  "--journal-max-bytes", "768k"])
    try:
        lock = sqlite3.connect(db, timeout=30)
        lock.execute("BEGIN IMMEDIATE")  # the applier cannot write until this ends
        body = {"model": "durable", "features": features(20)}
        acked = []
        deadline = time.time() + 30 * SLOW
        r = None
        while time.time() < deadline:
            r = post(srv, body)
            if r.status != 200:
                break
            acked.extend(x["id"] for x in r.json()["results"])
        assert r is not None and r.status == 503, (r.status, r.body) if r else None
        assert r.header("Retry-After"), r.body
        assert b"journal" in r.body and b"full" in r.body, r.body
        assert len(acked) > 100
        lag = journal_lag(srv)
        assert lag is not None and lag >= len(acked) - 20 * 4  # nearly all still unapplied
        lock.rollback()
        lock.close()
        lock = None
        post_until_ok(srv, body, acked, 30 * SLOW)
        deadline = time.time() + 20 * SLOW
        while journal_lag(srv) != 0 and time.time() < deadline:
            time.sleep(0.05)
        assert journal_lag(srv) == 0
        assert srv.stop() == 0
    finally:
        if lock is not None:
            lock.close()
        srv.close()
    assert_in_sqlite_once(db, acked)
