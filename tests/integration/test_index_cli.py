"""`inferd index build|search|info` against NumPy's exact search on clustered data (a latent
low-dimensional structure plus noise, like learned embeddings), with .fvecs and .npy inputs,
and clear errors (exit 1 or 2, a message naming the problem) for bad files and arguments."""
import os
import struct
import subprocess

import numpy as np
import pytest

from conftest import BIN


def run(*args):
    return subprocess.run([BIN, "index"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=300)


def clustered(n, dim, seed, centers=32, latent=8):
    """Points around random centres in a random latent subspace, plus a little isotropic noise."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((latent, dim))
    c = rng.standard_normal((centers, latent)) * 3
    z = c[rng.integers(0, centers, n)] + rng.standard_normal((n, latent))
    return (z @ basis + 0.1 * rng.standard_normal((n, dim))).astype("<f4")


def write_fvecs(path, x):
    with open(path, "wb") as f:
        for row in x:
            f.write(struct.pack("<i", x.shape[1]))
            f.write(row.astype("<f4").tobytes())


def read_ivecs(path):
    raw = np.fromfile(path, dtype="<i4")
    k = raw[0]
    return raw.reshape(-1, k + 1)[:, 1:]


def exact(x, q, metric, k):
    """Exact top-k in float64 (ties: lower id first), the metric as inferd defines it."""
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    if metric == "l2":
        d = (q64 ** 2).sum(1)[:, None] - 2 * q64 @ x64.T + (x64 ** 2).sum(1)[None, :]
    else:
        if metric == "cos":
            x64 = x64 / np.linalg.norm(x64, axis=1, keepdims=True)
            q64 = q64 / np.linalg.norm(q64, axis=1, keepdims=True)
        d = 1 - q64 @ x64.T
    return np.argsort(d, axis=1, kind="stable")[:, :k], np.sort(d, axis=1)[:, :k]


@pytest.mark.parametrize("metric", ["l2", "ip", "cos"])
@pytest.mark.parametrize("fmt", ["fvecs", "npy"])
def test_flat_search_is_exact(tmp_path, metric, fmt):
    x = clustered(5000, 48, seed=1)
    q = clustered(200, 48, seed=2)
    inp = tmp_path / ("x." + fmt)
    if fmt == "npy":
        np.save(inp, x)
    else:
        write_fvecs(inp, x)
    write_fvecs(tmp_path / "q.fvecs", q)
    idx = tmp_path / "x.idx"
    p = run("build", "--type", "flat", "--metric", metric, "--input", inp, "--out", idx)
    assert p.returncode == 0, p.stderr
    assert "5000 vectors of dimension 48" in p.stdout and "build" in p.stdout
    assert "adding: 5000 / 5000 (100%)" in p.stderr  # progress
    p = run("search", idx, "--queries", tmp_path / "q.fvecs", "--k", 10, "--threads", 2,
            "--out", tmp_path / "r.ivecs")
    assert p.returncode == 0, p.stderr
    assert "200 queries, k 10, 2 threads" in p.stdout and "queries/s" in p.stdout
    got = read_ivecs(tmp_path / "r.ivecs")
    want, wd = exact(x, q, metric, 10)
    assert got.shape == (200, 10)
    # Ids must match exactly unless two distances are too close for float32 to order alike.
    for i in range(200):
        for j in range(10):
            if got[i, j] != want[i, j]:
                assert abs(wd[i, j] - wd[i, min(j + 1, 9)]) < 1e-3 * (1 + abs(wd[i, j])) or \
                    abs(wd[i, j] - wd[i, max(j - 1, 0)]) < 1e-3 * (1 + abs(wd[i, j])), (i, j)
    recall = np.mean([len(set(got[i]) & set(want[i])) / 10 for i in range(200)])
    assert recall >= 0.999
    p = run("info", idx)
    assert p.returncode == 0 and ("flat index, metric %s, 5000 vectors of dimension 48" % metric) \
        in p.stdout


def test_k_beyond_the_count_pads_with_minus_one(tmp_path):
    x = clustered(5, 8, seed=3)
    np.save(tmp_path / "x.npy", x)
    write_fvecs(tmp_path / "q.fvecs", x[:2])
    assert run("build", "--type", "flat", "--metric", "l2", "--input", tmp_path / "x.npy",
               "--out", tmp_path / "x.idx").returncode == 0
    p = run("search", tmp_path / "x.idx", "--queries", tmp_path / "q.fvecs", "--k", 8, "--out",
            tmp_path / "r.ivecs")
    assert p.returncode == 0, p.stderr
    r = read_ivecs(tmp_path / "r.ivecs")
    assert list(r[0][:1]) == [0] and list(r[1][:1]) == [1]
    assert sorted(r[0][:5]) == [0, 1, 2, 3, 4] and list(r[0][5:]) == [-1, -1, -1]


def test_bad_inputs_get_clear_errors(tmp_path):
    x = clustered(100, 8, seed=4)
    np.save(tmp_path / "x.npy", x)
    idx = tmp_path / "x.idx"
    assert run("build", "--type", "flat", "--metric", "ip", "--input", tmp_path / "x.npy",
               "--out", idx).returncode == 0
    cases = [
        (("build", "--type", "lsh", "--metric", "l2", "--input", tmp_path / "x.npy", "--out",
          tmp_path / "y.idx"), 2, "unknown --type"),
        (("build", "--type", "flat", "--metric", "hamming", "--input", tmp_path / "x.npy",
          "--out", tmp_path / "y.idx"), 2, "unknown --metric"),
        (("build", "--type", "flat", "--metric", "l2", "--out", tmp_path / "y.idx"), 2,
         "required"),
        (("build", "--type", "flat", "--metric", "l2", "--input", tmp_path / "none.npy", "--out",
          tmp_path / "y.idx"), 1, "No such file"),
        (("search", idx, "--queries", tmp_path / "x.npy", "--k", 0), 2, "--k wants"),
        (("search", idx, "--queries", tmp_path / "x.npy"), 2, "required"),
        (("search", tmp_path / "none.idx", "--queries", tmp_path / "x.npy", "--k", 3), 1,
         "No such file"),
        (("info", tmp_path / "x.npy"), 1, "not an inferd index"),
        (("frobnicate",), 2, "unknown subcommand"),
    ]
    for args, code, says in cases:
        p = run(*args)
        assert p.returncode == code and says in p.stderr, (args, p.returncode, p.stderr)
    # Queries of another dimension.
    np.save(tmp_path / "q7.npy", clustered(3, 7, seed=5))
    p = run("search", idx, "--queries", tmp_path / "q7.npy", "--k", 3)
    assert p.returncode == 1 and "dimension 7, the index 8" in p.stderr
    # A float64 .npy is converted; an int array is refused with the fix.
    np.save(tmp_path / "x64.npy", x.astype(np.float64))
    assert run("build", "--type", "flat", "--metric", "l2", "--input", tmp_path / "x64.npy",
               "--out", tmp_path / "z.idx").returncode == 0
    np.save(tmp_path / "xi.npy", np.arange(12, dtype=np.int32).reshape(3, 4))
    p = run("build", "--type", "flat", "--metric", "l2", "--input", tmp_path / "xi.npy",
            "--out", tmp_path / "z.idx")
    assert p.returncode == 1 and "astype('<f4')" in p.stderr
    # A NaN in the input names its row; a damaged index is refused, never searched.
    bad = x.copy()
    bad[42, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    p = run("build", "--type", "flat", "--metric", "l2", "--input", tmp_path / "nan.npy",
            "--out", tmp_path / "z.idx")
    assert p.returncode == 1 and "vector 42" in p.stderr
    data = bytearray(idx.read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / "bad.idx").write_bytes(bytes(data))
    p = run("search", tmp_path / "bad.idx", "--queries", tmp_path / "x.npy", "--k", 3)
    assert p.returncode == 1 and "damaged" in p.stderr
    (tmp_path / "short.idx").write_bytes(idx.read_bytes()[:1000])
    p = run("info", tmp_path / "short.idx")
    assert p.returncode == 1 and "truncated" in p.stderr


@pytest.mark.parametrize("kind,extra,faiss_index", [
    ("ivf", [], lambda f, q, d, nl: f.IndexIVFFlat(q, d, nl)),
    ("ivfsq", [], lambda f, q, d, nl: f.IndexIVFScalarQuantizer(q, d, nl,
                                                                 f.ScalarQuantizer.QT_8bit)),
    ("ivfpq", ["--pq-m", "12"], lambda f, q, d, nl: f.IndexIVFPQ(q, d, nl, 12, 8)),
])
def test_ivf_recall_matches_faiss(tmp_path, kind, extra, faiss_index):
    """IVF kinds against FAISS (Debian's python3-faiss) at equal parameters on the same data:
    recall@10 against exact search within 0.02 of FAISS's at every nprobe (issue 11 aims at
    0.01 in bench/ann.sh; a test run on small data allows for k-means' luck)."""
    faiss = pytest.importorskip("faiss")
    faiss.omp_set_num_threads(1)
    dim, nlist = 48, 64
    x = clustered(20000, dim, seed=11)
    q = clustered(300, dim, seed=12)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    gt, _ = exact(x, q, "l2", 10)
    p = run("build", "--type", kind, "--metric", "l2", "--input", tmp_path / "x.npy", "--out",
            tmp_path / "x.idx", "--nlist", nlist, "--threads", 2, *extra)
    assert p.returncode == 0, p.stderr
    assert "k-means: 20 / 20 (100%)" in p.stderr and "adding: 20000 / 20000 (100%)" in p.stderr
    fi = faiss_index(faiss, faiss.IndexFlatL2(dim), dim, nlist)
    fi.train(x)
    fi.add(x)

    def recall(r):
        return np.mean([len(set(r[i]) & set(gt[i])) / 10 for i in range(len(gt))])

    last = 0
    for nprobe in (1, 4, 16):
        p = run("search", tmp_path / "x.idx", "--queries", tmp_path / "q.npy", "--k", 10,
                "--nprobe", nprobe, "--out", tmp_path / "r.ivecs")
        assert p.returncode == 0, p.stderr
        ours = recall(read_ivecs(tmp_path / "r.ivecs"))
        fi.nprobe = nprobe
        theirs = recall(fi.search(q, 10)[1])
        assert ours >= theirs - 0.02, (kind, nprobe, ours, theirs)
        assert ours >= last  # more lists never lose recall
        last = ours


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_hnsw_recall_matches_faiss(tmp_path, metric):
    """HNSW against FAISS's IndexHNSWFlat at equal M and efConstruction on the same data:
    recall@10 within 0.02 of FAISS's at ef 16, 64 and 128, and rising with ef."""
    faiss = pytest.importorskip("faiss")
    faiss.omp_set_num_threads(1)
    dim = 48
    x = clustered(15000, dim, seed=21)
    q = clustered(300, dim, seed=22)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    gt, _ = exact(x, q, metric, 10)
    p = run("build", "--type", "hnsw", "--metric", metric, "--input", tmp_path / "x.npy",
            "--out", tmp_path / "x.idx", "--m", 16, "--ef-construction", 40)
    assert p.returncode == 0, p.stderr
    assert "inserting: 15000 / 15000 (100%)" in p.stderr
    fi = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_L2 if metric == "l2" else
                             faiss.METRIC_INNER_PRODUCT)
    fi.hnsw.efConstruction = 40
    fi.add(x)

    def recall(r):
        return np.mean([len(set(r[i]) & set(gt[i])) / 10 for i in range(len(gt))])

    last = 0
    for ef in (16, 64, 128):
        p = run("search", tmp_path / "x.idx", "--queries", tmp_path / "q.npy", "--k", 10,
                "--ef", ef, "--out", tmp_path / "r.ivecs")
        assert p.returncode == 0, p.stderr
        ours = recall(read_ivecs(tmp_path / "r.ivecs"))
        fi.hnsw.efSearch = ef
        theirs = recall(fi.search(q, 10)[1])
        assert ours >= theirs - 0.02, (metric, ef, ours, theirs)
        assert ours >= last - 0.005
        last = ours


def test_ivfpq_refine_matches_faiss_index_refine_flat(tmp_path):
    """--refine flat and --rerank against FAISS's IndexRefineFlat over the same IVF-PQ parameters
    (k_factor = rerank / k): recall@10 within 0.02 of FAISS's, above the codes alone; info says
    the vectors are kept; --rerank on an index without them changes nothing."""
    faiss = pytest.importorskip("faiss")
    faiss.omp_set_num_threads(1)
    dim, nlist = 48, 64
    x = clustered(20000, dim, seed=13)
    q = clustered(300, dim, seed=14)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", q)
    gt, _ = exact(x, q, "l2", 10)
    for name, extra in (("plain", []), ("refine", ["--refine", "flat"])):
        p = run("build", "--type", "ivfpq", "--metric", "l2", "--input", tmp_path / "x.npy",
                "--out", tmp_path / (name + ".idx"), "--nlist", nlist, "--pq-m", 12, *extra)
        assert p.returncode == 0, p.stderr
    assert "vectors kept" in run("info", tmp_path / "refine.idx").stdout
    assert "vectors kept" not in run("info", tmp_path / "plain.idx").stdout
    assert run("build", "--type", "hnsw", "--metric", "l2", "--input", tmp_path / "x.npy", "--out",
               tmp_path / "h.idx", "--refine", "flat").returncode == 1

    def ours(idx, *extra):
        p = run("search", tmp_path / idx, "--queries", tmp_path / "q.npy", "--k", 10, "--nprobe", 8,
                "--out", tmp_path / "r.ivecs", *extra)
        assert p.returncode == 0, p.stderr
        r = read_ivecs(tmp_path / "r.ivecs")
        return np.mean([len(set(r[i]) & set(gt[i])) / 10 for i in range(len(gt))])

    base = faiss.IndexIVFPQ(faiss.IndexFlatL2(dim), dim, nlist, 12, 8)
    ref = faiss.IndexRefineFlat(base)
    ref.train(x)
    ref.add(x)
    base.nprobe = 8
    codes = ours("refine.idx")
    assert ours("plain.idx", "--rerank", 100) == ours("plain.idx")
    for rerank in (20, 100):
        ref.k_factor = rerank / 10
        theirs = np.mean([len(set(r) & set(g)) / 10 for r, g in zip(ref.search(q, 10)[1], gt)])
        got = ours("refine.idx", "--rerank", rerank)
        assert got >= theirs - 0.02 and got > codes, (rerank, got, theirs, codes)
