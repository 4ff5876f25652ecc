"""Helpers of bench/recommend.sh, over a trained recommender folder (DIR = OUT/movielens):

    recommend_tools.py lua DIR PACE_MS        the request mix as a wrk script (PACE_MS 0: no pacing)
    recommend_tools.py warm DIR URL           every known user once (their vectors get cached)
    recommend_tools.py compare DIR URL URL    how many recommended items two servers share
    recommend_tools.py stages DIR URL         per-stage p50/p95 of the server's own timings_ms
    recommend_tools.py quality DIR            the training script's leave-last-out table

The mix: 70% known users by id, 30% requests bringing a history instead (a random user's
ratings cut at a random point), fixed by a seed so every server gets the same bodies."""
import json
import random
import sys
import time
import urllib.request


def users_of(d):
    users = {}
    with open(d + "/users.tsv") as f:
        next(f)
        for line in f:
            u, h = line.rstrip("\n").split("\t")
            users[int(u)] = [int(x) for x in h.split(",")]
    return users


def mix(users, n, seed):
    """n (body, path) pairs: path "computed" (a history: the tower runs) or "cached"."""
    rnd = random.Random(seed)
    ids = sorted(users)
    out = []
    for _ in range(n):
        if rnd.random() < 0.3:
            h = users[rnd.choice(ids)]
            out.append(({"history": h[: rnd.randint(1, len(h))], "k": 10}, "computed"))
        else:
            out.append(({"user_id": rnd.choice(ids), "k": 10}, "cached"))
    return out


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


def lua(d, pace):
    bodies = [json.dumps(b, separators=(",", ":")) for b, _ in mix(users_of(d), 4000, 1)]
    print('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"')
    print("local bodies = {" + ",".join("[[%s]]" % b for b in bodies) + "}")
    print("local i = 0")
    print("init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6)); i = math.random(#bodies) end")
    print('request = function() i = i % #bodies + 1; return wrk.format(nil, "/recommend", nil, bodies[i]) end')
    if float(pace) > 0:
        print("delay = function() return %g end" % float(pace))


def warm(d, url):
    for u in users_of(d):
        post(url, {"user_id": u})


def compare(d, a, b):
    same = total = 0
    for body, _ in mix(users_of(d), 100, 3):
        x = {i["item_id"] for i in post(a, body)["items"]}
        y = {i["item_id"] for i in post(b, body)["items"]}
        same += len(x & y)
        total += len(x)
    print("answers: the two servers share %d of %d recommended items (same models; near-ties may differ)"
          % (same, total), file=sys.stderr)


def stages(d, url):
    import numpy as np
    rows = {"cached": [], "computed": []}
    rtt = {"cached": [], "computed": []}
    for body, path in mix(users_of(d), 3000, 2):
        t = time.perf_counter()
        out = post(url, dict(body, timings=True))
        rtt[path].append((time.perf_counter() - t) * 1000)
        rows[path].append([out["timings_ms"][s] for s in ("embed", "retrieve", "rank")])
    print("| path | stage | p50 ms | p95 ms |\n|---|---|--:|--:|")
    for path, what in (("computed", "30%: a history, the tower runs"), ("cached", "70%: a known user, cache hit")):
        a = np.array(rows[path])
        for j, s in enumerate(("embed", "retrieve", "rank")):
            print("| %s | %s | %.3f | %.3f |" % (what, s, np.percentile(a[:, j], 50), np.percentile(a[:, j], 95)))
        tot = a.sum(1)
        print("| %s | compute total | %.3f | %.3f |" % (what, np.percentile(tot, 50), np.percentile(tot, 95)))
        print("| %s | round trip (Python client, new connection) | %.3f | %.3f |"
              % (what, np.percentile(rtt[path], 50), np.percentile(rtt[path], 95)))


def quality(d):
    s = json.load(open(d + "/split.json"))
    names = {"popularity": "popularity (most rated, unseen)",
             "matrix_factorisation": "matrix factorisation (64-d, softmax over all items)",
             "tower_only": "user tower + exact retrieval, no ranker",
             "tower_and_ranker": "served pipeline: tower, 100 candidates, ranker"}
    print("| model | HR@10 | NDCG@10 |\n|---|--:|--:|")
    for k, v in s["results"].items():
        print("| %s | %.4f | %.4f |" % (names.get(k, k), v["hr10"], v["ndcg10"]))
    print("\n%d users, %d items, tower epochs %d, seed %d; %s." % (s["users"], s["items"], s["epochs"], s["seed"], s["protocol"].rstrip(".")))


if __name__ == "__main__":
    {"lua": lua, "warm": warm, "compare": compare, "stages": stages, "quality": quality}[sys.argv[1]](*sys.argv[2:])
