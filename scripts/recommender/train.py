#!/usr/bin/python3
"""Trains seed 001's recommender on MovieLens ml-latest-small and writes a model-repository entry.

    train.py --data DIR/ml-latest-small --out OUTDIR/movielens --inferd build/inferd

Writes (docs/recommend.md describes each file):
    user_tower.onnx  SASRec-style transformer over a user's last L items -> user vector
    tower.pt, ranker.pt  the same models' PyTorch weights (bench/recommend_peer.py)
    items.npy        one embedding per item (the tower's tied item embeddings), row r = item r
    items.index      items.npy as an inferd index (built with `inferd index build`)
    ranker.onnx      MLP over [u, v, u*v, log1p(popularity), mean rating] -> score
    items.tsv        row, movieId, popularity, mean rating, title
    users.tsv        userId, the user's rated movieIds in time order (comma separated)
    reference.json   PyTorch's answers for a few users, which the server must reproduce
    split.json       the leave-last-out split and the baselines' HR@10 / NDCG@10 (popularity,
                     matrix factorisation, the tower alone), measured here in PyTorch
    config.ini       kind = recommender, tying the files together

Leave-last-out: each user's last rated item (by timestamp) is the test item and is never
trained on; the VAL items before it train the ranker, not the tower. Everything is seeded, so a run is reproducible.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

L = 50  # items of history the tower reads
D = 64  # embedding width
CAND = 100  # candidates the ranker re-scores
VAL = 3  # items before each user's test item kept for the ranker
RANK_FEATS = 3 + D


T0 = time.time()


def log(msg):
    print(f"train_recommender: [{time.time() - T0:5.0f} s] {msg}", file=sys.stderr, flush=True)


def load(data):
    per_user = {}
    rating_sum, rating_n = {}, {}
    with open(os.path.join(data, "ratings.csv"), newline="") as f:
        for row in csv.DictReader(f):
            u, m, r, t = int(row["userId"]), int(row["movieId"]), float(row["rating"]), int(row["timestamp"])
            per_user.setdefault(u, []).append((t, m, r))
    titles = {}
    with open(os.path.join(data, "movies.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            titles[int(row["movieId"])] = row["title"]
    for u in per_user:
        per_user[u].sort(key=lambda x: (x[0], x[1]))
    return per_user, titles


class Block(nn.Module):
    def __init__(self, d, heads, drop):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ff1, self.ff2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.drop = nn.Dropout(drop)

    def forward(self, x, mask):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.reshape(b, n, self.h, self.dh).transpose(1, 2)
        k = k.reshape(b, n, self.h, self.dh).transpose(1, 2)
        v = v.reshape(b, n, self.h, self.dh).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(self.dh) + mask, dim=-1)
        y = (self.drop(a) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.ff2(torch.relu(self.ff1(self.ln2(x)))))


class Tower(nn.Module):
    """Items 1..N (0 pads, on the left); causal self-attention; the last position's state."""

    def __init__(self, n_items, d=D, blocks=2, heads=2, drop=0.2):
        super().__init__()
        self.item = nn.Embedding(n_items + 1, d, padding_idx=0)
        nn.init.normal_(self.item.weight, std=0.05)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.pos = nn.Parameter(torch.randn(L, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, heads, drop) for _ in range(blocks)])
        self.ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(drop)
        causal = torch.triu(torch.full((L, L), -1e4), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)

    def states(self, x):
        keep = (x != 0).float().unsqueeze(-1)
        h = self.drop(self.item(x) + self.pos) * keep
        # Padding keys are refused to every query (a row of only padding attends uniformly to
        # padding, harmlessly: its output is never read).
        mask = self.causal + ((x == 0).float() * -1e4).unsqueeze(1).unsqueeze(1)
        for blk in self.blocks:
            h = blk(h, mask) * keep
        return self.ln(h)

    def forward(self, x):
        return self.states(x)[:, -1, :]


def window(seq):
    """The last L items of seq, left-padded with 0."""
    s = seq[-L:]
    return [0] * (L - len(s)) + list(s)


