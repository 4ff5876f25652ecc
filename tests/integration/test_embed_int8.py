"""An int8 dynamically-quantized encoder served as hub exports lay it out (a folder holding only
onnx/model_quantized.onnx, or model_quantized.onnx at its root): the tiny BERT quantized by
tools/quantize_bert.py as onnxruntime.quantization.quantize_dynamic writes it (DynamicQuantizeLinear
-> MatMulInteger -> Cast -> Mul, uint8 embedding tables through DequantizeLinear), checked over
HTTP against ONNX Runtime's embeddings of the same model (tests/fixtures/embed/
tiny_bert_int8.expected.json) on every reference line, one by one and batched."""
import json
import threading

import pytest

from embed_models import expected, make_folder

TOL = 1e-5


def post(srv, path, obj):
    return srv.request("POST", path, {"Content-Type": "application/json"}, json.dumps(obj).encode(),
                       timeout=30)


def maxdiff(a, b):
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed-int8-repo")
    make_folder(str(d), "int8", onnx_subdir=True, pooling="mean", quantized=True)
    make_folder(str(d), "int8_cls", pooling="cls", vocab_only=True, quantized=True)
    return str(d)


@pytest.fixture
def srv(server_factory, repo):
    return server_factory("--models", repo, "--access-log", "false")


def test_reference_is_really_quantized():
    # The int8 reference must differ from the fp32 one by more than the tolerance, or passing
    # would not show that the quantized graph ran.
    q, f = expected(True)["items"], expected()["items"]
    assert [i["input_ids"] for i in q] == [i["input_ids"] for i in f]
    assert max(maxdiff(a["mean_normalized"], b["mean_normalized"]) for a, b in zip(q, f)) > 100 * TOL


def test_info_says_int8_and_batch_one(srv):
    # DynamicQuantizeLinear takes its scale from the whole batch, so the engine runs such a model
    # one sequence per call (ORT's batch-1 answer, whatever else is queued).
    r = srv.request("GET", "/info?model=int8")
    assert r.status == 200, r
    j = r.json()
    assert j["dimensions"] == 32 and j["model_dtype"] == "int8" and j["max_batch_requests"] == 1, j
    r = srv.request("GET", "/info?model=int8_cls")
    assert r.status == 200 and r.json()["model_type"] == {"embedding": {"pooling": "cls"}}, r


def test_one_by_one_matches_onnx_runtime(srv):
    for item in expected(True)["items"]:
        r = post(srv, "/embed", {"inputs": item["text"], "model": "int8", "truncate": True})
        assert r.status == 200, r
        got = r.json()[0]
        assert maxdiff(got, item["mean_normalized"]) <= TOL, (item["text"][:40], maxdiff(got, item["mean_normalized"]))


def test_batched_matches_onnx_runtime(srv):
    items = expected(True)["items"]
    r = post(srv, "/embed", {"inputs": [i["text"] for i in items], "model": "int8", "truncate": True})
    assert r.status == 200, r
    got = r.json()
    assert len(got) == len(items)
    bad = [(k, maxdiff(g, i["mean_normalized"])) for k, (g, i) in enumerate(zip(got, items))
           if maxdiff(g, i["mean_normalized"]) > TOL]
    assert not bad, bad


def test_unnormalised_and_cls(srv):
    for item in expected(True)["items"][:6]:
        r = post(srv, "/embed", {"inputs": item["text"], "model": "int8", "normalize": False})
        assert r.status == 200 and maxdiff(r.json()[0], item["mean"]) <= 1e-4, r
        r = post(srv, "/embed", {"inputs": item["text"], "model": "int8_cls", "normalize": False})
        assert r.status == 200 and maxdiff(r.json()[0], item["cls"]) <= 1e-4, r


def test_concurrent_clients_match(srv):
    items = expected(True)["items"]
    errors = []

    def client(k):
        try:
            for j in range(4):
                item = items[(k * 5 + j) % len(items)]
                if k % 2:  # the reference's token ids (truncated at 256), OpenAI-style
                    r = post(srv, "/v1/embeddings", {"input": [item["input_ids"]], "model": "int8"})
                    got = r.json()["data"][0]["embedding"] if r.status == 200 else None
                else:
                    r = post(srv, "/embed", {"inputs": [item["text"]], "model": "int8", "truncate": True})
                    got = r.json()[0] if r.status == 200 else None
                if got is None:
                    errors.append((k, j, r.status))
                    continue
                d = maxdiff(got, item["mean_normalized"])
                if d > TOL:
                    errors.append((k, j, d))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
