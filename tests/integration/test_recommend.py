"""POST /recommend over a recommender trained here by scripts/train_recommender.sh on MovieLens
(ml-latest-small, read from the shared data folder, never committed): the served pipeline must
give PyTorch's own answers (reference.json, computed by the training script from the torch
models, not from inferd), reproduce the script's leave-last-out HR@10 over all 610 users, answer
unknown users with the most popular items, keep seen items out, cache known users, and refuse
bad input with a 4xx naming the problem."""
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, ROOT, SLOW, Server
from test_collections import call, ready

SHARED = os.environ.get("INFERD_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
DATA = os.environ.get("MOVIELENS_DIR", os.path.join(SHARED, "data", "movielens", "ml-latest-small"))
EPOCHS = 12


def trained_model():
    """Trains once per version of the training scripts (kept in the temp folder, so the release
    and sanitizer runs share it): the repository folder holding movielens/."""
    h = hashlib.sha256(b"keep-last %d" % EPOCHS)
    for part in (("scripts", "recommender", "train.py"), ("scripts", "train_recommender.sh")):
        with open(os.path.join(ROOT, *part), "rb") as f:
            h.update(f.read())
    key = h.hexdigest()[:16]
    repo = os.path.join(tempfile.gettempdir(), "inferd-test-recommender-" + key)
    if os.path.exists(os.path.join(repo, "movielens", "config.ini")):
        return repo
    tmp = tempfile.mkdtemp(prefix="inferd-train-")
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "train_recommender.sh"), tmp],
                   env=dict(os.environ, EPOCHS=str(EPOCHS), NO_BASELINES="1", INFERD_BIN=BIN,
                            # every ranker feature then moves the scores the test compares
                            RANKER_KEEP_LAST="1"),
                   check=True, timeout=1800)
    try:
        os.rename(tmp, repo)
    except OSError:  # another run finished first
        shutil.rmtree(tmp)
    return repo


@pytest.fixture(scope="module")
def model_repo():
    if not os.path.exists(os.path.join(DATA, "ratings.csv")):
        pytest.fail("MovieLens not found at %s (MOVIELENS_DIR)" % DATA)
    return trained_model()


@pytest.fixture(scope="module")
def rec_server(model_repo):
    tmp = tempfile.mkdtemp(prefix="inferd-rec-")
    models = os.path.join(tmp, "models")
    shutil.copytree(model_repo, models)
    # A tabular model beside it: "model" must name a recommender.
    shutil.copytree(os.path.join(ROOT, "models", "breast_cancer"), os.path.join(models, "breast_cancer"))
    srv = Server(["--models", models, "--access-log", "false"])
    ready(srv)
    yield srv, os.path.join(models, "movielens")
    assert srv.stop() == 0, srv.log()[-3000:]
    srv.close()
    shutil.rmtree(tmp)


def load_users(folder):
    users = {}
    with open(os.path.join(folder, "users.tsv")) as f:
        next(f)
        for line in f:
            u, items = line.rstrip("\n").split("\t")
            users[int(u)] = [int(x) for x in items.split(",")]
    return users