def train_tower(n_items, train_seqs, epochs, seed):
    torch.manual_seed(seed)
    model = Tower(n_items)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    users = list(train_seqs)
    rng = np.random.default_rng(seed)
    for ep in range(epochs):
        model.train()
        rng.shuffle(users)
        total, count = 0.0, 0
        for b in range(0, len(users), 64):
            xs, ys = [], []
            for u in users[b : b + 64]:
                s = train_seqs[u]
                # A random cut of a long history, so every part of it is learned from.
                end = len(s) if len(s) <= L + 1 or rng.random() < 0.5 else int(rng.integers(L + 1, len(s) + 1))
                s = s[max(0, end - L - 1) : end]
                xs.append(window(s[:-1]))
                ys.append(window(s[1:]))
            x, y = torch.tensor(xs), torch.tensor(ys)
            real = y.reshape(-1) != 0  # only positions with a next item (most windows are short)
            h = model.states(x).reshape(-1, D)[real]
            loss = nn.functional.cross_entropy(h @ model.item.weight.T, y.reshape(-1)[real])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            count += 1
        if ep % 10 == 0 or ep == epochs - 1:
            log(f"tower epoch {ep + 1}/{epochs}: loss {total / count:.3f}")
    model.eval()
    return model


def topk_excluding(scores, seen, k):
    s = scores.copy()
    s[list(seen)] = -np.inf
    s[0] = -np.inf
    idx = np.argpartition(-s, k)[:k]
    return idx[np.argsort(-s[idx], kind="stable")]


def hit_ndcg(ranked, target):
    hits = np.nonzero(ranked[:10] == target)[0]
    if len(hits) == 0:
        return 0.0, 0.0
    return 1.0, 1.0 / math.log2(hits[0] + 2)


def evaluate(score_fn, hist, target):
    """Mean HR@10 and NDCG@10 over users: score_fn(u) scores every item row."""
    hr = nd = 0.0
    for u in hist:
        h, n = hit_ndcg(topk_excluding(score_fn(u), set(hist[u]), 10), target[u])
        hr += h
        nd += n
    return hr / len(hist), nd / len(hist)


def train_mf(n_items, train_pairs, n_users, epochs, seed):
    """Plain matrix factorisation: a user vector and an item vector per id, dot product, trained
    with a softmax over all items (the same loss as the tower, no sequence)."""
    torch.manual_seed(seed)
    U = nn.Embedding(n_users, D)
    V = nn.Embedding(n_items + 1, D)
    nn.init.normal_(U.weight, std=0.05)
    nn.init.normal_(V.weight, std=0.05)
    opt = torch.optim.Adam(list(U.parameters()) + list(V.parameters()), lr=1e-2)
    pairs = torch.tensor(train_pairs)
    for ep in range(epochs):
        perm = torch.randperm(len(pairs))
        for b in range(0, len(pairs), 4096):
            p = pairs[perm[b : b + 4096]]
            logits = U(p[:, 0]) @ V.weight.T
            loss = nn.functional.cross_entropy(logits, p[:, 1])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return U.weight.detach().numpy(), V.weight.detach().numpy()


