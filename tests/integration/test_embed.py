"""Embeddings over HTTP: TEI's /embed, /tokenize, /info and OpenAI's /v1/embeddings, checked
against ONNX Runtime's embeddings of HuggingFace's token ids (tests/fixtures/embed) and the
tokenizer reference, with batching across concurrent clients and the L1 cache."""
import base64
import json
import math
import re
import struct
import threading
import time

import pytest

from embed_models import expected, make_folder, reference_lines

TOL = 1e-5


def post(srv, path, obj, headers=None, raw=None):
    body = raw if raw is not None else json.dumps(obj).encode()
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return srv.request("POST", path, h, body, timeout=30)


def close(a, b, tol=TOL):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def maxdiff(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def normalize(v):
    n = max(math.sqrt(sum(x * x for x in v)), 1e-12)
    return [x / n for x in v]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed-repo")
    make_folder(str(d), "minilm", pooling="mean")
    make_folder(str(d), "minilm_cls", onnx_subdir=True, pooling="cls", vocab_only=True)
    make_folder(str(d), "short", pooling="mean", max_seq_length=16)
    return str(d)


@pytest.fixture
def srv(server_factory, repo):
    return server_factory("--models", repo, "--access-log", "false")


def test_embed_matches_onnx_runtime_one_by_one(srv):
    for item in expected()["items"]:
        r = post(srv, "/embed", {"inputs": item["text"], "model": "minilm", "truncate": True})
        assert r.status == 200, r
        got = r.json()
        assert len(got) == 1 and len(got[0]) == 32
        assert close(got[0], item["mean_normalized"]), (item["text"][:40], maxdiff(got[0], item["mean_normalized"]))


def test_embed_batch_with_padding_matches(srv):
    items = expected()["items"]
    r = post(srv, "/embed", {"inputs": [i["text"] for i in items], "model": "minilm", "truncate": True})
    assert r.status == 200, r
    got = r.json()
    assert len(got) == len(items)
    for g, item in zip(got, items):
        assert close(g, item["mean_normalized"]), maxdiff(g, item["mean_normalized"])


def test_normalize_false_and_cls_pooling_and_dimensions(srv):
    item = expected()["items"][5]
    r = post(srv, "/embed", {"inputs": item["text"], "model": "minilm", "normalize": False})
    assert r.status == 200 and close(r.json()[0], item["mean"], 1e-4), r
    r = post(srv, "/embed", {"inputs": item["text"], "model": "minilm_cls"})
    assert r.status == 200 and close(r.json()[0], normalize(item["cls"])), r
    r = post(srv, "/embed", {"inputs": item["text"], "model": "minilm", "dimensions": 8})
    assert r.status == 200 and close(r.json()[0], normalize(item["mean"][:8])), r


def test_concurrent_clients_are_batched_and_exact(srv):
    items = expected()["items"]
    errors = []

    def client(k):
        try:
            for j in range(6):
                item = items[(k * 7 + j) % len(items)]
                r = post(srv, "/embed", {"inputs": [item["text"]], "model": "minilm",
                                          "truncate": True, "dimensions": 31 - (k % 3)})
                want = normalize(item["mean"][:31 - (k % 3)])
                if r.status != 200 or not close(r.json()[0], want):
                    errors.append((k, j, r.status))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    m = srv.request("GET", "/metrics").body.decode()
    batches = int(re.search(r"^inferd_embed_batches_total (\d+)", m, re.M).group(1))
    seqs = int(re.search(r"^inferd_embed_sequences_total (\d+)", m, re.M).group(1))
    assert seqs >= batches > 0


def test_openai_shape_float_and_base64(srv):
    items = expected()["items"][:3]
    texts = [i["text"] for i in items]
    r = post(srv, "/v1/embeddings", {"model": "minilm", "input": texts})
    assert r.status == 200, r
    j = r.json()
    assert j["object"] == "list" and j["model"] == "minilm"
    assert [d["index"] for d in j["data"]] == [0, 1, 2]
    assert all(d["object"] == "embedding" for d in j["data"])
    ntok = sum(len(i["input_ids"]) for i in items)
    assert j["usage"] == {"prompt_tokens": ntok, "total_tokens": ntok}
    for d, item in zip(j["data"], items):
        assert close(d["embedding"], item["mean_normalized"])
    r = post(srv, "/v1/embeddings", {"model": "minilm", "input": texts, "encoding_format": "base64"})
    assert r.status == 200, r
    for d, item in zip(r.json()["data"], items):
        raw = base64.b64decode(d["embedding"])
        vec = struct.unpack("<%df" % (len(raw) // 4), raw)
        assert close(vec, item["mean_normalized"])


def test_openai_token_id_inputs(srv):
    item = expected()["items"][7]
    r = post(srv, "/v1/embeddings", {"model": "minilm", "input": [item["input_ids"]]})
    assert r.status == 200, r
    assert close(r.json()["data"][0]["embedding"], item["mean_normalized"])
    r = post(srv, "/v1/embeddings", {"model": "minilm", "input": item["input_ids"]})
    assert r.status == 200 and len(r.json()["data"]) == 1
    r = post(srv, "/v1/embeddings", {"model": "minilm", "input": [[1, 99999999]]})
    assert r.status == 422 and "99999999" in r.json()["error"]["message"], r


def test_tokenize_matches_reference(srv):
    for ref in reference_lines():
        r = post(srv, "/tokenize", {"inputs": ref["text"], "model": "minilm"})
        assert r.status == 200, r
        toks = r.json()[0]
        # The reference truncates at 256; /tokenize does not truncate.
        n = min(len(toks), ref["max_seq_length"])
        if len(toks) <= ref["max_seq_length"]:
            assert [t["id"] for t in toks] == ref["input_ids"]
        else:
            assert [t["id"] for t in toks[:n - 1]] == ref["input_ids"][:n - 1]
        raw = ref["text"].encode()
        for t, tok in zip(toks[:n - 1], ref["tokens"][:n - 1]):
            if t["special"]:
                assert t["start"] is None and t["text"] == tok
            else:
                assert raw[t["start"]:t["stop"]].decode() == t["text"]
                if ref["text"].isascii() and tok != "[UNK]":
                    assert t["text"].lower() == tok.removeprefix("##"), (t, tok)
    r = post(srv, "/tokenize", {"inputs": ["a b", "c"], "add_special_tokens": False, "model": "minilm"})
    assert r.status == 200 and [len(x) for x in r.json()] == [2, 1]


def test_info(srv):
    r = srv.request("GET", "/info?model=minilm_cls")
    assert r.status == 200, r
    j = r.json()
    assert j["model_id"] == "minilm_cls"
    assert j["model_type"] == {"embedding": {"pooling": "cls"}}
    assert j["max_input_length"] == 256 and j["dimensions"] == 32
    assert sorted(j["models"]) == ["minilm", "minilm_cls", "short"]
    assert srv.request("GET", "/info?model=nope").status == 404


def test_too_long_without_truncate_names_counts(srv):
    long_text = " ".join(["word"] * 40)
    r = post(srv, "/embed", {"inputs": long_text, "model": "short"})
    assert r.status == 413, r
    msg = r.json()["error"]
    assert "42" in msg and "16" in msg, msg
    r = post(srv, "/embed", {"inputs": long_text, "model": "short", "truncate": True})
    assert r.status == 200 and len(r.json()[0]) == 32
    r = post(srv, "/v1/embeddings", {"input": long_text, "model": "short"})
    assert r.status == 413 and "16" in r.json()["error"]["message"]


@pytest.mark.parametrize("body,status,needle", [
    ({"inputs": [], "model": "minilm"}, 422, "empty"),
    ({"inputs": 5, "model": "minilm"}, 422, "inputs"),
    ({"inputs": ["a", 3], "model": "minilm"}, 422, "[1]"),
    ({"model": "minilm"}, 422, "inputs"),
    ({"inputs": "a", "model": "nope"}, 404, "nope"),
    ({"inputs": "a", "model": "minilm", "normalize": "yes"}, 422, "normalize"),
    ({"inputs": "a", "model": "minilm", "dimensions": 0}, 422, "dimensions"),
    ({"inputs": "a", "model": "minilm", "dimensions": 33}, 422, "dimensions"),
    ({"inputs": "a", "model": "minilm", "truncation_direction": "up"}, 422, "truncation_direction"),
])
def test_bad_requests_are_4xx_naming_the_problem(srv, body, status, needle):
    r = post(srv, "/embed", body)
    assert r.status == status, r
    assert needle in r.json()["error"], r.json()


def test_bad_json_and_too_many_inputs(server_factory, repo):
    srv = server_factory("--models", repo, "--access-log", "false", "--embed-max-inputs", "4")
    r = post(srv, "/embed", None, raw=b'{"inputs": "a"')
    assert r.status == 400 and "JSON" in r.json()["error"]
    r = post(srv, "/embed", {"inputs": ["a"] * 5, "model": "minilm"})
    assert r.status == 413 and "4" in r.json()["error"], r
    r = post(srv, "/embed", None, raw=b'{"inputs": "\\ud800", "model": "minilm"}')
    assert 400 <= r.status < 500, r
    r = post(srv, "/v1/embeddings", {"input": "a"})
    assert r.status == 422 and "model" in r.json()["error"]["message"]


def test_cache_hit_answers_the_same_bytes(srv):
    body = {"inputs": ["cache me", "and me"], "model": "minilm"}
    first = post(srv, "/embed", body)
    second = post(srv, "/embed", body)
    assert first.status == second.status == 200
    assert first.body == second.body
    m = srv.request("GET", "/metrics").body.decode()
    hits = int(re.search(r'^inferd_embed_cache_lookups_total\{result="hit"\} (\d+)', m, re.M).group(1))
    assert hits >= 2


def test_full_queue_is_503_with_retry_after_and_bounded(server_factory, repo):
    # A batch below embed_max_batch waits up to a second for company, so the first request's
    # three texts hold the queue (4) while the second arrives.
    srv = server_factory("--models", repo, "--access-log", "false", "--embed-queue", "4",
                         "--embed-max-batch", "64", "--embed-max-delay-us", "1000000",
                         "--cache-bytes", "0")
    first = {}

    def slow():
        first["r"] = post(srv, "/embed", {"inputs": ["a", "b", "c"], "model": "minilm"})

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.time() + 5
    while time.time() < deadline:
        m = srv.request("GET", "/metrics").body.decode()
        if re.search(r'^inferd_embed_stage_seconds_count\{stage="tokenize"\} [1-9]', m, re.M):
            break  # the first request's texts are queued
        time.sleep(0.01)
    r = post(srv, "/embed", {"inputs": ["d", "e"], "model": "minilm"})
    assert r.status == 503 and r.header("retry-after") == "1", r
    assert "queue is full" in r.json()["error"]
    r = post(srv, "/embed", {"inputs": ["a", "b", "c", "d", "e"], "model": "minilm"})
    assert r.status == 413 and "embed_queue" in r.json()["error"], r
    t.join()
    assert first["r"].status == 200 and len(first["r"].json()) == 3
