"""Vector collections over HTTP: answers checked against NumPy's exact search (float64), filters
against NumPy on the filtered subset, every error a 4xx naming the problem, and persistence
through the points table: a restart and kill -9 keep every acknowledged change (creates,
upserts, replacements, deletes, drops)."""
import json
import os
import threading
import time

import numpy as np
import pytest

from conftest import SLOW, Server
from embed_models import make_folder


def call(srv, method, path, body=None, timeout=20.0):
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    return srv.request(method, path, {"Content-Type": "application/json"}, data, timeout=timeout)


def ready(srv):
    """Waits for readiness, which includes the collections' replay at start (503 until then)."""
    deadline = time.time() + 20 * SLOW
    while time.time() < deadline:
        if srv.request("GET", "/v2/health/ready").status == 200:
            return srv
        time.sleep(0.02)
    raise AssertionError("not ready: " + srv.log()[-2000:])


def clustered(n, dim, seed):
    """Learned-embedding-like data: a few latent directions plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    return (centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)


def exact(data, ids, q, k, metric):
    """The k nearest ids by NumPy in float64, and their scores as the API states them."""
    x, v = data.astype(np.float64), q.astype(np.float64)
    if metric == "l2":
        s = ((x - v) ** 2).sum(1)
        order = np.lexsort((ids, s))
    else:
        if metric == "cos":
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
            v = v / np.linalg.norm(v)
        s = x @ v
        order = np.lexsort((ids, -s))
    return [int(ids[i]) for i in order[:k]], [float(s[i]) for i in order[:k]]


def create(srv, name, dim, metric, index=None):
    body = {"dim": dim, "metric": metric}
    if index:
        body["index"] = index
    r = call(srv, "PUT", "/collections/" + name, body)
    assert r.status in (200, 201), r.body
    return r


def upsert(srv, name, ids, vecs, payloads=None):
    body = {"ids": [int(i) for i in ids], "vectors": [[float(x) for x in v] for v in vecs]}
    if payloads is not None:
        body["payloads"] = payloads
    r = call(srv, "POST", "/collections/%s/points" % name, body)
    assert r.status == 200, r.body
    assert r.json()["upserted"] == len(ids)


def search(srv, name, body):
    r = call(srv, "POST", "/collections/%s/search" % name, body)
    assert r.status == 200, r.body
    return r.json()


@pytest.mark.parametrize("metric", ["l2", "ip", "cos"])
def test_flat_answers_as_numpy(server_factory, metric):
    srv = ready(server_factory("--access-log", "false"))
    data = clustered(600, 16, 1)
    ids = np.arange(1000, 1600)
    create(srv, "f", 16, metric, {"type": "flat"})
    for lo in range(0, 600, 250):  # several requests
        upsert(srv, "f", ids[lo:lo + 250], data[lo:lo + 250])
    for q in clustered(15, 16, 2):
        want_ids, want_scores = exact(data, ids, q, 10, metric)
        got = search(srv, "f", {"vector": q.tolist(), "k": 10})
        assert got["ids"] == want_ids
        assert np.allclose(got["scores"], want_scores, rtol=1e-4, atol=1e-4)
        assert got["payloads"] == [None] * 10


def test_hnsw_recall_and_search_by_id(server_factory):
    srv = ready(server_factory("--access-log", "false"))
    data = clustered(3000, 32, 3)
    ids = np.arange(3000) * 7
    create(srv, "h", 32, "cos", {"type": "hnsw", "m": 16, "ef_construction": 100})
    for lo in range(0, 3000, 1000):
        upsert(srv, "h", ids[lo:lo + 1000], data[lo:lo + 1000])
    hit = 0
    queries = clustered(40, 32, 4)
    for q in queries:
        want, _ = exact(data, ids, q, 10, "cos")
        got = search(srv, "h", {"vector": q.tolist(), "k": 10, "ef": 100})["ids"]
        hit += len(set(got) & set(want))
    assert hit / (10 * len(queries)) >= 0.95, hit
    # By id: the point's own vector is the query, and the point itself is not answered.
    want, _ = exact(data, ids, data[5], 11, "cos")
    got = search(srv, "h", {"id": int(ids[5]), "k": 10, "ef": 200})["ids"]
    assert int(ids[5]) not in got
    assert len(set(got) & set(want[1:])) >= 9
    info = call(srv, "GET", "/collections/h").json()
    assert info["points"] == 3000 and info["settings"]["index"]["type"] == "hnsw"
    assert "inferd_collection_points 3000\n" in call(srv, "GET", "/metrics").body.decode()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_searches_during_adds_see_whole_points(server_factory, kind):
    """Searches run while batches are added (the index adds beside them): every answer is a
    point sent so far with its own payload, never a half-added one, and a point acknowledged
    before the search started is found."""
    srv = ready(server_factory("--access-log", "false"))
    n, batch, dim = 8000, 2000, 32
    data = clustered(n, dim, 11)
    ids = np.arange(n) * 3 + 1
    create(srv, "c", dim, "l2", {"type": kind, "m": 16, "ef_construction": 80}
           if kind == "hnsw" else {"type": "flat"})
    upsert(srv, "c", ids[:batch], data[:batch], [{"id": int(i)} for i in ids[:batch]])
    acked = [batch]  # points acknowledged so far
    sent = [batch]
    errors = []

    def writer():
        try:
            for lo in range(batch, n, batch):
                sent[0] = lo + batch
                upsert(srv, "c", ids[lo:lo + batch], data[lo:lo + batch],
                       [{"id": int(i)} for i in ids[lo:lo + batch]])
                acked[0] = lo + batch
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    rng = np.random.default_rng(12)
    searches = found = 0
    while t.is_alive() or searches < 50:
        done = acked[0]
        j = int(rng.integers(0, done))
        got = search(srv, "c", {"vector": data[j].tolist(), "k": 5, "ef": 100})
        allowed = set(int(i) for i in ids[:sent[0]])
        for i, p in zip(got["ids"], got["payloads"]):
            assert i in allowed, (i, sent[0])
            assert p == {"id": i}, (i, p)
        found += got["ids"][0] == int(ids[j])
        searches += 1
    t.join()
    assert not errors, errors
    assert found >= 0.97 * searches, (found, searches)
    assert call(srv, "GET", "/collections/c").json()["points"] == n


def test_ivf_kinds_search_exactly_until_trained(server_factory):
    srv = ready(server_factory("--access-log", "false"))
    data = clustered(2000, 16, 5)
    ids = np.arange(2000)
    # Every list probed: what is left is the codes' error (SQ8 small; PQ at 2 dims per code).
    for name, index, floor in (("sq", {"type": "ivfsq", "nlist": 8, "train_size": 1000}, 0.9),
                               ("pq", {"type": "ivfpq", "nlist": 8, "pq_m": 8,
                                       "train_size": 1000}, 0.7)):
        create(srv, name, 16, "l2", index)
        upsert(srv, name, ids[:500], data[:500])
        assert call(srv, "GET", "/collections/" + name).json()["indexed"] is False
        q = clustered(1, 16, 6)[0]
        assert search(srv, name, {"vector": q.tolist(), "k": 5})["ids"] == exact(
            data[:500], ids[:500], q, 5, "l2")[0]
        upsert(srv, name, ids[500:], data[500:])
        assert call(srv, "GET", "/collections/" + name).json()["indexed"] is True
        hit = 0
        for q in clustered(20, 16, 7):
            want, _ = exact(data, ids, q, 10, "l2")
            got = search(srv, name, {"vector": q.tolist(), "k": 10, "nprobe": 8})["ids"]
            hit += len(set(got) & set(want))
        assert hit / 200 >= floor, (name, hit)


def test_ivfpq_refine_reranks_with_exact_distances(tmp_path):
    """An ivfpq collection built with refine: a search with rerank answers exact distances (NumPy's)
    and finds more of the exact answer than the codes alone; the setting survives a restart."""
    args = ["--store", "sqlite:%s/c.db" % tmp_path, "--access-log", "false"]
    srv = ready(Server(args))
    try:
        n, dim = 3000, 32
        data = clustered(n, dim, 21)
        ids = np.arange(n)
        create(srv, "pq", dim, "l2", {"type": "ivfpq", "nlist": 8, "pq_m": 4, "train_size": 2000,
                                      "refine": True})
        for lo in range(0, n, 1000):
            upsert(srv, "pq", ids[lo:lo + 1000], data[lo:lo + 1000])
        assert call(srv, "GET", "/collections/pq").json()["settings"]["index"]["refine"] is True
        qs = clustered(20, dim, 22)
        hits_codes = hits_rerank = 0
        for q in qs:
            want, wscores = exact(data, ids, q, 10, "l2")
            plain = search(srv, "pq", {"vector": q.tolist(), "k": 10, "nprobe": 8})
            rr = search(srv, "pq", {"vector": q.tolist(), "k": 10, "nprobe": 8, "rerank": 200})
            for i, s in zip(rr["ids"], rr["scores"]):
                assert abs(s - float(((data[i].astype(np.float64) - q) ** 2).sum())) < 1e-3 * (1 + s)
            hits_codes += len(set(plain["ids"]) & set(want))
            hits_rerank += len(set(rr["ids"]) & set(want))
        assert hits_rerank >= 0.95 * 200 and hits_rerank > hits_codes, (hits_codes, hits_rerank)
        r = call(srv, "PUT", "/collections/bad", {"dim": 4, "index": {"type": "hnsw", "refine": True}})
        assert r.status == 400 and "--refine is for ivfpq" in r.json()["error"], r.body
        r = call(srv, "PUT", "/collections/bad", {"dim": 4, "index": {"type": "ivfpq", "nlist": 2,
                                                                       "pq_m": 2, "refine": 1}})
        assert r.status == 400 and "\"index.refine\" must be true or false" in r.json()["error"]
    finally:
        assert srv.stop() == 0
        srv.close()
    srv = ready(Server(args))
    try:
        assert call(srv, "GET", "/collections/pq").json()["settings"]["index"]["refine"] is True
        q = qs[0]
        want, _ = exact(data, ids, q, 10, "l2")
        rr = search(srv, "pq", {"vector": q.tolist(), "k": 10, "nprobe": 8, "rerank": 200})
        assert len(set(rr["ids"]) & set(want)) >= 9
    finally:
        assert srv.stop() == 0
        srv.close()


def test_filters_match_numpy_on_the_subset(server_factory):
    srv = ready(server_factory("--access-log", "false"))
    n = 400
    data = clustered(n, 8, 8)
    ids = np.arange(n)
    genres = ["drama", "comedy", "horror", "drama\u00e9"]
    payloads = [{"genre": genres[i % 4], "year": 1990 + i % 7, "new": i % 5 == 0} if i % 9 else None
                for i in range(n)]
    for index in ({"type": "flat"}, {"type": "hnsw"}):
        name = "filt_" + index["type"]
        create(srv, name, 8, "l2", index)
        upsert(srv, name, ids, data, payloads)
        q = clustered(1, 8, 9)[0]
        keep = [i for i in range(n) if payloads[i] and payloads[i]["genre"] == "drama\u00e9"
                and payloads[i]["year"] == 1993]
        want, _ = exact(data[keep], ids[keep], q, 5, "l2")
        got = search(srv, name, {"vector": q.tolist(), "k": 5, "ef": 400,
                                 "filter": {"payload": {"genre": "drama\u00e9", "year": 1993}}})
        assert got["ids"] == want, index
        assert all(p["genre"] == "drama\u00e9" and p["year"] == 1993 for p in got["payloads"])
        allow = [3, 50, 77, 200, 399, 5000]
        sub = [i for i in allow if i < n]
        want, _ = exact(data[sub], ids[sub], q, 10, "l2")
        got = search(srv, name, {"vector": q.tolist(), "k": 10, "filter": {"ids": allow}})
        assert got["ids"] == want
        got = search(srv, name, {"vector": q.tolist(), "k": 3,
                                 "filter": {"payload": {"new": True}, "ids": allow}})
        assert got["ids"] == [i for i in want if payloads[i] and payloads[i]["new"]][:3]


def test_replace_and_delete(server_factory):
    srv = ready(server_factory("--access-log", "false"))
    create(srv, "r", 2, "l2", {"type": "hnsw"})
    upsert(srv, "r", [1, 2, 3], [[0, 0], [5, 5], [9, 9]], [{"v": 1}, {"v": 2}, {"v": 3}])
    upsert(srv, "r", [2], [[0.1, 0.1]], [{"v": "new"}])  # replaced: moves next to point 1
    got = search(srv, "r", {"vector": [0, 0], "k": 3})
    assert got["ids"] == [1, 2, 3] and got["payloads"][1] == {"v": "new"}
    r = call(srv, "DELETE", "/collections/r/points/1")
    assert r.status == 200 and r.json()["deleted"] == 1
    assert search(srv, "r", {"vector": [0, 0], "k": 3})["ids"] == [2, 3]
    r = call(srv, "DELETE", "/collections/r/points/1")
    assert r.status == 404 and "no point 1" in r.json()["error"]
    info = call(srv, "GET", "/collections/r").json()
    assert info["points"] == 2
    metrics = call(srv, "GET", "/metrics").body.decode()
    assert "inferd_collection_points 2\n" in metrics and "inferd_collections 1\n" in metrics
    assert 'inferd_collection_changes_total{outcome="applied"} 4\n' in metrics, metrics
    assert "inferd_collection_search_seconds_count 2\n" in metrics
    assert call(srv, "DELETE", "/collections/r").status == 200
    assert call(srv, "GET", "/collections/r").status == 404
    assert call(srv, "GET", "/collections").json() == {"collections": []}


def test_bad_requests_name_the_problem(server_factory):
    srv = ready(server_factory("--access-log", "false", "--collection-max-points", "5"))
    create(srv, "e", 3, "l2")
    cases = [
        ("PUT", "/collections/x", {"metric": "l2"}, 400, "\"dim\""),
        ("PUT", "/collections/x", {"dim": 0}, 400, "\"dim\" must be an integer from 1 to 4096"),
        ("PUT", "/collections/x", {"dim": 3, "metric": "hamming"}, 400, "\"metric\""),
        ("PUT", "/collections/x", {"dim": 3, "index": {"type": "lsh"}}, 400, "index.type"),
        ("PUT", "/collections/x", {"dim": 3, "index": {"type": "ivf"}}, 400, "needs \"nlist\""),
        ("PUT", "/collections/x", {"dim": 3, "index": {"type": "hnsw", "M": 4}}, 400,
         "unknown setting \"M\""),
        ("PUT", "/collections/x", {"dim": 6, "index": {"type": "ivfpq", "nlist": 4, "pq_m": 4}},
         400, ""),
        ("PUT", "/collections/bad%20name", {"dim": 3}, 400, "collection name"),
        ("PUT", "/collections/e", {"dim": 4}, 409, "other settings"),
        ("POST", "/collections/nope/points", {"ids": [1], "vectors": [[1, 2, 3]]}, 404,
         "no collection \"nope\""),
        ("POST", "/collections/e/points", {"ids": [1], "vectors": [[1, 2]]}, 400,
         "vectors[0] must be a list of 3 numbers"),
        ("POST", "/collections/e/points", {"ids": [1, 2], "vectors": [[1, 2, 3]]}, 400,
         "one per id"),
        ("POST", "/collections/e/points", {"ids": [1.5], "vectors": [[1, 2, 3]]}, 400,
         "\"ids\"[0] is not an integer"),
        ("POST", "/collections/e/points", {"ids": [1], "vectors": [[1, "a", 3]]}, 400,
         "vectors[0]"),
        ("POST", "/collections/e/points", {"ids": [1], "vectors": [[1, 1e39, 3]]}, 400,
         "vectors[0]"),
        ("POST", "/collections/e/points", {"ids": [1], "vectors": [[1, 2, 3]],
                                           "payloads": [[1]]}, 400, "payloads[0]"),
        ("POST", "/collections/e/points", {"ids": list(range(6)), "vectors": [[1, 2, 3]] * 6},
         413, "max_points"),
        ("POST", "/collections/e/points", {"ids": [1], "texts": ["hi"], "model": "m"}, 404,
         "m"),
        ("POST", "/collections/e/points", {"ids": [1], "texts": "hi"}, 400,
         "\"texts\" must be a list of strings"),
        ("POST", "/collections/e/points", {"ids": [1], "texts": ["hi"], "vectors": [[1, 2, 3]]},
         400, "body must be"),
        ("POST", "/collections/e/search", {"vector": [1, 2]}, 400, "list of 3 numbers"),
        ("POST", "/collections/e/search", {"vector": [1, 2, 3], "k": 0}, 400, "\"k\""),
        ("POST", "/collections/e/search", {"vector": [1, 2, 3], "k": 1001}, 400, "\"k\""),
        ("POST", "/collections/e/search", {"vector": [1, 2, 3], "id": 4}, 400, "body must be"),
        ("POST", "/collections/e/search", {"id": 12345}, 404, "no point 12345"),
        ("POST", "/collections/e/search", {"vector": [1, 2, 3], "filter": {"tag": 1}}, 400,
         "unknown filter"),
        ("POST", "/collections/e/search", {"vector": [1, 2, 3], "filter": {"payload": {"a": []}}},
         400, "filter.payload"),
        ("DELETE", "/collections/e/points/abc", None, 400, "point id"),
        ("DELETE", "/collections/e/points/7", None, 404, "no point 7"),
        ("DELETE", "/collections/nope", None, 404, ""),
    ]
    for method, path, body, status, says in cases:
        r = call(srv, method, path, body)
        assert r.status == status, (method, path, body, r.status, r.body)
        assert says in r.json()["error"], (body, r.body)
    r = call(srv, "POST", "/collections/e/points", b'{"ids": [1], "vectors": [[1, NaN, 3]]}')
    assert r.status == 400 and "invalid JSON" in r.json()["error"]
    assert call(srv, "GET", "/collections/e").json()["points"] == 0


def test_changes_survive_restart_and_kill_9(tmp_path):
    """Creates, upserts (some replacing), deletes and a drop, acknowledged under load from
    several clients; kill -9; a restart shows exactly the acknowledged state."""
    db = tmp_path / "c.db"
    args = ["--store", "sqlite:%s" % db, "--access-log", "false"]
    srv = ready(Server(args))
    state = {}  # point id -> vector, as acknowledged
    pending = []  # the change in flight when the server died: it may or may not be kept
    lock = threading.Lock()
    stop = threading.Event()
    errors = []
    try:
        create(srv, "keep", 4, "l2", {"type": "hnsw"})
        create(srv, "gone", 4, "l2", {"type": "flat"})
        upsert(srv, "gone", [1], [[1, 2, 3, 4]])
        assert call(srv, "DELETE", "/collections/gone").status == 200

        def client(seed):
            rng = np.random.default_rng(seed)
            while not stop.is_set():
                ids = [int(i) for i in rng.integers(0, 300, 8)]
                vecs = rng.normal(size=(8, 4)).round(3)
                try:
                    if rng.random() < 0.15:
                        pid = ids[0]
                        with lock:
                            pending[:] = [("delete", pid)]
                        r = call(srv, "DELETE", "/collections/keep/points/%d" % pid)
                        if r.status == 200:
                            with lock:
                                state.pop(pid, None)
                        continue
                    body = {"ids": ids, "vectors": vecs.tolist()}
                    with lock:
                        pending[:] = [("upsert", ids, vecs)]
                    r = call(srv, "POST", "/collections/keep/points", body)
                except (OSError, EOFError):  # the kill
                    return
                if r.status == 200:
                    with lock:
                        for i, v in zip(ids, vecs):
                            state[i] = v
                elif r.status not in (404,):
                    errors.append(r.body)

        # One client: concurrent writers of the same ids could be acknowledged in either order.
        t = threading.Thread(target=client, args=(1,))
        t.start()
        time.sleep(1.5 * SLOW)
        with lock:
            srv.proc.kill()  # with the lock held: no answer is recorded after the kill
            srv.proc.wait()
            stop.set()
        t.join()
    finally:
        srv.close()
    assert not errors, errors[:3]
    assert len(state) > 50
    # What a restart may show: the acknowledged state, or that plus the change in flight.
    also = dict(state)
    for p in pending:
        if p[0] == "delete":
            also.pop(p[1], None)
        else:
            for i, v in zip(p[1], p[2]):
                also[i] = v
    srv = Server(args)
    try:
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:
            r = call(srv, "GET", "/collections/keep")
            if r.status != 503:
                break
            time.sleep(0.05)
        assert r.status == 200, r.body
        n = r.json()["points"]
        assert r.json()["deleted"] == 0  # the replay keeps only the live points
        assert call(srv, "GET", "/collections/gone").status == 404

        def mismatches(expect):
            if n != len(expect):
                return ["%d points, expected %d" % (n, len(expect))]
            bad = []
            for pid, v in expect.items():
                got = search(srv, "keep", {"vector": v.tolist(), "k": 1, "ef": 300})
                if got["ids"] != [pid] or got["scores"][0] > 1e-6:
                    bad.append((pid, got))
            return bad

        first = mismatches(state)
        assert not first or not mismatches(also), first[:3]
        assert srv.stop() == 0
    finally:
        srv.close()


def test_texts_are_embedded_server_side(server_factory, tmp_path):
    """{"texts", "model"} upserts and {"text"} searches embed with a served embedding model: the
    stored vectors and the query are what POST /embed answers for the same texts."""
    make_folder(str(tmp_path), "minilm", pooling="mean")
    srv = ready(server_factory("--models", str(tmp_path), "--access-log", "false"))
    texts = ["how do I reset my password", "the cat sat on the mat", "password reset link",
             "quarterly revenue grew", "a dog in the park"]
    r = call(srv, "POST", "/embed", {"inputs": texts})
    assert r.status == 200, r.body
    emb = np.array(r.json(), dtype=np.float32)
    create(srv, "docs", emb.shape[1], "cos", {"type": "flat"})
    r = call(srv, "POST", "/collections/docs/points",
             {"ids": list(range(len(texts))), "texts": texts, "model": "minilm",
              "payloads": [{"t": t} for t in texts]})
    assert r.status == 200, r.body
    q = "forgot my password"
    qv = np.array(call(srv, "POST", "/embed", {"inputs": [q]}).json()[0], dtype=np.float32)
    want_ids, want_scores = exact(emb, np.arange(len(texts)), qv, 3, "cos")
    got = search(srv, "docs", {"text": q, "k": 3})  # the only embedding model: no "model" needed
    assert got["ids"] == want_ids
    assert np.allclose(got["scores"], want_scores, atol=1e-5)
    assert got["payloads"][0] == {"t": texts[want_ids[0]]}
    # Stored vectors are the embeddings: searching with one finds its own text at distance 0.
    got = search(srv, "docs", {"vector": emb[3].tolist(), "k": 1})
    assert got["ids"] == [3] and abs(got["scores"][0] - 1) < 1e-5
    create(srv, "small", 3, "cos")
    r = call(srv, "POST", "/collections/small/points", {"ids": [1], "texts": ["x"]})
    assert r.status == 400 and "makes vectors of %d values" % emb.shape[1] in r.json()["error"]
    r = call(srv, "POST", "/collections/docs/search", {"text": "x", "model": "nope"})
    assert r.status == 404 and "nope" in r.json()["error"], r.body