class Ranker(nn.Module):
    """score = a * (u . v) + MLP(features): starts as the tower's own order and learns how
    popularity, mean rating and the per-dimension agreement should move it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(1, 1)
        self.net = nn.Sequential(nn.Linear(RANK_FEATS, 32), nn.ReLU(), nn.Linear(32, 1))
        with torch.no_grad():
            self.a.weight.fill_(1.0)
            self.a.bias.zero_()
            self.net[2].weight.mul_(0.01)

    def forward(self, f):
        return self.a(f[..., 0:1]) + self.net(f)


def rank_features(u, V, feats):
    """u: [D]; V: [n, D] candidate vectors; feats: [n, 2] item features -> [n, RANK_FEATS]:
    u.v, log1p(popularity), mean rating / 5, then u * v per dimension."""
    uv = V * u
    return np.concatenate([uv.sum(axis=1, keepdims=True), feats, uv], axis=1).astype(np.float32)


def train_ranker(tower, emb, item_feats, cuts, epochs, seed, keep_last=False):
    """Listwise, on what the tower never trained on: for each (history, next item) cut, the
    tower's top CAND candidates and a softmax cross-entropy on the next item's position. Only
    cuts whose next item the tower retrieves are used: an item put in by hand would stand out
    (a low u.v no retrieved item has) and teach the ranker to favour exactly that."""
    torch.manual_seed(seed)
    with torch.no_grad():
        uvec = tower(torch.tensor([window(h) for h, _ in cuts])).numpy()
    lists, labels = [], []
    for (h, nxt), uv in zip(cuts, uvec):
        cand = topk_excluding(emb @ uv, set(h), CAND)
        if nxt in cand:
            lists.append(rank_features(uv, emb[cand], item_feats[cand]))
            labels.append(int(np.nonzero(cand == nxt)[0][0]))
    X = torch.tensor(np.stack(lists))  # [lists, CAND, F]
    y = torch.tensor(labels)
    # A fifth of the lists decides when to stop (and whether the ranker helps at all: epoch 0
    # is the tower's own order).
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    nval = max(1, len(X) // 5)
    Xv, yv, Xt, yt = X[perm[:nval]], y[perm[:nval]], X[perm[nval:]], y[perm[nval:]]
    model = Ranker()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def val_loss():
        with torch.no_grad():
            return nn.functional.cross_entropy(model(Xv).squeeze(-1), yv).item()

    best, best_ep, best_state = val_loss(), 0, {k: v.clone() for k, v in model.state_dict().items()}
    for ep in range(1, epochs + 1):
        order = torch.randperm(len(Xt))
        for b in range(0, len(Xt), 64):
            idx = order[b : b + 64]
            loss = nn.functional.cross_entropy(model(Xt[idx]).squeeze(-1), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        v = val_loss()
        if v < best or keep_last:
            best, best_ep, best_state = v, ep, {k: t.clone() for k, t in model.state_dict().items()}
    model.load_state_dict(best_state)
    log(f"ranker: {len(X)} lists of {CAND} (of {len(cuts)} cuts), best validation loss {best:.3f} "
        f"at epoch {best_ep} of {epochs} (epoch 0: the tower's order)")
    model.eval()
    return model


def pipeline_scores(tower_u, emb, item_feats, ranker, seen):
    """What the server does: the tower's top CAND unseen items, re-scored by the ranker."""
    cand = topk_excluding(emb @ tower_u, seen, CAND)
    with torch.no_grad():
        s = ranker(torch.tensor(rank_features(tower_u, emb[cand], item_feats[cand]))).squeeze(-1).numpy()
    out = np.full(emb.shape[0], -np.inf, dtype=np.float64)
    out[cand] = s
    return out


