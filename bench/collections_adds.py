"""Search latency of one collection while batches of points are added to it, for one inferd
binary: searches at a fixed offered rate (open loop: each latency counts from the moment the
request was due, so a stalled search also delays the ones due behind it), first with nothing
else running, then while a writer upserts batches back to back.

    python3 bench/collections_adds.py BIN [--kind hnsw] [--rate 100] [--batches 6]

Prints one JSON object: the quiet and during-adds p50/p99/max in ms, and the points indexed
per second while searches ran. bench/collections_adds.sh runs it for two binaries."""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np


def start(binary, tmp):
    log = open(os.path.join(tmp, "inferd.log"), "w+")
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--store", "none",
                          "--access-log", "false", "--max-body-bytes", "64m"], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        log.seek(0)
        m = re.search(r"127\.0\.0\.1:(\d+)", log.read())
        if m and int(m.group(1)):
            port = int(m.group(1))
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v2/health/ready")
                if c.getresponse().status == 200:
                    return p, port
            except OSError:
                pass
        time.sleep(0.05)
    p.kill()
    sys.exit("inferd did not start: " + open(log.name).read()[-2000:])


def call(port, method, path, body, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status not in (200, 201):
        sys.exit("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return data


def clustered(rng, n, dim, centres):
    return (centres[rng.integers(0, len(centres), n)] + 0.3 * rng.normal(size=(n, dim))).astype(
        np.float32)


def upsert_body(ids, vecs):
    return json.dumps({"ids": [int(i) for i in ids],
                       "vectors": [[round(float(x), 5) for x in v] for v in vecs]}).encode()


class Searcher:
    """Sends searches due every 1/rate s on a pool of keep-alive connections."""

    def __init__(self, port, bodies, rate):
        self.port, self.bodies, self.rate = port, bodies, rate
        self.local = threading.local()

    def one(self, body, due):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        c.request("POST", "/collections/b/search", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError("search: %d" % r.status)
        return time.perf_counter() - due

    def run(self, until):
        """Searches until until() is true (checked as each is due); their latencies in ms."""
        futs = []
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            t0 = time.perf_counter()
            i = 0
            while not until():
                due = t0 + i / self.rate
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                futs.append(pool.submit(self.one, self.bodies[i % len(self.bodies)], due))
                i += 1
            lat = [f.result() * 1000 for f in futs]
        return lat


def stats(lat):
    a = np.array(lat)
    return {"n": len(a), "p50": round(float(np.percentile(a, 50)), 2),
            "p99": round(float(np.percentile(a, 99)), 2), "max": round(float(a.max()), 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--kind", default="hnsw")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--preload", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--quiet-seconds", type=float, default=8)
    a = ap.parse_args()
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(50, a.dim))
    tmp = tempfile.mkdtemp(prefix="inferd-bench-adds-")
    p, port = start(a.binary, tmp)
    try:
        index = {"type": "hnsw", "m": 16, "ef_construction": 100} if a.kind == "hnsw" else {
            "type": a.kind}
        call(port, "PUT", "/collections/b", json.dumps({"dim": a.dim, "metric": "l2",
                                                        "index": index}).encode())
        next_id = 0
        for _ in range(0, a.preload, a.batch):
            n = min(a.batch, a.preload - next_id)
            call(port, "POST", "/collections/b/points",
                 upsert_body(range(next_id, next_id + n), clustered(rng, n, a.dim, centres)))
            next_id += n
        batches = [upsert_body(range(next_id + b * a.batch, next_id + (b + 1) * a.batch),
                               clustered(rng, a.batch, a.dim, centres)) for b in range(a.batches)]
        queries = [json.dumps({"vector": [float(x) for x in q], "k": 10, "ef": 64}).encode()
                   for q in clustered(rng, 200, a.dim, centres)]
        s = Searcher(port, queries, a.rate)
        end = time.perf_counter() + a.quiet_seconds
        quiet = s.run(lambda: time.perf_counter() >= end)
        done = threading.Event()
        took = []

        def writer():
            t0 = time.perf_counter()
            for body in batches:
                call(port, "POST", "/collections/b/points", body)
            took.append(time.perf_counter() - t0)
            done.set()

        w = threading.Thread(target=writer)
        w.start()
        during = s.run(done.is_set)
        w.join()
        print(json.dumps({"kind": a.kind, "rate": a.rate, "quiet": stats(quiet),
                          "during_adds": stats(during),
                          "points_per_s": round(a.batches * a.batch / took[0])}))
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
