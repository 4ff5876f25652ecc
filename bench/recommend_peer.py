"""The peer of bench/recommend.sh: seed 001's serving stack rebuilt on the same trained models,
PyTorch user tower and ranker, FAISS IndexFlatIP for retrieval, FastAPI on uvicorn, a dict as
the warm-user cache, with the same request and answer as inferd's POST /recommend.

    REC_DIR=OUT/movielens uvicorn --app-dir bench recommend_peer:app --workers 2 --port P
"""
import os
import sys

import faiss
import numpy as np
import torch
from fastapi import FastAPI, HTTPException

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "recommender"))
from train import CAND, L, Ranker, Tower, rank_features, window  # noqa: E402

torch.set_num_threads(1)
DIR = os.environ["REC_DIR"]
items = []
with open(os.path.join(DIR, "items.tsv"), encoding="utf-8") as f:
    next(f)
    for line in f:
        row, mid, pop, mean, title = line.rstrip("\n").split("\t", 4)
        items.append((int(mid), int(pop), float(mean), title))
row_of = {mid: i for i, (mid, _, _, _) in enumerate(items)}
pop = np.array([p for _, p, _, _ in items])
feats = np.stack([np.log1p(pop), np.array([m for _, _, m, _ in items]) / 5.0], axis=1).astype(np.float32)
popular = np.argsort(-pop, kind="stable")[:1000]
users = {}
with open(os.path.join(DIR, "users.tsv")) as f:
    next(f)
    for line in f:
        u, h = line.rstrip("\n").split("\t")
        users[int(u)] = [row_of[int(x)] for x in h.split(",")]
emb = np.load(os.path.join(DIR, "items.npy"))
index = faiss.IndexFlatIP(emb.shape[1])
index.add(emb)
tower = Tower(len(items))
tower.load_state_dict(torch.load(os.path.join(DIR, "tower.pt")))
tower.eval()
ranker = Ranker()
ranker.load_state_dict(torch.load(os.path.join(DIR, "ranker.pt")))
ranker.eval()
cache = {}
app = FastAPI()


@app.post("/recommend")
def recommend(body: dict):
    k = body.get("k", 10)
    if not isinstance(k, int) or not 1 <= k <= CAND:
        raise HTTPException(400, "k must be an integer from 1 to %d" % CAND)
    uid = body.get("user_id")
    if uid is not None:
        if not isinstance(uid, int):
            raise HTTPException(400, "user_id must be an integer")
        hist = users.get(uid, [])
    else:
        hist = [row_of[i] for i in body.get("history", []) if i in row_of]
    seen = set(hist) if body.get("exclude_seen", True) else set()
    if not hist:
        top = [r for r in popular if r not in seen][:k]
        return {"user_id": uid, "cold_start": True,
                "items": [{"item_id": items[r][0], "title": items[r][3], "score": float(pop[r])} for r in top]}
    u = cache.get(uid) if uid is not None else None
    if u is None:
        with torch.no_grad():
            u = tower(torch.tensor([window([r + 1 for r in hist])])).numpy()[0]
        if uid is not None:
            cache[uid] = u
    # FAISS has no filter on a flat index here: ask for enough to drop the seen ones after.
    _, ids = index.search(u[None, :], min(len(items), CAND + len(seen)))
    cand = np.array([r for r in ids[0] if r >= 0 and r not in seen][:CAND])
    with torch.no_grad():
        s = ranker(torch.tensor(rank_features(u, emb[cand], feats[cand]))).squeeze(-1).numpy()
    order = np.argsort(-s, kind="stable")[:k]
    return {"user_id": uid, "cold_start": False,
            "items": [{"item_id": items[cand[i]][0], "title": items[cand[i]][3], "score": float(s[i])} for i in order]}
