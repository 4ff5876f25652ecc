"""Serving models over HTTP: repository layout, Open Inference Protocol metadata and inference,
POST /inferences, and clear 4xx answers; answers must equal what `inferd run` (checked against
ONNX Runtime) computes for the same input."""
import json
import os
import shutil
import subprocess
import threading

import pytest

from conftest import BIN, ROOT

FIX = os.path.join(ROOT, "tests", "fixtures")


@pytest.fixture
def repo(tmp_path):
    """A repository with every layout: versioned dirs, config.ini, a bare .onnx, a broken model."""
    d = tmp_path / "models"
    (d / "bc" / "1").mkdir(parents=True)
    (d / "bc" / "2").mkdir()
    shutil.copy(os.path.join(FIX, "models", "breast_cancer_logreg.onnx"), d / "bc" / "1" / "model.onnx")
    shutil.copy(os.path.join(FIX, "models", "breast_cancer_gbc.onnx"), d / "bc" / "2" / "model.onnx")
    (d / "bc" / "config.ini").write_text("[model]\ndurability = buffered\n")
    shutil.copy(os.path.join(FIX, "models", "iris_rf.onnx"), d / "iris.onnx")
    shutil.copy(os.path.join(FIX, "models", "pipeline_mixed.onnx"), d / "mixed.onnx")
    shutil.copy(os.path.join(FIX, "models", "diabetes_linreg.onnx"), d / "diabetes.onnx")
    (d / "broken.onnx").write_bytes(b"not a model")
    return d


@pytest.fixture
def srv(server_factory, repo):
    return server_factory("--models", str(repo), "--access-log", "false", "--compute-threads", "2")


def post(srv, path, obj):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return srv.request("POST", path, {"Content-Type": "application/json"}, body)


def rows(model, n):
    with open(os.path.join(FIX, "data", model + ".b7.input.json")) as f:
        inp = json.load(f)["inputs"]
    name, spec = next(iter(inp.items()))
    width = spec["shape"][1]
    return [spec["data"][i * width:(i + 1) * width] for i in range(n)]


