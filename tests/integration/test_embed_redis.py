"""The embedding cache's L2 over a real redis-server started here: vectors computed by one inferd
are answered by another from Redis, and a Redis that dies or freezes mid-test only shows in
/metrics: every request still succeeds from compute, without waiting on Redis."""
import json
import re
import time

import pytest

from embed_models import expected, make_folder
from redis_server import RedisServer


@pytest.fixture
def redis():
    r = RedisServer().start()
    yield r
    r.close()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed-redis-repo")
    make_folder(str(d), "minilm", pooling="mean")
    return str(d)


def post(srv, obj):
    return srv.request("POST", "/embed", {"Content-Type": "application/json"},
                       json.dumps(obj).encode(), timeout=30)


def metric(srv, name, labels=""):
    m = srv.request("GET", "/metrics").body.decode()
    pat = r"^%s%s (\S+)" % (re.escape(name), re.escape("{%s}" % labels) if labels else "")
    hit = re.search(pat, m, re.M)
    return float(hit.group(1)) if hit else 0.0


def wait_for(cond, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def start(server_factory, repo, redis, *extra):
    srv = server_factory("--models", repo, "--access-log", "false", "--redis-url",
                         redis.url(), "--redis-timeout-ms", "200", *extra)
    assert wait_for(lambda: metric(srv, "inferd_cache_l2_connected") == 1), srv.log()
    return srv


def test_a_second_server_answers_from_redis(server_factory, repo, redis):
    items = expected()["items"][:6]
    body = {"inputs": [i["text"] for i in items], "model": "minilm"}
    a = start(server_factory, repo, redis)
    first = post(a, body)
    assert first.status == 200
    assert wait_for(lambda: metric(a, "inferd_cache_l2_sets_total") >= 6)
    # A fresh server (empty L1) finds all six in Redis and runs no encoder batch.
    b = start(server_factory, repo, redis)
    second = post(b, body)
    assert second.status == 200 and second.body == first.body
    assert metric(b, "inferd_embed_cache_lookups_total", 'result="l2_hit"') == 6
    assert metric(b, "inferd_embed_batches_total") == 0
    for got, item in zip(second.json(), items):
        assert max(abs(x - y) for x, y in zip(got, item["mean_normalized"])) <= 1e-5


def test_redis_killed_or_frozen_mid_test_requests_still_succeed(server_factory, repo, redis):
    srv = start(server_factory, repo, redis, "--cache-bytes", "0")
    items = expected()["items"]
    assert post(srv, {"inputs": items[0]["text"], "model": "minilm"}).status == 200
    redis.kill()
    t0 = time.time()
    for item in items[1:6]:
        r = post(srv, {"inputs": item["text"], "model": "minilm", "truncate": True})
        assert r.status == 200
        assert max(abs(x - y) for x, y in zip(r.json()[0], item["mean_normalized"])) <= 1e-5
    assert time.time() - t0 < 10
    assert wait_for(lambda: metric(srv, "inferd_cache_l2_connected") == 0)
    errors = sum(float(v) for v in re.findall(r'^inferd_cache_l2_errors_total\{[^}]*\} (\S+)',
                                               srv.request("GET", "/metrics").body.decode(), re.M))
    assert errors >= 1
    # Back: the client reconnects on its own and serves from Redis again.
    redis.restart()
    assert wait_for(lambda: metric(srv, "inferd_cache_l2_connected") == 1, 20)
    # Frozen (SIGSTOP): lookups time out at redis_timeout_ms and are computed.
    redis.freeze()
    t0 = time.time()
    r = post(srv, {"inputs": items[7]["text"], "model": "minilm"})
    assert r.status == 200 and time.time() - t0 < 5
    assert wait_for(lambda: metric(srv, "inferd_cache_l2_errors_total", 'kind="timeout"') >= 1), \
        srv.request("GET", "/metrics").body.decode()[-3000:]
    redis.thaw()