def load_items(folder):
    items = []
    with open(os.path.join(folder, "items.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            row, mid, pop, mean, title = line.rstrip("\n").split("\t", 4)
            items.append((int(row), int(mid), int(pop), title))
    return items


def rec(srv, body, status=200):
    r = call(srv, "POST", "/recommend", body)
    assert r.status == status, r.body
    return r.json()


def same_ranking(got, want_items, want_scores, tol=2e-3):
    """Items equal position by position, except where PyTorch's scores tie within tol (float32
    sums in another order may swap them), and every score within tol."""
    assert len(got) == len(want_items)
    for i, g in enumerate(got):
        assert abs(g["score"] - want_scores[i]) < tol, (i, g, want_scores[i])
        if g["item_id"] != want_items[i]:
            near = [want_items[j] for j in range(len(want_items))
                    if abs(want_scores[j] - want_scores[i]) < tol]
            assert g["item_id"] in near, (i, g, want_items, want_scores)


def test_answers_equal_pytorchs_for_histories_and_known_users(rec_server):
    srv, folder = rec_server
    with open(os.path.join(folder, "reference.json")) as f:
        ref = json.load(f)
    titles = {mid: t for _, mid, _, t in load_items(folder)}
    assert len(ref) >= 40
    for e in ref:
        body = {"user_id": e["user_id"]} if "user_id" in e else {"history": e["history"]}
        out = rec(srv, dict(body, k=10))
        assert out["cold_start"] is False
        same_ranking(out["items"], e["items"], e["scores"])
        for it in out["items"]:
            assert it["title"] == titles[it["item_id"]]


def test_leave_last_out_hit_rate_equals_the_training_scripts(rec_server):
    """Every user's history without their last item: the served pipeline's HR@10 must be what
    the script measured in PyTorch (split.json), to within the near-ties of float32."""
    srv, folder = rec_server
    with open(os.path.join(folder, "split.json")) as f:
        split = json.load(f)
    users = load_users(folder)
    hits = 0
    ndcg = 0.0
    for u, items in users.items():
        assert split["test"][str(u)] == items[-1]
        got = [it["item_id"] for it in rec(srv, {"history": items[:-1], "k": 10})["items"]]
        if items[-1] in got:
            hits += 1
            ndcg += 1 / math.log2(got.index(items[-1]) + 2)
    want = split["results"]["tower_and_ranker"]
    assert abs(hits / len(users) - want["hr10"]) <= 2 / len(users), (hits, want)
    assert abs(ndcg / len(users) - want["ndcg10"]) <= 0.005, (ndcg, want)


def test_unknown_users_get_the_most_popular_items(rec_server):
    srv, folder = rec_server
    items = load_items(folder)
    want = [mid for _, mid, _, _ in sorted(items, key=lambda x: (-x[2], x[0]))[:7]]
    for body in ({"user_id": 99999999}, {"history": []}, {"history": [-5, 123456789]}):
        out = rec(srv, dict(body, k=7))
        assert out["cold_start"] is True
        assert [it["item_id"] for it in out["items"]] == want
        pops = {mid: p for _, mid, p, _ in items}
        assert [it["score"] for it in out["items"]] == [pops[m] for m in want]
    assert rec(srv, {"user_id": 99999999})["user_id"] == 99999999


def test_seen_items_are_excluded_unless_asked(rec_server):
    srv, folder = rec_server
    users = load_users(folder)
    for u in list(users)[:30]:
        out = rec(srv, {"user_id": u, "k": 50})
        assert len(out["items"]) == 50
        assert not set(it["item_id"] for it in out["items"]) & set(users[u])
    # Without exclusion a user's own recent items come back (the tower has seen them).
    u = max(users, key=lambda x: len(users[x]))
    out = rec(srv, {"user_id": u, "k": 100, "exclude_seen": False})
    assert set(it["item_id"] for it in out["items"]) & set(users[u])


def metric(srv, name):
    text = srv.request("GET", "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_known_users_hit_the_cache_and_timings_are_reported(rec_server):
    srv, folder = rec_server
    u = sorted(load_users(folder))[-1]
    computed0 = metric(srv, 'inferd_recommend_requests_total{path="computed"}')
    cached0 = metric(srv, 'inferd_recommend_requests_total{path="cached"}')
    first = rec(srv, {"user_id": u, "timings": True})
    second = rec(srv, {"user_id": u, "timings": True})
    assert first["items"] == second["items"]
    assert set(first["timings_ms"]) == {"embed", "retrieve", "rank"}
    assert all(v >= 0 for v in first["timings_ms"].values())
    assert "timings_ms" not in rec(srv, {"user_id": u})
    assert metric(srv, 'inferd_recommend_requests_total{path="computed"}') >= computed0 + 1
    assert metric(srv, 'inferd_recommend_requests_total{path="cached"}') >= cached0 + 2
    assert metric(srv, 'inferd_recommend_stage_seconds_count{stage="rank"}') >= 3


@pytest.mark.parametrize("body,status,words", [
    (b"{", 400, "invalid JSON"),
    ([1, 2], 400, "body must be"),
    ({}, 400, "exactly one of"),
    ({"user_id": 1, "history": [1]}, 400, "exactly one of"),
    ({"user_id": "1"}, 400, "\"user_id\" must be an integer"),
    ({"user_id": 1.5}, 400, "\"user_id\" must be an integer"),
    ({"user_id": None}, 400, "\"user_id\" must be an integer"),
    ({"history": 5}, 400, "\"history\" must be an array"),
    ({"history": [1, "2"]}, 400, "\"history\"[1] must be an integer"),
    ({"history": list(range(10001))}, 400, "at most 10000"),
    ({"user_id": 1, "k": 0}, 400, "\"k\" must be an integer from 1 to 100"),
    ({"user_id": 1, "k": 101}, 400, "\"k\" must be an integer from 1 to 100"),
    ({"user_id": 1, "k": "5"}, 400, "\"k\" must be an integer"),
    ({"user_id": 1, "exclude_seen": 1}, 400, "\"exclude_seen\" must be true or false"),
    ({"user_id": 1, "timings": "yes"}, 400, "\"timings\" must be true or false"),
    ({"user_id": 1, "userid": 1}, 400, "unknown member \"userid\""),
    ({"user_id": 1, "model": "breast_cancer"}, 400, "not a recommender"),
    ({"user_id": 1, "model": "nosuch"}, 404, "nosuch"),
    ({"user_id": 1, "model": 3}, 400, "\"model\" must be"),
])
def test_bad_requests_are_refused_naming_the_problem(rec_server, body, status, words):
    srv, _ = rec_server
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = srv.request("POST", "/recommend", {"Content-Type": "application/json"}, data)
    assert r.status == status, r.body
    assert words in r.json()["error"], r.body


def test_a_broken_folder_is_refused_whole_and_named(model_repo, server_factory):
    tmp = tempfile.mkdtemp(prefix="inferd-rec-bad-")
    try:
        cases = {
            "no_items": lambda d: os.remove(os.path.join(d, "items.tsv")),
            "bad_row": lambda d: _rewrite(d, "items.tsv", lambda t: t.replace("\n1\t", "\n7\t", 1)),
            "bad_key": lambda d: _rewrite(d, "config.ini", lambda t: t + "candidates = 0\n"),
            "escape": lambda d: _rewrite(d, "config.ini", lambda t: t.replace(
                "users = users.tsv", "users = ../../etc/passwd")),
            "bad_user_item": lambda d: _rewrite(d, "users.tsv", lambda t: t.replace("\t", "\t424242424,", 2)),
        }
        for name, damage in cases.items():
            d = os.path.join(tmp, name)
            shutil.copytree(os.path.join(model_repo, "movielens"), d)
            damage(d)
        srv = server_factory("--models", tmp, "--access-log", "false")
        ready(srv)
        r = srv.request("POST", "/recommend", {"Content-Type": "application/json"}, b'{"user_id": 1}')
        assert r.status == 404 and "no recommender model is loaded" in r.json()["error"], r.body
        log = srv.log()
        for name, words in [("no_items", "items.tsv"), ("bad_row", "rows must be numbered"),
                            ("bad_key", "candidates must be an integer"),
                            ("escape", "resolves outside"), ("bad_user_item", "not in the items file")]:
            line = [l for l in log.splitlines()
                    if "model %s " % name in l and ("refused" in l or "not loaded" in l)]
            assert line and words in line[0], (name, log[-3000:])
    finally:
        shutil.rmtree(tmp)


def _rewrite(d, file, fn):
    p = os.path.join(d, file)
    with open(p, encoding="utf-8") as f:
        t = f.read()
    with open(p, "w", encoding="utf-8") as f:
        f.write(fn(t))