def baselines(pop, seqs, train, hist, target, n, seed):
    """Popularity (most rated in training) and plain matrix factorisation, same split."""
    res = {"popularity": evaluate(lambda u: pop.astype(np.float64), hist, target)}
    uids = sorted(seqs)
    uidx = {u: i for i, u in enumerate(uids)}
    log("matrix factorisation")
    Um, Vm = train_mf(n, [(uidx[u], i) for u in uids for i in train[u]], len(uids), 8, seed)
    res["matrix_factorisation"] = evaluate(lambda u: Vm @ Um[uidx[u]], hist, target)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--inferd", required=True)
    ap.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", "100")))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-baselines", action="store_true", help="skip popularity and MF (tests)")
    ap.add_argument("--ranker-keep-last", action="store_true",
                    help="keep the ranker's last epoch, not the best on validation (tests: every feature then matters)")
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.time()
    per_user, titles = load(a.data)
    movies = sorted({m for ev in per_user.values() for _, m, _ in ev})
    row = {m: i + 1 for i, m in enumerate(movies)}  # tower token = row; 0 pads
    n = len(movies)
    seqs = {u: [row[m] for _, m, _ in ev] for u, ev in per_user.items()}
    train = {u: s[:-1] for u, s in seqs.items()}  # the test item is never trained on
    # The VAL items before the test item are held out of the tower's fitting: the ranker learns
    # from them, on candidates the tower retrieves for histories it was not fitted to finish.
    fit = {u: s[: -(VAL + 1)] for u, s in seqs.items()}
    cuts = [(s[:t], s[t]) for s in seqs.values() for t in range(len(s) - 1 - VAL, len(s) - 1)]
    target = {u: s[-1] for u, s in seqs.items()}
    log(f"{sum(map(len, seqs.values()))} ratings, {len(seqs)} users, {n} items")

    pop = np.zeros(n + 1)
    rsum = np.zeros(n + 1)
    for u, ev in per_user.items():
        for _, m, r in ev[:-1]:
            pop[row[m]] += 1
            rsum[row[m]] += r
    mean_rating = np.where(pop > 0, rsum / np.maximum(pop, 1), 0.0)
    item_feats = np.stack([np.log1p(pop), mean_rating / 5.0], axis=1).astype(np.float32)

    tower = train_tower(n, fit, a.epochs, a.seed)
    emb = tower.item.weight.detach().numpy().astype(np.float32)
    log("ranker")
    ranker = train_ranker(tower, emb, item_feats, cuts, 60, a.seed, a.ranker_keep_last)

    # Baselines and the tower alone, all on the same split: history = everything but the test item.
    hist = train
    with torch.no_grad():
        users_vec = {u: v for u, v in zip(hist, tower(torch.tensor([window(h) for h in hist.values()])).numpy())}
    res = {}
    if not a.no_baselines:
        res.update(baselines(pop, seqs, train, hist, target, n, a.seed))
    res["tower_only"] = evaluate(lambda u: emb @ users_vec[u], hist, target)
    res["tower_and_ranker"] = evaluate(lambda u: pipeline_scores(users_vec[u], emb, item_feats, ranker, set(hist[u])), hist, target)
    for k, (h, nd) in res.items():
        log(f"{k}: HR@10 {h:.4f}  NDCG@10 {nd:.4f}")

    uids = sorted(seqs)
    os.makedirs(a.out, exist_ok=True)
    dummy = torch.ones(1, L, dtype=torch.int64)
    torch.onnx.export(tower, dummy, os.path.join(a.out, "user_tower.onnx"), input_names=["history"],
                      output_names=["user"], dynamic_axes={"history": {0: "N"}, "user": {0: "N"}}, opset_version=17)
    torch.onnx.export(ranker, torch.zeros(1, RANK_FEATS), os.path.join(a.out, "ranker.onnx"), input_names=["features"],
                      output_names=["score"], dynamic_axes={"features": {0: "N"}, "score": {0: "N"}}, opset_version=17)
    # The PyTorch weights too: bench/recommend_peer.py serves the same models the way the seed's
    # baseline did (PyTorch + FAISS behind FastAPI).
    torch.save(tower.state_dict(), os.path.join(a.out, "tower.pt"))
    torch.save(ranker.state_dict(), os.path.join(a.out, "ranker.pt"))
    np.save(os.path.join(a.out, "items.npy"), emb[1:])  # index id r-1 = tower token r
    subprocess.run([a.inferd, "index", "build", "--type", "flat", "--metric", "ip", "--input",
                    os.path.join(a.out, "items.npy"), "--out", os.path.join(a.out, "items.index")], check=True)
    with open(os.path.join(a.out, "items.tsv"), "w", encoding="utf-8") as f:
        f.write("row\tmovie_id\tpopularity\tmean_rating\ttitle\n")
        for m in movies:
            r = row[m]
            f.write(f"{r}\t{m}\t{int(pop[r])}\t{mean_rating[r]:.4f}\t{titles.get(m, '').replace(chr(9), ' ')}\n")
    with open(os.path.join(a.out, "users.tsv"), "w") as f:
        f.write("user_id\tmovie_ids\n")
        for u in uids:
            f.write(f"{u}\t{','.join(str(m) for _, m, _ in per_user[u])}\n")
    with open(os.path.join(a.out, "split.json"), "w") as f:
        json.dump({"protocol": "leave-last-out: each user's last rated item is the test item; history = every earlier item",
                   "epochs": a.epochs, "seed": a.seed, "users": len(uids), "items": n,
                   "test": {str(u): movies[target[u] - 1] for u in uids},
                   "results": {k: {"hr10": h, "ndcg10": nd} for k, (h, nd) in res.items()}}, f, indent=1)
    # What the served pipeline must answer (tests/integration/test_recommend.py): PyTorch's own
    # top 10 for a few users, by request history (the split's) and by user id (every rating).
    ref = []
    for u in uids[:24]:
        for by_id in (False, True):
            h = seqs[u] if by_id else hist[u]
            with torch.no_grad():
                uv = tower(torch.tensor([window(h)])).numpy()[0]
            sc = pipeline_scores(uv, emb, item_feats, ranker, set(h))
            top = np.argsort(-sc, kind="stable")[:10]
            entry = {"user_id": u} if by_id else {"history": [movies[i - 1] for i in h]}
            entry.update(items=[movies[i - 1] for i in top], scores=[float(sc[i]) for i in top])
            ref.append(entry)
    with open(os.path.join(a.out, "reference.json"), "w") as f:
        json.dump(ref, f)
    with open(os.path.join(a.out, "config.ini"), "w") as f:
        f.write(f"""# Written by scripts/train_recommender.sh ({time.strftime('%Y-%m-%d')}); docs/recommend.md
[model]
kind = recommender
user_model = user_tower.onnx
ranker_model = ranker.onnx
index = items.index
items = items.tsv
users = users.tsv
max_history = {L}
candidates = {CAND}
""")
    log(f"wrote {a.out} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
