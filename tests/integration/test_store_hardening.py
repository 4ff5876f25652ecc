"""Issue 8 hardening of the record path: numbers beyond double's range and duplicate JSON keys
are refused at ingress with 400 naming them; a SQLite database deleted under load stops
acknowledgements (503, metric, log) instead of acknowledging records that cannot survive, and
a deleted WAL is checkpointed so that every acknowledged record survives kill -9. PostgreSQL's
side (records it refuses, dead letters) is in test_postgres.py."""
import json
import os
import signal
import sqlite3
import threading
import time

import pytest

from conftest import SLOW, Server
from records import features, model_repo, post


@pytest.fixture
def repo(tmp_path):
    return model_repo(tmp_path, ("durable", "buffered"))


def raw(srv, path, text):
    return srv.request("POST", path, {"Content-Type": "application/json"}, text.encode())


def feats(first=None):
    xs = [repr(x) for x in features(1)[0]]
    if first is not None:
        xs[0] = first
    return "[" + ",".join(xs) + "]"


def metric(srv, name):
    for line in srv.request("GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_out_of_range_numbers_and_duplicate_keys_are_400(server_factory, repo):
    srv = server_factory("--models", str(repo), "--access-log", "false")
    for num in ["1e-400000", "-1e-400000", "1e400000", "2.4703282292062327e-324", "1e309"]:
        r = raw(srv, "/inferences", '{"model":"durable","features":%s}' % feats(num))
        assert r.status == 400, (num, r.status, r.body)
        err = r.json()["error"]
        assert "number out of range at line 1, column 32 (byte 31)" in err, err
    # A zero with a big exponent is zero, and subnormals are in range.
    for num in ["0e-400", "4.9e-324"]:
        r = raw(srv, "/inferences", '{"model":"durable","features":%s}' % feats(num))
        assert r.status == 200, (num, r.body)

    # Duplicate keys: which one counts differs between readers, so neither does.
    r = raw(srv, "/inferences", '{"model":"durable","features":%s,\n "features":%s}'
            % (feats(), feats("1")))
    assert r.status == 400
    assert 'duplicate key \\"features\\" at line 2, column 2' in r.body.decode(), r.body
    r = raw(srv, "/inferences", '{"model":"durable","model":"buffered","features":%s}' % feats())
    assert r.status == 400 and 'duplicate key \\"model\\"' in r.body.decode(), r.body
    r = raw(srv, "/inferences", '{"model":"durable","\\u0066eatures":[1],"features":%s}'
            % feats())
    assert r.status == 400 and 'duplicate key \\"features\\"' in r.body.decode(), r.body
    oip = ('{"inputs":[{"name":"input","shape":[1,30],"datatype":"FP32","data":%s,'
           '"datatype":"FP64"}]}' % feats())
    r = raw(srv, "/v2/models/durable/infer", oip)
    assert r.status == 400 and 'duplicate key \\"datatype\\"' in r.body.decode(), r.body
    r = raw(srv, "/v2/models/durable/infer", oip.replace(',"datatype":"FP64"', ""))
    assert r.status == 200, r.body
    # Nothing refused was recorded; the store is healthy.
    assert metric(srv, "inferd_store_healthy") == 1


class DurableLoad:
    """Clients sending durable requests in a loop; keeps every answer (time, status, id)."""

    def __init__(self, srv, threads=4, model="durable"):
        self.srv, self.model, self.stopping = srv, model, threading.Event()
        self.lock, self.answers = threading.Lock(), []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stopping.is_set():
            t0 = time.time()
            try:
                r = post(self.srv, {"model": self.model, "features": features(1)[0]})
            except OSError:
                if self.stopping.is_set():
                    return
                continue
            rid = r.json().get("id") if r.status == 200 else None
            with self.lock:
                self.answers.append((t0, time.time(), r.status, rid))

    def acked(self):
        with self.lock:
            return [a[3] for a in self.answers if a[2] == 200]

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(10 * SLOW)


def test_deleted_database_stops_acknowledging(server_factory, repo, tmp_path):
    """Issue 8, finding 8: after rm log.db log.db-wal log.db-shm under durable load, 102,956 more
    records were acknowledged and none survived. Now the first commit after the deletion is
    not acknowledged, and none after it."""
    db = tmp_path / "log.db"
    srv = server_factory("--models", str(repo), "--journal", "none", "--store", "sqlite:%s" % db,
                         "--access-log", "false")
    load = DurableLoad(srv)
    try:
        time.sleep(0.5 * SLOW)
        assert len(load.acked()) > 10
        for sfx in ("", "-wal", "-shm"):
            os.unlink("%s%s" % (db, sfx))
        t_rm = time.time()
        time.sleep(1.0 * SLOW)
    finally:
        load.stop()
    with load.lock:
        after = [a for a in load.answers if a[0] > t_rm]
    assert after and all(a[2] == 503 for a in after), sorted({a[2] for a in after})
    # Answered promptly, not after a timeout.
    assert max(a[1] - a[0] for a in after) < 2 * SLOW
    r = post(srv, {"model": "buffered", "features": features(1)[0]})
    assert r.status == 503 and "Stale file handle" in r.json()["error"], r.body
    assert post(srv, {"model": "durable", "features": features(1)[0]}).status == 503
    assert metric(srv, "inferd_store_healthy") == 0
    r = srv.request("GET", "/v2/health/ready")
    assert r.status == 503 and "log.db was deleted or replaced" in r.json()["reason"], r.body
    assert "log.db was deleted or replaced" in srv.log()
    assert srv.stop() == 0  # nothing acknowledged was left unwritten at shutdown


def test_deleted_wal_is_checkpointed_and_kill_9_loses_no_acknowledged_record(repo, tmp_path):
    """Issue 8, finding 8: rm log.db-wal then kill -9 lost 701 of 99,598 acknowledged records.
    Now the store notices at its next commit, checkpoints the deleted WAL (still open) into the
    database file and stops acknowledging."""
    db = tmp_path / "log.db"
    args = ["--models", str(repo), "--journal", "none", "--store", "sqlite:%s" % db,
            "--access-log", "false"]
    srv = Server(args)
    try:
        load = DurableLoad(srv)
        try:
            time.sleep(0.5 * SLOW)
            os.unlink("%s-wal" % db)
            t_rm = time.time()
            time.sleep(0.5 * SLOW)
        finally:
            load.stop()
        srv.proc.kill()
        srv.proc.wait()
        log = srv.log()
    finally:
        srv.close()
    acked = load.acked()
    with load.lock:
        late = [a for a in load.answers if a[0] > t_rm + 0.2 * SLOW]
    assert late and all(a[2] == 503 for a in late), sorted({a[2] for a in late})
    assert "log.db-wal was deleted or replaced" in log, log[-2000:]
    assert "checkpointed" in log, log[-2000:]
    con = sqlite3.connect(str(db))
    try:
        ids = {r[0] for r in con.execute("SELECT id FROM inferences")}
    finally:
        con.close()
    missing = [i for i in acked if i not in ids]
    assert len(acked) > 10 and not missing, "%d of %d acknowledged records lost" % (
        len(missing), len(acked))
