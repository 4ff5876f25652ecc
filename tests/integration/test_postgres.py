"""The PostgreSQL sink against a real, private PostgreSQL 15 (pg.py): durable answers are in the
table when they arrive, reads and paging match the SQLite sink, kill -9 of inferd under load
loses no acknowledged record, a database outage turns durable requests into prompt 503s and
loses nothing acknowledged, and the schema migration is idempotent. Without a working PostgreSQL
these tests fail, they do not skip."""
import json
import os
import random
import signal
import struct
import subprocess
import threading
import time

import pytest

from conftest import BIN, SLOW, Server, read_response
from records import f32, features, model_repo, post
from pg import Postgres, PostgresUnavailable, free_port


@pytest.fixture(scope="module")
def pg():
    srv = Postgres()
    try:
        srv.start()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as e:
        srv.close()
        pytest.fail("cannot run PostgreSQL for the postgres sink tests: %s" % e, pytrace=False)
    yield srv
    srv.close()


@pytest.fixture
def repo(tmp_path):
    return model_repo(tmp_path, ("durable", "buffered"))


def pg_ids(pg, db):
    return {r[0] for r in pg.psql("SELECT id FROM inferences", db)}


def store_arg(pg, db):
    return "postgres:" + pg.conninfo(db)


def test_durable_record_is_in_postgres_at_once_and_reads_match_sqlite(pg, server_factory, repo,
                                                                      tmp_path):
    db = pg.new_db()
    srv = server_factory("--models", str(repo), "--journal", "none", "--store", store_arg(pg, db),
                         "--access-log", "false")
    ref = server_factory("--models", str(repo), "--journal", "none", "--store",
                         "sqlite:%s" % (tmp_path / "ref.db"),
                         "--access-log", "false")
    r = post(srv, {"model": "durable", "features": features(1)[0]}, {"X-Request-Id": "req-42"})
    assert r.status == 200, r.body
    rid = r.json()["id"]
    # Committed before the answer: another connection sees it at once.
    row = pg.psql("SELECT model, version, request_id, output->>'prediction' FROM inferences"
                  " WHERE id = '%s'" % rid, db)
    assert row == [["durable", "1", "req-42", str(r.json()["prediction"])]]
    rec = srv.request("GET", "/inferences/" + rid).json()
    rid2 = post(ref, {"model": "durable", "features": features(1)[0]},
                {"X-Request-Id": "req-42"}).json()["id"]
    want = ref.request("GET", "/inferences/" + rid2).json()
    # The same record as the SQLite sink gives, field for field (jsonb may space it differently).
    assert set(rec) == set(want)
    for k in ("model", "version", "request_id", "output"):
        assert rec[k] == want[k], k
    assert f32(rec["input"]) == f32(want["input"]) == f32(features(1)[0])
    assert rec["ts"].endswith("Z") and rec["ts_us"] // 1000 == int(rid[:8] + rid[9:13], 16)
    assert srv.request("GET", "/inferences/01a2136f-0000-7000-8000-000000000000").status == 404
    assert srv.request("GET", "/inferences/nope").status == 404

    # A batch: one row each, listed in pages in id order, filters as with SQLite.
    r = post(srv, {"model": "durable", "features": features(25)})
    ids = [x["id"] for x in r.json()["results"]]
    assert len(ids) == 25 and ids == sorted(ids)
    assert pg_ids(pg, db) >= set(ids)
    got, cursor = [], None
    while True:
        q = "/inferences?model=durable&limit=10" + ("&cursor=" + cursor if cursor else "")
        page = srv.request("GET", q).json()
        got += [x["id"] for x in page["records"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert got == [rid] + ids
    every = srv.request("GET", "/inferences?limit=1000").json()
    assert [x["id"] for x in every["records"]] == [rid] + ids and every["next_cursor"] is None
    assert srv.request("GET", "/inferences?model=buffered").json()["records"] == []
    now = time.time()
    assert len(srv.request("GET", "/inferences?since=%f" % (now - 60)).json()["records"]) == 26
    assert srv.request("GET", "/inferences?until=%f" % (now - 60)).json()["records"] == []
    # A boundary between the two requests' times splits them.
    cut = (every["records"][0]["ts_us"] + every["records"][1]["ts_us"]) / 2e6
    after = srv.request("GET", "/inferences?limit=100&since=%.6f" % cut).json()["records"]
    assert [x["id"] for x in after] == ids
    before = srv.request("GET", "/inferences?until=%.6f" % cut).json()["records"]
    assert [x["id"] for x in before] == [rid]
    for bad in ["limit=0", "limit=1001", "cursor=nope", "model=%zz"]:
        assert srv.request("GET", "/inferences?" + bad).status == 400, bad

    # A request id cut at its length limit inside a character is not valid UTF-8, which
    # PostgreSQL refuses: the sink stores it repaired instead of failing the batch forever.
    s = srv.connect()
    body = json.dumps({"model": "buffered", "features": features(1)[0]}).encode()
    s.sendall(b"POST /inferences HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              b"Content-Type: application/json\r\nX-Request-Id: " + b"a" * 126 +
              "\u00e9".encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    bid = read_response(s).json()["id"]
    s.close()
    rid3 = post(srv, {"model": "durable", "features": features(1)[0]}).json()["id"]
    assert {bid, rid3} <= pg_ids(pg, db)  # the durable one commits after the buffered one


def test_schema_is_created_once_and_migrations_are_idempotent(pg, server_factory, repo):
    db = pg.new_db()
    # Two nodes starting together on an empty database: one creates, the other waits and sees it.
    nodes, errors = [], []

    def start():
        try:
            nodes.append(Server(["--models", str(repo), "--store", store_arg(pg, db),
                                 "--access-log", "false"]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        rid = post(nodes[0], {"model": "durable", "features": features(1)[0]}).json()["id"]
        for n in nodes:
            assert n.stop() == 0
    finally:
        for n in nodes:
            n.close()
    # Restarting runs no migration again and keeps the data.
    srv = server_factory("--models", str(repo), "--store", store_arg(pg, db),
                         "--access-log", "false")
    assert srv.request("GET", "/inferences/" + rid).status == 200
    assert "schema migrated" not in srv.log()
    assert pg.psql("SELECT version FROM schema_version ORDER BY version", db) == [["1"], ["2"], ["3"]]
    cols = pg.psql("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                   " WHERE attrelid = 'inferences'::regclass AND attnum > 0 ORDER BY attnum", db)
    assert cols == [["id", "uuid"], ["ts", "timestamp with time zone"], ["model", "text"],
                    ["version", "text"], ["request_id", "text"], ["input", "jsonb"],
                    ["output", "jsonb"], ["latency_ms", "double precision"]]
    assert pg.psql("SELECT indexdef FROM pg_indexes WHERE tablename = 'inferences'"
                   " AND indexname = 'inferences_model_id'", db) == [
        ["CREATE INDEX inferences_model_id ON public.inferences USING btree (model, id)"]]
    assert pg.psql("SELECT count(*) FROM pg_index WHERE indrelid = 'inferences'::regclass"
                   " AND indisprimary", db) == [["1"]]
    # A database migrated by a newer inferd is refused with a clear message, not misused.
    assert srv.stop() == 0
    pg.psql("INSERT INTO schema_version (version) VALUES (99)", db)
    with pytest.raises(RuntimeError, match="schema version 99, newer than this inferd"):
        Server(["--store", store_arg(pg, db)])


def test_unreachable_database_stops_the_server_at_start():
    with pytest.raises(RuntimeError, match="postgres: connect: .*refused"):
        Server(["--store", "postgres:host=127.0.0.1 port=%d dbname=x user=x" % free_port()])
    with pytest.raises(RuntimeError, match="postgres: bad connection string"):
        Server(["--store", "postgres:host=127.0.0.1 nonsense"])


class Load:
    """Threads posting durable (and optionally buffered) requests until stopped; every answer is
    recorded with its status and duration, and every acknowledged id is kept (the durable ones
    also apart: only those must survive a kill -9)."""

    def __init__(self, srv, threads=4, buffered=False):
        self.srv, self.stop_ev = srv, threading.Event()
        self.lock = threading.Lock()
        self.acked, self.durable, self.answers = [], [], []  # answers: (start, s, status, model)
        self.threads = [threading.Thread(target=self._run, args=(i, buffered and i % 2 == 1))
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self, i, buffered):
        import http.client
        model = "buffered" if buffered else "durable"
        body = json.dumps({"model": model, "features": features(3)}).encode()
        while not self.stop_ev.is_set():
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30 * SLOW)
                while not self.stop_ev.is_set():
                    t0 = time.time()
                    c.request("POST", "/inferences", body, {"Content-Type": "application/json"})
                    resp = c.getresponse()
                    data = resp.read()
                    with self.lock:
                        self.answers.append((t0, time.time() - t0, resp.status, model))
                        if resp.status == 200:
                            ids = [x["id"] for x in json.loads(data)["results"]]
                            self.acked.extend(ids)
                            if model == "durable":
                                self.durable.extend(ids)
                    if resp.status != 200:
                        time.sleep(0.01)
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)  # the server was killed: expected where a test does it

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()


def test_kill_9_loses_no_acknowledged_record(pg, repo):
    db = pg.new_db()
    random.seed(11)
    total = 0
    for n in range(5):
        srv = Server(["--models", str(repo), "--journal", "none", "--store", store_arg(pg, db),
                      "--access-log", "false"])
        try:
            load = Load(srv)
            time.sleep(random.uniform(0.2, 0.6) * SLOW)
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            load.stop()
            ids = pg_ids(pg, db)
            missing = [i for i in load.acked if i not in ids]
            assert not missing, "round %d: %d of %d acknowledged ids lost" % (
                n, len(missing), len(load.acked))
            total += len(load.acked)
        finally:
            srv.close()
    assert total > 0


def test_kill_9_journal_postgres(pg, repo, tmp_path):
    """The default: a journal (here inferd-journal/ in the working directory, as --journal auto
    puts it for a postgres: store). kill -9 under durable load, many rounds on one database and
    one journal; each round's records are applied by the next start, and after a last clean
    start every acknowledged id is in PostgreSQL exactly once."""
    db = pg.new_db()
    random.seed(13)
    acked = []
    args = ["--models", str(repo), "--store", store_arg(pg, db), "--access-log", "false",
            "--journal-segment-bytes", "256k"]
    for n in range(int(os.environ.get("INFERD_CRASH_ROUNDS", "20"))):
        srv = Server(args, cwd=str(tmp_path))
        try:
            load = Load(srv)
            time.sleep(random.uniform(0.1, 0.4) * SLOW)
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            load.stop()
            acked += load.acked
        finally:
            srv.close()
    assert (tmp_path / "inferd-journal" / "journal.id").exists()
    srv = Server(args, cwd=str(tmp_path))
    try:
        assert wait_journal_drained(srv, 20 * SLOW), srv.log()
        assert srv.stop() == 0
    finally:
        srv.close()
    rows = [r[0] for r in pg.psql("SELECT id FROM inferences", db)]
    have = set(rows)
    assert len(rows) == len(have), "a record was applied twice"
    missing = [i for i in acked if i not in have]
    assert not missing, "%d of %d acknowledged ids lost" % (len(missing), len(acked))
    assert len(acked) > 0


def test_database_outage_gives_prompt_503_and_loses_nothing_acknowledged(pg, server_factory,
                                                                        repo):
    db = pg.new_db()
    srv = server_factory("--models", str(repo), "--journal", "none", "--store", store_arg(pg, db),
                         "--access-log", "false")
    load = Load(srv, threads=4, buffered=True)
    try:
        time.sleep(0.5 * SLOW)
        pg.stop("immediate")
        t_down = time.time()
        time.sleep(2.0 * SLOW)
        # Reads fail cleanly too, and promptly.
        t0 = time.time()
        assert srv.request("GET", "/inferences?limit=1").status == 503
        assert time.time() - t0 < 5 * SLOW
        t_up = time.time()
        pg.start()
        # Back within a couple of back-offs: a durable request succeeds again.
        deadline = time.time() + 15 * SLOW
        while True:
            with load.lock:
                ok_after = [a for a in load.answers
                            if a[0] > t_up and a[2] == 200 and a[3] == "durable"]
            if ok_after:
                break
            assert time.time() < deadline, "no durable request succeeded after the restart"
            time.sleep(0.05)
        time.sleep(0.5 * SLOW)
    finally:
        load.stop()
        if not pg.running:
            pg.start()
    # Reads reconnect, and shutting down flushes what was buffered.
    assert srv.request("GET", "/inferences?limit=1").status == 200
    assert srv.stop() == 0
    with load.lock:
        answers = list(load.answers)
    down = [a for a in answers if t_down < a[0] and a[0] + a[1] < t_up and a[3] == "durable"]
    assert down and all(a[2] == 503 for a in down), "durable answers while down: %r" % (
        sorted({a[2] for a in down}),)
    # Bounded: no durable request waited long for its 503 (the reconnect back-off is 1 s).
    slowest = max(a[1] for a in down)
    assert slowest < 5 * SLOW, "a durable request took %.1f s to fail" % slowest
    # Buffered requests were acknowledged throughout and are all there now, as is every
    # durable record acknowledged before, during or after the outage.
    assert any(a[3] == "buffered" and a[2] == 200 for a in answers if t_down < a[0] < t_up)
    ids = pg_ids(pg, db)
    missing = [i for i in load.acked if i not in ids]
    assert not missing, "%d of %d acknowledged ids lost" % (len(missing), len(load.acked))


class CutAfterCommit:
    """A TCP proxy in front of PostgreSQL that, once armed, forwards the next write (the CopyDone
    that ends a COPY, or the Sync after a Bind of a prepared "insert_N"), gives the server time
    to commit, and then cuts that connection: the client never hears whether its write
    committed (as when a network or a server dies at the worst moment)."""

    def __init__(self, port):
        import socket
        self.target, self.armed, self.cuts = port, threading.Event(), 0
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            dead = threading.Event()  # set: the server's answers no longer reach the client
            threading.Thread(target=self._server, args=(s, c, dead), daemon=True).start()
            threading.Thread(target=self._client, args=(c, s, dead), daemon=True).start()

    def _server(self, src, dst, dead):
        try:
            while True:
                data = src.recv(65536)
                if not data or dead.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(2)
            except OSError:
                pass

    def _client(self, c, s, dead):
        """Client to server, parsing messages: the first is the untyped startup packet."""
        buf, started, insert = b"", False, False
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    break
                buf += data
                cut = False
                while True:
                    if not started:
                        if len(buf) < 4 or len(buf) < struct.unpack("!i", buf[:4])[0]:
                            break
                        n = struct.unpack("!i", buf[:4])[0]
                        started = True
                    else:
                        if len(buf) < 5 or len(buf) < 1 + struct.unpack("!i", buf[1:5])[0]:
                            break
                        n = 1 + struct.unpack("!i", buf[1:5])[0]
                        kind = buf[:1]
                        if kind == b"B":  # portal name, then statement name
                            insert = buf[5:n].split(b"\0")[1].startswith(b"insert_")
                        if self.armed.is_set() and (kind == b"c" or (kind == b"S" and insert)):
                            cut = True
                            dead.set()
                    s.sendall(buf[:n])
                    buf = buf[n:]
                if cut:
                    self.armed.clear()
                    self.cuts += 1
                    time.sleep(0.3)  # the server commits meanwhile
                    break
        except OSError:
            pass
        for x in (c, s):
            try:
                x.shutdown(2)
            except OSError:
                pass

    def close(self):
        self.ls.close()


def test_a_lost_answer_to_a_commit_writes_nothing_twice(pg, server_factory, repo):
    db = pg.new_db()
    proxy = CutAfterCommit(pg.port)
    try:
        srv = server_factory("--models", str(repo), "--journal", "none", "--store",
                             "postgres:host=127.0.0.1 port=%d"
                             " dbname=%s user=inferd sslmode=disable gssencmode=disable" % (
                                 proxy.port, db), "--access-log", "false")
        # Buffered: acknowledged at once, so the store must retry it; the retry finds it
        # committed and does not write it again (which would fail on the primary key forever).
        proxy.armed.set()
        bid = post(srv, {"model": "buffered", "features": features(1)[0]}).json()["id"]
        deadline = time.time() + 5 * SLOW
        while proxy.armed.is_set() or bid not in pg_ids(pg, db):
            assert time.time() < deadline, "buffered record not committed:\n" + srv.log()
            time.sleep(0.05)
        # Durable, a small batch (INSERT) and a large one (COPY): the sink retries at once on a
        # new connection, finds the records committed and acknowledges them.
        ids = [bid]
        for rows in (2, 40):
            proxy.armed.set()
            r = post(srv, {"model": "durable", "features": features(rows)})
            assert r.status == 200, r.body
            assert not proxy.armed.is_set()
            ids += [x["id"] for x in r.json()["results"]]
        assert proxy.cuts == 3
        assert pg.psql("SELECT count(*) FROM inferences", db) == [["43"]]
        assert pg_ids(pg, db) == set(ids)
        assert srv.log().count("committed by an attempt whose answer was lost") == 3
        assert post(srv, {"model": "durable", "features": features(1)[0]}).status == 200
    finally:
        proxy.close()


def test_new_ids_continue_after_the_newest_stored_one(pg, server_factory, repo):
    """A database holding an id from the future (a clock that went back between runs, or another
    node's clock ahead of ours) gets new ids above it, so keyset pages stay in commit order."""
    db = pg.new_db()
    args = ("--models", str(repo), "--store", store_arg(pg, db), "--access-log", "false")
    srv = server_factory(*args)
    assert post(srv, {"model": "durable", "features": features(1)[0]}).status == 200
    assert srv.stop() == 0
    ms = int(time.time() * 1000) + 5000
    future = "%08x-%04x-7abc-8def-0123456789ab" % (ms >> 16, ms & 0xffff)
    pg.psql("INSERT INTO inferences (id, ts, model, latency_ms) VALUES ('%s', now(), 'durable', 0)"
            % future, db)
    srv = server_factory(*args)
    r = post(srv, {"model": "durable", "features": features(1)[0]})
    assert r.status == 200, r.body
    rid = r.json()["id"]
    assert rid > future and rid[:13] == future[:13], (rid, future)
    page = srv.request("GET", "/inferences?model=durable").json()["records"]
    assert [x["id"] for x in page][-2:] == [future, rid]
    assert "ahead of this clock" in srv.log()


def raw_post(srv, text, timeout=10.0):
    return srv.request("POST", "/inferences", {"Content-Type": "application/json"},
                       text.encode(), timeout=timeout)


def body_with(model, first):
    """A request whose first feature is written as the text `first`, the rest from the fixture."""
    return '{"model":"%s","features":[%s,%s]}' % (
        model, first, ",".join(repr(x) for x in features(1)[0][1:]))


def metric(srv, name):
    for line in srv.request("GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_out_of_range_numbers_are_400_and_never_wedge_the_writer(pg, server_factory, repo):
    """Issue 8, finding 3: 1e-400000 underflowed to 0, was kept as written, and PostgreSQL's
    jsonb refused it on every retry: the writer wedged, the queue filled, and acknowledged
    records were lost at shutdown. Now such numbers are refused at ingress."""
    db = pg.new_db()
    srv = server_factory("--models", str(repo), "--journal", "none", "--store", store_arg(pg, db),
                         "--access-log", "false")
    bad_numbers = ["1e-400000", "-1e-400000", "1e400000", "1e999", "0.0000001e-400"]
    answers, lock = [], threading.Lock()

    def client(k):
        for i in range(30):
            model = ("durable", "buffered")[(k + i) % 2]
            bad = bad_numbers[(k + i) % len(bad_numbers)] if i % 5 == 0 else None
            r = raw_post(srv, body_with(model, bad if bad else repr(features(1)[0][0])))
            with lock:
                answers.append((bad, model, r.status, r.body))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for bad, model, status, body in answers:
        if bad:
            assert status == 400, (bad, status, body)
            assert b"number out of range" in body and b"column" in body, body
        else:
            assert status == 200, (model, status, body)
    acked = [json.loads(b)["id"] for bad, _, s, b in answers if not bad]
    # The writer keeps going: a durable request right after is committed at once.
    assert post(srv, {"model": "durable", "features": features(1)[0]}).status == 200
    # A zero written with an exponent jsonb cannot hold (its numeric keeps at most 16383 digits
    # after the point) is stored as plain 0: every number that passes ingress can be stored.
    r = raw_post(srv, body_with("durable", "-0e-20000"))
    assert r.status == 200, r.body
    acked.append(r.json()["id"])
    assert pg.psql("SELECT input->>0 FROM inferences WHERE id = '%s'" % acked[-1], db) == [["0"]]
    assert srv.stop() == 0
    assert "were not written" not in srv.log()
    ids = pg_ids(pg, db)
    assert all(i in ids for i in acked), "acknowledged records missing"
    assert int(pg.psql("SELECT count(*) FROM inferences", db)[0][0]) == len(acked) + 1


@pytest.mark.parametrize("journal", ["none", "journal"])
def test_records_postgres_refuses_are_isolated(pg, server_factory, repo, tmp_path, journal):
    """Records that pass ingress but that PostgreSQL refuses with a data error (a trigger stands
    for whatever the database may refuse; before issue 8 it was 1e-400000 in jsonb): the writer
    splits the batch so innocent records commit, a durable poison request gets 422 (not 503), a
    buffered one lands in inferd_dead_letters with a metric, nothing acknowledged is lost, and
    the queue moves on. With a journal, every request is acknowledged on the journal's fsync
    (200), and the applier sets each refused record aside in inferd_dead_letters."""
    db = pg.new_db()
    srv = server_factory("--models", str(repo), "--journal",
                         "none" if journal == "none" else str(tmp_path / "journal"), "--store", store_arg(pg, db),
                         "--access-log", "false")
    poison = "12345.5"
    pg.psql("CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.input::text LIKE '[12345.5,%' THEN"
            " RAISE EXCEPTION 'numeric value 12345.5 refused for the test'"
            " USING ERRCODE = '22003'; END IF; RETURN NEW; END $$;"
            " CREATE TRIGGER refuse_poison BEFORE INSERT ON inferences"
            " FOR EACH ROW EXECUTE FUNCTION refuse_poison()", db)
    answers, lock = [], threading.Lock()

    def client(k):
        for i in range(40):
            model = ("durable", "buffered")[(k + i) % 2]
            bad = i % 8 == 3
            r = raw_post(srv, body_with(model, poison if bad else repr(features(1)[0][0])))
            with lock:
                answers.append((bad, model, r.status, r.header("Retry-After"), r.body))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = {}
    for bad, model, status, retry, body in answers:
        statuses.setdefault((bad, model), set()).add(status)
        if bad and model == "durable" and journal == "none":
            assert status == 422 and retry is None, (status, body)
            assert b"refused by the store" in body and b"numeric" in body, body
        else:
            assert status == 200, (bad, model, status, body)
    n_dead = sum(1 for a in answers if a[0] and (a[1] == "buffered" or journal != "none"))
    assert n_dead > 0
    # The queue never wedged: a request now is committed at once.
    t0 = time.time()
    assert post(srv, {"model": "durable", "features": features(1)[0]}).status == 200
    assert time.time() - t0 < 2 * SLOW
    deadline = time.time() + 10 * SLOW
    while metric(srv, "inferd_store_dead_letters_total") < n_dead:
        assert time.time() < deadline, "dead letters: %s" % metric(
            srv, "inferd_store_dead_letters_total")
        time.sleep(0.05)
    if journal == "none":
        assert metric(srv, "inferd_store_refused_records_total") == n_dead + sum(
            1 for a in answers if a[0] and a[1] == "durable")
    assert srv.request("GET", "/v2/health/ready").status == 200
    assert srv.stop() == 0
    acked = [json.loads(a[4])["id"] for a in answers if a[2] == 200]
    ids = pg_ids(pg, db)
    dead = {r[0]: r[1:] for r in pg.psql(
        "SELECT id, model, convert_from(input, 'UTF8'), error FROM inferd_dead_letters", db)}
    assert len(dead) == n_dead
    for i in acked:
        assert i in ids or i in dead, "acknowledged record %s lost" % i
    for model, text, error in dead.values():
        assert (model == "buffered" or journal != "none") and text.startswith("[" + poison + ",")
        assert "numeric" in error
    assert not set(dead) & ids


def test_shutdown_that_cannot_write_acknowledged_records_exits_non_zero(pg, server_factory,
                                                                          repo):
    db = pg.new_db()
    srv = Server(["--models", str(repo), "--journal", "none", "--store", store_arg(pg, db),
                  "--access-log", "false"])
    try:
        assert post(srv, {"model": "buffered", "features": features(1)[0]}).status == 200
        time.sleep(0.3 * SLOW)
        pg.stop("immediate")
        assert post(srv, {"model": "buffered", "features": features(1)[0]}).status == 200
        # Readiness says the store cannot write while the writer retries.
        deadline = time.time() + 5 * SLOW
        while srv.request("GET", "/v2/health/ready").status != 503:
            assert time.time() < deadline, "readiness stayed true with the database down"
            time.sleep(0.05)
        r = srv.request("GET", "/v2/health/ready")
        assert "store commits failing" in r.json()["reason"], r.body
        rc = srv.stop()
        assert rc == 1, srv.log()[-3000:]
        assert "1 acknowledged records were not written" in srv.log()
    finally:
        srv.close()
        if not pg.running:
            pg.start()


def wait_journal_drained(srv, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metric(srv, 'inferd_journal_lag_records{sink="postgres"}') == 0:
            return True
        time.sleep(0.05)
    return False


def test_journal_outage_keeps_durable_requests_succeeding(pg, server_factory, repo, tmp_path):
    """Journal mode: PostgreSQL stopped under durable load. Durable requests keep succeeding
    (the journal holds them); when PostgreSQL is back every acknowledged record reaches it,
    once, even though inferd is then killed with -9 before the drain ends and restarted."""
    db = pg.new_db()
    args = ["--models", str(repo), "--store", store_arg(pg, db), "--access-log", "false",
            "--journal", str(tmp_path / "journal"), "--journal-segment-bytes", "1m"]
    srv = Server(args)
    load = Load(srv, threads=4)
    try:
        time.sleep(0.5 * SLOW)
        pg.stop("immediate")
        t_down = time.time()
        time.sleep(2.0 * SLOW)
        t_up = time.time()
        with load.lock:
            down = [a for a in load.answers if t_down < a[0] and a[0] + a[1] < t_up]
        assert down and all(a[2] == 200 for a in down), \
            "durable answers while PostgreSQL was down: %r" % (sorted({a[2] for a in down}),)
        assert metric(srv, 'inferd_journal_applying{sink="postgres"}') == 0
        assert metric(srv, 'inferd_journal_lag_records{sink="postgres"}') > 0
        # The oldest unapplied record was journaled about when PostgreSQL went down.
        lag_s = metric(srv, 'inferd_journal_lag_seconds{sink="postgres"}')
        assert 1.0 < lag_s < time.time() - t_down + 1.0, lag_s
        # Reads see acknowledged records that PostgreSQL does not have yet.
        with load.lock:
            probe_id = load.acked[-1]
        assert srv.request("GET", "/inferences/" + probe_id).status == 200
        pg.start()
        time.sleep(0.05)
        srv.proc.send_signal(signal.SIGKILL)  # before (or while) the journal drains
        srv.proc.wait()
        load.stop()
    finally:
        load.stop()
        if not pg.running:
            pg.start()
        srv.close()
    srv = server_factory(*args)
    assert wait_journal_drained(srv, 20 * SLOW), srv.log()
    assert metric(srv, 'inferd_journal_lag_seconds{sink="postgres"}') == 0
    assert srv.stop() == 0
    rows = [r[0] for r in pg.psql("SELECT id FROM inferences", db)]
    have = set(rows)
    assert len(rows) == len(have), "a record was applied twice"
    missing = [i for i in load.acked if i not in have]
    assert not missing, "%d of %d acknowledged ids lost" % (len(missing), len(load.acked))
    assert len(load.acked) > 0


def test_journal_committed_fails_fast_while_postgres_is_down(pg, server_factory, tmp_path):
    """committed durability answers after PostgreSQL's commit, and 503 at once while it is
    down; durable requests to the same server go on."""
    db = pg.new_db()
    repo = model_repo(tmp_path, ("committed", "durable"))
    srv = server_factory("--models", str(repo), "--store", store_arg(pg, db), "--access-log",
                         "false", "--journal", str(tmp_path / "journal"))
    r = post(srv, {"model": "committed", "features": features(1)[0]})
    assert r.status == 200
    rid = r.json()["id"]
    assert [rid] == [x[0] for x in pg.psql("SELECT id FROM inferences WHERE id = '%s'" % rid, db)]
    pg.stop("immediate")
    try:
        deadline = time.time() + 10 * SLOW
        status = None
        while time.time() < deadline:  # until the applier has noticed
            t0 = time.time()
            status = post(srv, {"model": "committed", "features": features(1)[0]}).status
            if status == 503:
                break
            time.sleep(0.1)
        assert status == 503
        assert time.time() - t0 < 5 * SLOW
        assert post(srv, {"model": "durable", "features": features(1)[0]}).status == 200
    finally:
        pg.start()


def test_two_journaled_nodes_behind_nginx_lose_nothing(pg, server_factory, repo, tmp_path):
    """Two inferd nodes, each with its own journal, behind nginx, one PostgreSQL. One node is
    killed with -9 under durable load; once it is restarted (and applies its journal) every
    acknowledged record is in PostgreSQL exactly once, and each journal has its own LSN row."""
    from nginx_proxy import Nginx
    db = pg.new_db()

    def node_args(name):
        return ["--models", str(repo), "--store", store_arg(pg, db), "--access-log", "false",
                "--journal", str(tmp_path / name)]

    a, b = Server(node_args("journal-a")), Server(node_args("journal-b"))
    try:
        proxy = Nginx([a.port, b.port])
    except Exception:
        a.close()
        b.close()
        raise
    try:
        class Front:
            port = proxy.port
        load = Load(Front, threads=4)
        time.sleep(1.0 * SLOW)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        t_killed = time.time()
        time.sleep(1.5 * SLOW)
        load.stop()
        with load.lock:
            after = [x for x in load.answers if x[0] > t_killed + 0.5]
        assert any(x[2] == 200 for x in after), "the surviving node answered nothing"
        a.close()
        a = Server(node_args("journal-a"))  # applies what its journal holds
        for srv in (a, b):
            assert wait_journal_drained(srv, 20 * SLOW), srv.log()
        assert a.stop() == 0 and b.stop() == 0
    finally:
        load.stop()
        proxy.close()
        a.close()
        b.close()
    rows = [r[0] for r in pg.psql("SELECT id FROM inferences", db)]
    have = set(rows)
    assert len(rows) == len(have), "a record was applied twice"
    missing = [i for i in load.acked if i not in have]
    assert not missing, "%d of %d acknowledged ids lost" % (len(missing), len(load.acked))
    assert len(load.acked) > 100
    assert len(pg.psql("SELECT journal_id FROM inferd_journal", db)) == 2


def test_a_table_described_only_by_its_schema_reaches_postgres(pg, tmp_path):
    """The generic store: tests/unit/test_store_tables.c submits rows of a second table
    (test_measurements: uuid, timestamptz, text, float8, bigint, jsonb, nulls, non-ASCII text,
    tabs and quotes) interleaved with predictions, without and with a journal; psql must read
    back every acknowledged row once, with the values the same formulas give here."""
    db = pg.new_db()
    exe = os.path.join(os.path.dirname(BIN), "test_store_tables")
    p = subprocess.run([exe, store_arg(pg, db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    acked_m, acked_p = {}, []
    for line in p.stdout.decode().splitlines():
        f = line.split()
        if f[0] == "M":
            acked_m[f[2]] = (int(f[1]), int(f[3]))
        else:
            acked_p.append(f[1])
    assert len(acked_m) == 800 and len(acked_p) == 800

    types = dict(pg.psql("SELECT column_name, data_type FROM information_schema.columns"
                         " WHERE table_name = 'test_measurements'", db))
    assert types == {"id": "uuid", "at": "timestamp with time zone", "sensor": "text",
                     "value": "double precision", "n": "bigint", "note": "text", "doc": "jsonb",
                     "ratio": "double precision"}
    rows = pg.psql("SELECT json_build_object('id', id, 'at_us',"
                   " (extract(epoch FROM at) * 1000000)::bigint, 'sensor', sensor, 'value', value,"
                   " 'n', n, 'note', note, 'doc', doc, 'ratio', ratio) FROM test_measurements", db)
    got = [json.loads(r[0]) for r in rows]
    assert len(got) == len(acked_m)  # nothing twice, nothing extra
    for g in got:
        i, at_us = acked_m[g["id"]]
        assert g["at_us"] == at_us
        assert at_us // 1000 == int(g["id"].replace("-", "")[:12], 16)  # the id's millisecond
        want = {"sensor": "s%d-\u00fc\u20ac" % (i % 7), "value": i * 0.5 - 3,
                "n": None if i % 3 == 0 else i * 1000000007,
                "note": None if i % 2 else 'note "%d",\ttab' % i,
                "doc": None if i % 4 == 0 else {"i": i},
                "ratio": None if i % 5 else i / 7.0}
        for k, v in want.items():
            assert g[k] == v, (i, k, g[k], v)
    preds = pg.psql("SELECT id, count(*) FROM inferences GROUP BY id", db)
    assert sorted(r[0] for r in preds) == sorted(acked_p)
    assert all(r[1] == "1" for r in preds)


def test_collections_live_in_postgres_and_come_back_from_it(pg, tmp_path):
    """Seed 004 keeps embeddings in PostgreSQL: a collection's changes are rows of the points
    table there (vectors as jsonb arrays, exact float32 values), and a start after kill -9 (the
    journal applied first) rebuilds the collection from PostgreSQL alone."""
    db = pg.new_db()
    args = ["--store", store_arg(pg, db), "--access-log", "false"]

    def call(srv, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        return srv.request(method, path, {"Content-Type": "application/json"}, data)

    vecs = [[0.1, 0.2, 0.3], [1.5, -2.25, 1e-8], [3.0, 3.0, 3.0]]
    srv = Server(args, cwd=str(tmp_path))
    try:
        deadline = time.time() + 20 * SLOW  # readiness includes the collections' replay
        while srv.request("GET", "/v2/health/ready").status != 200 and time.time() < deadline:
            time.sleep(0.02)
        assert call(srv, "PUT", "/collections/reid", {"dim": 3, "metric": "l2",
                                                      "index": {"type": "hnsw"}}).status == 201
        r = call(srv, "POST", "/collections/reid/points",
                 {"ids": [10, 11, 12], "vectors": vecs,
                  "payloads": [{"camera": "a"}, None, {"camera": "b\u00e9"}]})
        assert r.status == 200, r.body
        assert call(srv, "DELETE", "/collections/reid/points/12").status == 200
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
    finally:
        srv.close()
    srv = Server(args, cwd=str(tmp_path))
    try:
        deadline = time.time() + 20 * SLOW
        while call(srv, "GET", "/collections/reid").status == 503 and time.time() < deadline:
            time.sleep(0.05)
        info = call(srv, "GET", "/collections/reid").json()
        assert info["points"] == 2, info
        got = call(srv, "POST", "/collections/reid/search",
                   {"vector": [1.5, -2.25, 0], "k": 3}).json()
        assert got["ids"] == [11, 10] and got["payloads"] == [None, {"camera": "a"}], got
        rows = pg.psql("SELECT op, point_id, vector::text, payload->>'camera' FROM points"
                       " ORDER BY id", db)
        assert [r[0] for r in rows] == ["create", "upsert", "upsert", "upsert", "delete"], rows
        assert json.loads(rows[2][2]) == [1.5, -2.25, 1e-8] and rows[3][3] == "b\u00e9", rows
        assert srv.stop() == 0
    finally:
        srv.close()
