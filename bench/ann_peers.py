#!/usr/bin/env python3
"""bench/ann.sh's Python side: the data, the ground truth, recall, and the Python peers.

  ann_peers.py gen DIR N DIM NQ SEED      clustered base.fvecs, query.fvecs, and gt.ivecs (the
                                          exact 100 nearest by FAISS's IndexFlatL2)
  ann_peers.py recall RESULT.ivecs GT.ivecs K
  ann_peers.py run LIB KIND DIR PARAMS... FAISS (flat, ivf, ivfsq, ivfpq, hnsw) or hnswlib
                                          (hnsw), one thread; one JSON line per search setting.
                                          keep=1 keeps DIR/LIB_KIND.index (and its build time
                                          in .json) and reuses it on the next run: a build of
                                          hours need not be redone to search again (FAISS
                                          only); seed=S seeds FAISS's IVF training

Every peer builds on one thread and searches on one thread: queries/s from one batch call over
every query (no per-call interpreter cost), p50/p99 from one call per query (which includes
Python's per-call cost of a few microseconds; said so in docs/benchmarks.md)."""
import json
import os
import sys
import time

import numpy as np


def write_vecs(path, a, dtype):
    a = np.ascontiguousarray(a, dtype=dtype)
    n, d = a.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = a.view(np.int32)
    out.tofile(path)


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def gen(out, n, dim, nq, seed):
    """Learned-embedding-like data: 64 directions in a 32-dimensional latent space mapped into
    dim dimensions, plus noise (uniform random vectors make every index look alike)."""
    import faiss
    rng = np.random.default_rng(seed)
    latent, centres = 32, 64
    basis = rng.normal(size=(latent, dim)).astype(np.float32) / np.sqrt(latent)
    mu = rng.normal(size=(centres, latent)).astype(np.float32) * 2

    def draw(m):
        x = np.empty((m, dim), dtype=np.float32)
        for lo in range(0, m, 100000):
            hi = min(m, lo + 100000)
            z = mu[rng.integers(0, centres, hi - lo)] + rng.normal(size=(hi - lo, latent))
            x[lo:hi] = z.astype(np.float32) @ basis + 0.1 * rng.normal(size=(hi - lo, dim))
        return x

    os.makedirs(out, exist_ok=True)
    base, query = draw(n), draw(nq)
    write_vecs(os.path.join(out, "base.fvecs"), base, np.float32)
    write_vecs(os.path.join(out, "query.fvecs"), query, np.float32)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    exact = faiss.IndexFlatL2(dim)
    exact.add(base)
    _, gt = exact.search(query, 100)
    write_vecs(os.path.join(out, "gt.ivecs"), gt.astype(np.int32), np.int32)


def recall(res, gt, k):
    k = int(k)
    got = res[:, :k]
    want = gt[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got, want)]))


def timed_search(search_batch, search_one, queries):
    t = time.perf_counter()
    ids = search_batch(queries)
    qps = len(queries) / (time.perf_counter() - t)
    lat = []
    for q in queries[: min(len(queries), 500)]:
        t = time.perf_counter()
        search_one(q[None, :])
        lat.append((time.perf_counter() - t) * 1e6)
    return ids, qps, float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


def run(lib, kind, d, params):
    p = dict(kv.split("=") for kv in params)
    base = read_vecs(os.path.join(d, "base.fvecs"), np.float32)
    query = read_vecs(os.path.join(d, "query.fvecs"), np.float32)
    gt = read_vecs(os.path.join(d, "gt.ivecs"), np.int32)
    dim = base.shape[1]
    sweep = [int(v) for v in p.get("sweep", "0").split(",")]
    tmp = os.path.join(d, "%s_%s.index" % (lib, kind))
    keep = p.get("keep") == "1"
    t0 = time.perf_counter()
    if lib == "faiss":
        import faiss
        faiss.omp_set_num_threads(1)
    if lib == "faiss" and keep and os.path.exists(tmp + ".json"):
        index = faiss.read_index(tmp)
        build = json.load(open(tmp + ".json"))["build_s"]
    elif lib == "faiss":
        nlist = int(p.get("nlist", 0))
        if kind == "flat":
            index = faiss.IndexFlatL2(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, int(p["m"]))
            index.hnsw.efConstruction = int(p["efc"])
        else:
            quant = faiss.IndexFlatL2(dim)
            if kind == "ivf":
                index = faiss.IndexIVFFlat(quant, dim, nlist)
            elif kind == "ivfsq":
                index = faiss.IndexIVFScalarQuantizer(quant, dim, nlist,
                                                      faiss.ScalarQuantizer.QT_8bit)
            else:
                index = faiss.IndexIVFPQ(quant, dim, nlist, int(p["pq_m"]), 8)
            if "seed" in p:  # FAISS's k-means seeds (1234 unless given): seed=S varies them
                index.cp.seed = int(p["seed"])
                if kind == "ivfpq":
                    index.pq.cp.seed = int(p["seed"]) + 1
            index.train(base)
        index.add(base)
        build = time.perf_counter() - t0
        faiss.write_index(index, tmp)
        if keep:
            json.dump({"build_s": build}, open(tmp + ".json", "w"))
    if lib == "faiss":
        def setting(v):
            if kind == "hnsw":
                index.hnsw.efSearch = v
            elif kind != "flat":
                index.nprobe = v

        def batch(q):
            return index.search(q, 10)[1]
        one = batch
    else:  # hnswlib
        import hnswlib
        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=len(base), M=int(p["m"]), ef_construction=int(p["efc"]),
                         random_seed=100)
        index.add_items(base, np.arange(len(base)), num_threads=1)
        build = time.perf_counter() - t0
        index.save_index(tmp)

        def setting(v):
            index.set_ef(v)

        def batch(q):
            return index.knn_query(q, k=10, num_threads=1)[0]
        one = batch
    size = os.path.getsize(tmp)
    if not keep:
        os.unlink(tmp)
    for v in sweep:
        setting(v)
        ids, qps, p50, p99 = timed_search(batch, one, query)
        print(json.dumps({"lib": lib, "kind": kind, "param": v, "build_s": round(build, 3),
                          "bytes": size, "recall": round(recall(ids, gt, 10), 4),
                          "qps": round(qps, 1), "p50_us": round(p50, 1), "p99_us": round(p99, 1)}),
              flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif cmd == "recall":
        print("%.4f" % recall(read_vecs(sys.argv[2], np.int32), read_vecs(sys.argv[3], np.int32),
                              sys.argv[4]))
    elif cmd == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