def run_offline(model_file, payload):
    p = subprocess.run([BIN, "run", model_file, "--input", "-"], input=json.dumps(payload),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["outputs"]


def test_repository_index_and_metadata(srv):
    idx = srv.request("GET", "/v2/models").json()["models"]
    names = sorted((m["name"], m["version"]) for m in idx)
    assert names == [("bc", "1"), ("bc", "2"), ("diabetes", "1"), ("iris", "1"), ("mixed", "1")]
    md = srv.request("GET", "/v2/models/bc").json()
    assert md["name"] == "bc" and md["versions"] == ["1", "2"] and md["platform"] == "onnx"
    assert md["durability"] == "buffered"
    assert md["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 30]}]
    assert {o["name"] for o in md["outputs"]} == {"label", "probabilities"}
    assert srv.request("GET", "/v2/models/bc/versions/1").status == 200
    assert srv.request("GET", "/v2/models/bc/ready").json() == {"ready": True}
    assert "broken" in srv.log() and "not loaded" in srv.log()


def test_unknown_model_and_version(srv):
    r = srv.request("GET", "/v2/models/nope")
    assert r.status == 404 and "nope" in r.json()["error"]
    r = srv.request("GET", "/v2/models/bc/versions/9")
    assert r.status == 404 and "no version 9" in r.json()["error"]
    r = srv.request("GET", "/v2/models/bc/versions/x")
    assert r.status == 400
    r = post(srv, "/v2/models/nope/infer", {"inputs": []})
    assert r.status == 404


def test_oip_infer_matches_offline_run(srv, repo):
    data = rows("breast_cancer_logreg", 5)
    req = {"id": "abc", "inputs": [{"name": "input", "shape": [5, 30], "datatype": "FP32",
                                    "data": sum(data, [])}]}
    r = post(srv, "/v2/models/bc/versions/1/infer", req)
    assert r.status == 200, r.body
    got = r.json()
    assert got["model_name"] == "bc" and got["model_version"] == "1" and got["id"] == "abc"
    want = run_offline(str(repo / "bc" / "1" / "model.onnx"), data)
    for o in got["outputs"]:
        assert o["data"] == want[o["name"]]["data"] and o["shape"] == want[o["name"]]["shape"]
    # Without a version the highest one answers.
    r = post(srv, "/v2/models/bc/infer", req)
    assert r.json()["model_version"] == "2"


def test_oip_infer_with_string_and_int_inputs(srv):
    with open(os.path.join(FIX, "data", "pipeline_mixed.b7.input.json")) as f:
        inp = json.load(f)["inputs"]
    with open(os.path.join(FIX, "data", "pipeline_mixed.b7.expected.json")) as f:
        want = json.load(f)["outputs"]
    req = {"inputs": [dict(name=k, **v) for k, v in inp.items()]}
    r = post(srv, "/v2/models/mixed/infer", req)
    assert r.status == 200, r.body
    for o in r.json()["outputs"]:
        w = want[o["name"]]
        if w["datatype"] in ("INT64", "STRING"):
            assert o["data"] == w["data"], o["name"]


def test_inferences_single_and_batch(srv):
    one = rows("breast_cancer_logreg", 1)[0]
    r = post(srv, "/inferences", {"model": "bc", "version": "1", "features": one})
    assert r.status == 200, r.body
    j = r.json()
    assert j["model"] == "bc" and j["version"] == "1" and j["prediction"] in (0, 1)
    assert len(j["probabilities"]) == 2 and abs(sum(j["probabilities"]) - 1) < 1e-5
    assert j["latency_ms"] >= 0
    batch = rows("breast_cancer_logreg", 4)
    r = post(srv, "/inferences", {"model": "bc", "version": 1, "features": batch})
    res = r.json()["results"]
    assert len(res) == 4 and res[0]["prediction"] == j["prediction"]
    # A regressor's prediction is its value.
    r = post(srv, "/inferences", {"model": "diabetes", "features": rows("diabetes_linreg", 1)[0]})
    assert r.status == 200 and isinstance(r.json()["prediction"], float)


@pytest.mark.parametrize("body,status,needle", [
    (b"{nope", 400, "invalid JSON"),
    ({"features": [1]}, 400, "model"),
    ({"model": "nope", "features": [1]}, 404, "unknown model"),
    ({"model": "bc", "features": [1, 2, 3]}, 400, "takes 30 features, got 3"),
    ({"model": "bc", "features": [[0.1] * 30, [0.1] * 29]}, 400, "29"),
    ({"model": "bc", "features": ["a"] * 30}, 400, "string"),
    ({"model": "mixed", "features": [1]}, 400, "/v2/models/mixed/infer"),
])
def test_inferences_bad_input(srv, body, status, needle):
    r = post(srv, "/inferences", body)
    assert r.status == status, (r.status, r.body)
    assert needle in r.json()["error"], r.json()


def test_oip_bad_input(srv):
    r = post(srv, "/v2/models/bc/infer", {"inputs": [{"name": "input", "shape": [1, 29],
                                                      "datatype": "FP32", "data": [0] * 29}]})
    assert r.status == 400 and "input" in r.json()["error"]
    r = post(srv, "/v2/models/bc/infer", {"inputs": [{"name": "input", "shape": [1, 30],
                                                      "datatype": "INT64", "data": [0] * 30}]})
    assert r.status == 400 and "INT64" in r.json()["error"]
    r = post(srv, "/v2/models/bc/infer", {"inputs": [{"name": "other", "shape": [1, 30],
                                                      "datatype": "FP32", "data": [0] * 30}]})
    assert r.status == 400 and "missing input" in r.json()["error"]


def test_full_compute_queue_is_503_with_retry_after(server_factory, repo):
    srv = server_factory("--models", str(repo), "--access-log", "false", "--compute-threads", "1",
                         "--compute-queue", "1")
    big = {"inputs": [{"name": "input", "shape": [4000, 30], "datatype": "FP32",
                       "data": [0.5] * (4000 * 30)}]}
    body = json.dumps(big).encode()
    statuses = []

    def one():
        statuses.append(srv.request("POST", "/v2/models/bc/versions/2/infer", None, body,
                                    timeout=30))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status for r in statuses)
    assert 200 in codes and 503 in codes, codes
    busy = [r for r in statuses if r.status == 503][0]
    assert busy.header("retry-after") == "1" and "busy" in busy.json()["error"]
    text = srv.request("GET", "/metrics").body.decode()
    assert "inferd_compute_rejected_total" in text and 'stage="compute"' in text


def infer_bc(srv, version=None):
    path = "/v2/models/bc/infer" if version is None else "/v2/models/bc/versions/%d/infer" % version
    req = {"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32",
                       "data": rows("breast_cancer_logreg", 1)[0]}]}
    return post(srv, path, req)


def test_reload_picks_up_new_changed_and_removed_models(srv, repo):
    import signal
    import time
    assert infer_bc(srv).json()["model_version"] == "2"
    # A new version, and a new model, picked up on SIGHUP.
    (repo / "bc" / "3").mkdir()
    shutil.copy(os.path.join(FIX, "models", "breast_cancer_logreg.onnx"), repo / "bc" / "3" / "model.onnx")
    shutil.copy(os.path.join(FIX, "models", "wine_gbc.onnx"), repo / "wine.onnx")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while infer_bc(srv).json().get("model_version") != "3":
        assert time.time() < deadline
        time.sleep(0.05)
    assert srv.request("GET", "/v2/models/wine").status == 200
    # A removed version goes away; the load endpoint reloads one model.
    shutil.rmtree(repo / "bc" / "3")
    r = srv.request("POST", "/v2/repository/models/bc/load")
    assert r.status == 200 and r.json() == {"name": "bc", "versions": ["1", "2"]}
    assert infer_bc(srv).json()["model_version"] == "2"
    assert srv.request("POST", "/v2/repository/models/nope/load").status == 404


def test_a_broken_replacement_leaves_the_old_version_serving(srv, repo):
    (repo / "bc" / "2" / "model.onnx").write_bytes(b"garbage")
    r = srv.request("POST", "/v2/repository/models/bc/load")
    assert r.status == 400 and "keeps serving" in r.json()["error"]
    assert infer_bc(srv, 2).status == 200  # the version loaded at start still answers


def test_reload_under_load_drops_nothing(srv, repo):
    import threading
    stop = threading.Event()
    bad = []

    def load():
        while not stop.is_set():
            r = infer_bc(srv)
            if r.status != 200:
                bad.append(r.status)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            # Touch the file so each reload swaps in a fresh copy of the model.
            os.utime(repo / "bc" / "2" / "model.onnx", (i + 1, i + 1))
            assert srv.request("POST", "/v2/repository/models/bc/load").status == 200
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not bad, bad
