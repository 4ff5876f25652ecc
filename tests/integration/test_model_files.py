"""Model files on disk versus loaded models (issue 8, findings 2, 4, 5 and 10): a loaded version
owns its bytes, so a file changed under the server changes nothing until a reload; files are
opened beneath the repository only (no symlink out), never block (a FIFO is refused), loads run
on their own thread, and HTTP answers name models, never repository paths."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import BIN, ROOT, SLOW

FIX = os.path.join(ROOT, "tests", "fixtures")
MLP = os.path.join(FIX, "models", "diabetes_mlp.onnx")        # Gemm weights: zero-copy initialisers
LINREG = os.path.join(FIX, "models", "diabetes_linreg.onnx")  # same input, other answers, smaller


def rows(n):
    with open(os.path.join(FIX, "data", "diabetes_mlp.b7.input.json")) as f:
        d = json.load(f)["inputs"]["input"]["data"]
    return [d[(i % 7) * 10:(i % 7) * 10 + 10] for i in range(n)]


def infer(srv, model, n=3, timeout=5.0):
    req = {"inputs": [{"name": "input", "shape": [n, 10], "datatype": "FP32",
                       "data": sum(rows(n), [])}]}
    return srv.request("POST", "/v2/models/%s/infer" % model,
                       {"Content-Type": "application/json"}, json.dumps(req).encode(),
                       timeout=timeout)


def answer(srv, model):
    r = infer(srv, model)
    assert r.status == 200, r.body
    return [o["data"] for o in r.json()["outputs"]]


def offline(path, n=3):
    p = subprocess.run([BIN, "run", path, "--input", "-"], input=json.dumps(rows(n)),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [o["data"] for o in json.loads(p.stdout)["outputs"].values()]


def load(srv, model, timeout=10.0):
    return srv.request("POST", "/v2/repository/models/%s/load" % model, timeout=timeout)


def no_paths(body, *paths):
    text = body.decode("utf-8", "replace")
    for p in paths:
        assert str(p) not in text, text


def wait_for(cond, timeout=10.0):
    deadline = time.time() + timeout * SLOW
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def replace(path, data):
    """Replaces path's content atomically (rename), so a poll never sees it half-written."""
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def start(server_factory, repo, *extra):
    return server_factory("--models", str(repo), "--store", "none", "--access-log", "false",
                          "--compute-threads", "2", *extra)


class Hammer:
    """Threads sending inferences to model until stopped; collects every answer's data."""

    def __init__(self, srv, model, nthreads=3):
        self.srv, self.model = srv, model
        self.stop_ev = threading.Event()
        self.answers, self.errors = [], []
        self.threads = [threading.Thread(target=self.run) for _ in range(nthreads)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                r = infer(self.srv, self.model)
                if r.status != 200:
                    self.errors.append((r.status, r.body))
                else:
                    self.answers.append([o["data"] for o in r.json()["outputs"]])
            except Exception as e:  # a dead server: connection refused or reset
                self.errors.append(repr(e))
                time.sleep(0.05)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()


@pytest.fixture
def repo(tmp_path):
    d = tmp_path / "models"
    (d / "m" / "1").mkdir(parents=True)
    shutil.copy(MLP, d / "m" / "1" / "model.onnx")
    shutil.copy(LINREG, d / "other.onnx")
    return d


# ---------------------------------------------------------------- finding 2: owned bytes ----

def test_file_truncated_and_rewritten_under_load(server_factory, repo):
    srv = start(server_factory, repo)
    want_v1 = answer(srv, "m")
    assert want_v1 == offline(MLP)
    path = repo / "m" / "1" / "model.onnx"
    h = Hammer(srv, "m")
    try:
        time.sleep(0.2)
        # As `cp other.onnx model.onnx` does: truncate in place (same inode), then write, slowly.
        with open(path, "r+b") as f:
            f.truncate(0)
            f.flush()
            time.sleep(0.3)
            f.write(open(LINREG, "rb").read())
        time.sleep(0.3)
    finally:
        h.stop()
    assert srv.proc.poll() is None, srv.log()[-2000:]
    assert not h.errors, h.errors[:3]
    assert h.answers and all(a == want_v1 for a in h.answers)
    assert answer(srv, "m") == want_v1  # still version 1's answers until a reload
    srv.proc.send_signal(signal.SIGHUP)
    want_new = offline(LINREG)
    wait_for(lambda: answer(srv, "m") == want_new)
    r = infer(srv, "m")
    assert r.json()["model_version"] == "1"


def test_same_size_change_in_the_first_page(server_factory, repo, tmp_path):
    srv = start(server_factory, repo)
    want_v1 = answer(srv, "m")
    path = repo / "m" / "1" / "model.onnx"
    data = bytearray(open(path, "rb").read())
    assert len(data) < 4096
    off = 232  # W1's raw_data (10x16 floats): scale the first row's weights by 4
    import struct
    for i in range(16):
        (v,) = struct.unpack_from("<f", data, off + 4 * i)
        struct.pack_into("<f", data, off + 4 * i, v * 4.0)
    changed = tmp_path / "changed.onnx"
    changed.write_bytes(bytes(data))
    want_new = offline(str(changed))
    assert want_new != want_v1
    h = Hammer(srv, "m")
    try:
        with open(path, "r+b") as f:  # in place: same inode, same size
            f.seek(off)
            f.write(bytes(data[off:off + 64]))
        time.sleep(0.3)
    finally:
        h.stop()
    assert not h.errors, h.errors[:3]
    assert all(a == want_v1 for a in h.answers)
    assert answer(srv, "m") == want_v1
    r = load(srv, "m")
    assert r.status == 200, r.body
    assert answer(srv, "m") == want_new


def test_a_broken_rewrite_keeps_the_loaded_version(server_factory, repo):
    srv = start(server_factory, repo)
    want_v1 = answer(srv, "m")
    (repo / "m" / "1" / "model.onnx").write_bytes(open(MLP, "rb").read()[:500])
    r = load(srv, "m")
    assert r.status == 400 and "keeps serving" in r.json()["error"]
    assert "model m version 1" in r.json()["error"]
    no_paths(r.body, repo)
    assert answer(srv, "m") == want_v1


def test_poll_mode_picks_up_changes(server_factory, repo):
    srv = start(server_factory, repo, "--model-poll-ms", "100ms")
    assert answer(srv, "m") == offline(MLP)
    path = repo / "m" / "1" / "model.onnx"
    replace(path, open(LINREG, "rb").read())
    want = offline(LINREG)
    wait_for(lambda: answer(srv, "m") == want)
    # A file that fails is not retried (nor logged) at every poll while it stays the same.
    replace(path, b"garbage")
    time.sleep(0.6)
    assert srv.log().count("model m version 1 (") == 1, srv.log()
    assert answer(srv, "m") == want


# ---------------------------------------------------- finding 4: nothing outside the repo ----

EXTERNAL = r"""
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
out_dir, location = sys.argv[1], sys.argv[2]
w = numpy_helper.from_array(np.arange(30, dtype=np.float32).reshape(10, 3) / 7, name="W")
g = helper.make_graph([helper.make_node("MatMul", ["input", "W"], ["y"], name="mm")], "g",
                      [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 10])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.external_data_helper.convert_model_to_external_data(
    m, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
onnx.save_model(m, out_dir + "/model.onnx")
for t in m.graph.initializer:
    for e in t.external_data:
        if e.key == "location":
            e.value = location
open(out_dir + "/model.onnx", "wb").write(m.SerializeToString())
"""


def make_external(out_dir, location="weights.bin"):
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run(["/usr/bin/python3", "-c", EXTERNAL, str(out_dir), location], check=True)


def test_external_data_model_serves(server_factory, repo):
    make_external(repo / "ext" / "1")
    srv = start(server_factory, repo)
    assert infer(srv, "ext").status == 200


def test_symlinks_out_of_the_repository_are_refused(server_factory, repo, tmp_path):
    outside = tmp_path / "outside"
    (outside / "1").mkdir(parents=True)
    shutil.copy(MLP, outside / "1" / "model.onnx")
    shutil.copy(MLP, outside / "model.onnx")
    (repo / "vlink").mkdir()
    os.symlink(outside, repo / "vlink" / "1")            # a version folder pointing out
    os.symlink(outside, repo / "mlink")                  # a model folder pointing out
    os.symlink(outside / "model.onnx", repo / "flink.onnx")  # a bare model file pointing out
    # External data: the data folder is a symlink out (O_NOFOLLOW alone only checks "weights.bin").
    make_external(repo / "edir" / "1", "data/weights.bin")
    (outside / "data").mkdir()
    shutil.move(str(repo / "edir" / "1" / "weights.bin"), outside / "data" / "weights.bin")
    os.symlink(outside / "data", repo / "edir" / "1" / "data")
    # External data: the file itself is a symlink out.
    make_external(repo / "efile" / "1")
    shutil.move(str(repo / "efile" / "1" / "weights.bin"), outside / "w.bin")
    os.symlink(outside / "w.bin", repo / "efile" / "1" / "weights.bin")

    srv = start(server_factory, repo)
    assert infer(srv, "m").status == 200
    names = {m["name"] for m in srv.request("GET", "/v2/models").json()["models"]}
    assert names == {"m", "other"}, names
    for name in ("vlink", "mlink", "flink", "edir", "efile"):
        assert srv.request("GET", "/v2/models/%s" % name).status == 404
        assert infer(srv, name).status == 404
        r = load(srv, name)
        assert r.status == 400, (name, r)
        err = r.json()["error"]
        assert ("model %s" % name) in err and ("outside" in err or "leaves" in err), err
        no_paths(r.body, tmp_path, "/etc")
        assert ("model %s" % name) in srv.log()
    # A symlink that stays inside the repository is fine (openat2 RESOLVE_BENEATH).
    os.symlink("1", repo / "m" / "2")
    r = load(srv, "m")
    assert r.status == 200 and r.json()["versions"] == ["1", "2"], r.body


def test_a_version_folder_replaced_by_a_symlink_keeps_serving(server_factory, repo, tmp_path):
    srv = start(server_factory, repo)
    want = answer(srv, "m")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(LINREG, outside / "model.onnx")
    shutil.rmtree(repo / "m" / "1")
    os.symlink(outside, repo / "m" / "1")
    r = load(srv, "m")
    assert r.status == 400 and "model m version 1" in r.json()["error"]
    no_paths(r.body, tmp_path)
    assert answer(srv, "m") == want


def test_http_errors_name_models_not_paths(server_factory, repo, tmp_path):
    (repo / "broken.onnx").write_bytes(b"not a model")
    (repo / "cfg" / "1").mkdir(parents=True)
    shutil.copy(MLP, repo / "cfg" / "1" / "model.onnx")
    (repo / "cfg" / "config.ini").write_text("[model]\nbogus = 1\n")
    srv = start(server_factory, repo)
    for name, status in (("broken", 400), ("cfg", 400), ("nope", 404)):
        r = load(srv, name)
        assert r.status == status, r
        assert name in r.json()["error"]
        no_paths(r.body, tmp_path, repo)
    assert str(repo) in srv.log()  # the server's own log keeps the paths


# ------------------------------------------------ finding 5: FIFOs, the loader thread, SIGTERM ----

def test_fifos_are_refused_promptly(server_factory, repo):
    make_external(repo / "fifo" / "1")
    os.unlink(repo / "fifo" / "1" / "weights.bin")
    os.mkfifo(repo / "fifo" / "1" / "weights.bin")
    (repo / "fifomodel" / "1").mkdir(parents=True)
    os.mkfifo(repo / "fifomodel" / "1" / "model.onnx")
    os.mkfifo(repo / "fifo2.onnx")
    t0 = time.time()
    srv = start(server_factory, repo)  # the first load must not block on a FIFO
    assert time.time() - t0 < 5 * SLOW
    assert infer(srv, "m").status == 200
    assert infer(srv, "fifo").status == 404
    h = Hammer(srv, "m", nthreads=2)
    try:
        for name in ("fifo", "fifomodel", "fifo2", "fifo", "fifomodel"):
            t = time.time()
            r = load(srv, name, timeout=5.0)
            assert time.time() - t < 2 * SLOW
            assert r.status == 400 and "not a regular file" in r.json()["error"], r
            assert ("model %s" % name) in r.json()["error"]
            no_paths(r.body, repo)
    finally:
        h.stop()
    assert h.answers and not h.errors, h.errors[:3]
    assert answer(srv, "m") == offline(MLP)
    t = time.time()
    assert srv.stop() == 0
    assert time.time() - t < 3 * SLOW


def test_loads_run_on_their_own_thread(server_factory, repo):
    srv = start(server_factory, repo)
    task = "/proc/%d/task" % srv.proc.pid
    names = [open("%s/%s/comm" % (task, t)).read().strip() for t in os.listdir(task)]
    assert names.count("inferd-load") == 1, names
    # Many load requests at once: each is answered (200, or 503 + Retry-After past the queue),
    # and inference keeps answering meanwhile.
    results = []

    def hit():
        r = load(srv, "m")
        results.append((r.status, r.header("Retry-After")))

    threads = [threading.Thread(target=hit) for _ in range(24)]
    for t in threads:
        t.start()
    assert answer(srv, "m") == offline(MLP)
    for t in threads:
        t.join()
    assert all(s == 200 or (s == 503 and ra) for s, ra in results), results
    assert srv.stop() == 0


SLOW_MODEL = r"""
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
n, k = 2000, 12  # loading runs a dry run: k MatMuls of n x n, a few seconds of one core
col = numpy_helper.from_array(np.linspace(0, 1e-3, n, dtype=np.float32).reshape(n, 1), name="col")
row = numpy_helper.from_array(np.linspace(0, 1e-3, n, dtype=np.float32).reshape(1, n), name="row")
nodes = [helper.make_node("Add", ["col", "row"], ["W"], name="w")]
prev = "input"
for i in range(k):
    nodes.append(helper.make_node("MatMul", [prev, "W"], ["h%d" % i], name="mm%d" % i))
    prev = "h%d" % i
nodes.append(helper.make_node("ReduceSum", [prev], ["y"], name="sum", keepdims=0))
g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, n])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])], [col, row])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
open(sys.argv[1], "wb").write(m.SerializeToString())
"""


def test_a_slow_load_blocks_neither_inference_nor_sigterm(server_factory, repo):
    srv = start(server_factory, repo, "--model-load-queue", "2")
    want = answer(srv, "m")
    (repo / "slow" / "1").mkdir(parents=True)
    subprocess.run(["/usr/bin/python3", "-c", SLOW_MODEL, str(repo / "slow" / "1" / "model.onnx")],
                   check=True)
    results = []

    def hit():
        try:
            r = load(srv, "slow", timeout=60)
            results.append(r.status)
        except Exception as e:
            results.append(repr(e))

    first = threading.Thread(target=hit)
    first.start()
    time.sleep(0.3)
    # The loader is busy: inference on loaded models answers at once, as does metadata.
    t = time.time()
    assert answer(srv, "m") == want
    assert srv.request("GET", "/v2/models/m").status == 200
    assert time.time() - t < 1.0 * SLOW
    # Two more loads wait in the queue (model_load_queue = 2); the next is 503 + Retry-After.
    queued = [threading.Thread(target=hit) for _ in range(2)]
    for q in queued:
        q.start()
    time.sleep(0.2)
    r = load(srv, "other")
    assert r.status == 503 and r.header("Retry-After"), r
    assert first.is_alive(), "the slow load finished too soon for this test"
    # SIGTERM while the load runs: every load request is answered and the server exits 0 soon.
    t = time.time()
    assert srv.stop() == 0
    assert time.time() - t < 3 * SLOW
    for th in [first] + queued:
        th.join()
    assert sorted(results) == [503, 503, 503], results
    assert "the server is shutting down" in srv.log() or "stopped" in srv.log()


def test_cli_resolves_external_data_beneath_the_model_directory(tmp_path):
    d = tmp_path / "model"
    make_external(d, "data/weights.bin")
    (tmp_path / "outside").mkdir()
    shutil.move(str(d / "weights.bin"), tmp_path / "outside" / "weights.bin")
    os.symlink(tmp_path / "outside", d / "data")
    p = subprocess.run([BIN, "check", str(d / "model.onnx")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and "leaves the model directory" in p.stdout, p.stdout
    # The same layout without the symlink runs.
    os.unlink(d / "data")
    shutil.move(str(tmp_path / "outside"), d / "data")
    p = subprocess.run([BIN, "check", str(d / "model.onnx")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout
    # A FIFO given as the model is refused, not waited on.
    os.mkfifo(tmp_path / "fifo.onnx")
    p = subprocess.run([BIN, "check", str(tmp_path / "fifo.onnx")], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 1 and "not a regular" in p.stdout, p.stdout
