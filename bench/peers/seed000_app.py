"""Seed 000's stack, rebuilt from Debian packages: FastAPI + scikit-learn + PostgreSQL.

`POST /inferences` with {"model": "<name>", "features": [30 floats]} runs a StandardScaler +
LogisticRegression pipeline (trained at start on sklearn's load_breast_cancer with a fixed seed),
stores one row per request in PostgreSQL and answers the stored record.

Modes (SEED000_MODE):
  db        psycopg2, a sync `def` endpoint (FastAPI runs it on its thread pool), one INSERT and
            one COMMIT per request, connections from a ThreadedConnectionPool of SEED000_POOL
            connections opened at start. The seed's default.
  dbnosync  as db, but the connections run with synchronous_commit=off: the seed's "experimental,
            non-production" setting. Not durable: a crash loses the last acknowledged rows.
  asyncpg   an `async def` endpoint with an asyncpg pool; the insert is awaited (auto-commit,
            so one commit per request as well). The seed's /inferences_async.
  nodb      the db endpoint with the insert skipped: inference only.

Environment:
  SEED000_MODE   db | dbnosync | asyncpg | nodb                      [db]
  SEED000_DSN    libpq conninfo, e.g. "host=127.0.0.1 port=5432 dbname=bench user=bench"
  SEED000_POOL   connections per worker process (the seed's pool size)  [50]

Run: SEED000_MODE=db SEED000_DSN=... python3 -m uvicorn --app-dir bench/peers seed000_app:app \
         --host 127.0.0.1 --port 8000 --workers 1 --no-access-log
"""
import json
import os
import time
import uuid
from datetime import datetime, timezone
from typing import List

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MODE = os.environ.get("SEED000_MODE", "db")
DSN = os.environ.get("SEED000_DSN", "")
POOL = int(os.environ.get("SEED000_POOL", "50"))
if MODE not in ("db", "dbnosync", "asyncpg", "nodb"):
    raise SystemExit(f"SEED000_MODE={MODE!r}: expected db, dbnosync, asyncpg or nodb")
if MODE != "nodb" and not DSN:
    raise SystemExit("SEED000_DSN is required unless SEED000_MODE=nodb")

MODEL_NAME = "breast_cancer"
MODEL_VERSION = "1"
N_FEATURES = 30

# The model: the same shape as inferd's demo model (StandardScaler + LogisticRegression on
# load_breast_cancer), trained here at start with a fixed seed.
_x, _y = load_breast_cancer(return_X_y=True)
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
model.fit(_x, _y)

SCHEMA = """
CREATE TABLE IF NOT EXISTS inferences (
    id uuid PRIMARY KEY,
    ts timestamptz NOT NULL,
    model text NOT NULL,
    version text,
    input jsonb NOT NULL,
    output jsonb NOT NULL,
    latency_ms double precision NOT NULL
)"""
INSERT = (
    "INSERT INTO inferences (id, ts, model, version, input, output, latency_ms) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
INSERT_ASYNCPG = (
    "INSERT INTO inferences (id, ts, model, version, input, output, latency_ms) "
    "VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)"
)


class InferenceRequest(BaseModel):
    model: str
    features: List[float]


def predict(req: InferenceRequest):
    """Validates the request, runs the model; returns (record without id/ts, t0)."""
    if req.model != MODEL_NAME:
        raise HTTPException(status_code=404, detail=f"unknown model {req.model!r}")
    if len(req.features) != N_FEATURES:
        raise HTTPException(status_code=422, detail=f"expected {N_FEATURES} features")
    t0 = time.perf_counter()
    x = np.asarray(req.features, dtype=np.float64).reshape(1, -1)
    pred = int(model.predict(x)[0])
    proba = [float(p) for p in model.predict_proba(x)[0]]
    return {"prediction": pred, "probabilities": proba}, t0


def record(req: InferenceRequest, output: dict, t0: float) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "ts": datetime.now(timezone.utc),
        "model": req.model,
        "version": MODEL_VERSION,
        "input": req.features,
        "output": output,
        "latency_ms": (time.perf_counter() - t0) * 1000.0,
    }


def answer(rec: dict) -> dict:
    return {
        "id": rec["id"],
        "ts": rec["ts"].isoformat(),
        "model": rec["model"],
        "version": rec["version"],
        "prediction": rec["output"]["prediction"],
        "probabilities": rec["output"]["probabilities"],
        "latency_ms": rec["latency_ms"],
    }


app = FastAPI(title="seed000 peer")

if MODE in ("db", "dbnosync", "nodb"):
    pool = None
    if MODE != "nodb":
        import psycopg2
        import psycopg2.pool

        opts = " options='-c synchronous_commit=off'" if MODE == "dbnosync" else ""
        # minconn = maxconn: psycopg2's pool closes any connection handed back beyond minconn, so a
        # smaller minconn would open a new PostgreSQL connection (a backend fork) per request.
        pool = psycopg2.pool.ThreadedConnectionPool(POOL, POOL, DSN + opts)
        _c = pool.getconn()
        with _c, _c.cursor() as cur:
            cur.execute(SCHEMA)
        pool.putconn(_c)

    @app.post("/inferences")
    def inferences(req: InferenceRequest):
        output, t0 = predict(req)
        rec = record(req, output, t0)
        if pool is not None:
            conn = pool.getconn()
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        INSERT,
                        (rec["id"], rec["ts"], rec["model"], rec["version"],
                         json.dumps(rec["input"]), json.dumps(rec["output"]), rec["latency_ms"]),
                    )
                conn.commit()  # synchronous_commit=on: returns after the WAL flush
            except Exception:
                conn.rollback()
                raise
            finally:
                pool.putconn(conn)
        return answer(rec)

else:  # asyncpg
    import asyncpg

    apool = None

    @app.on_event("startup")
    async def startup():
        global apool
        apool = await asyncpg.create_pool(dsn=_asyncpg_dsn(DSN), min_size=min(10, POOL),
                                          max_size=POOL)
        async with apool.acquire() as c:
            await c.execute(SCHEMA)

    @app.on_event("shutdown")
    async def shutdown():
        if apool is not None:
            await apool.close()

    @app.post("/inferences")
    async def inferences_async(req: InferenceRequest):
        output, t0 = predict(req)
        rec = record(req, output, t0)
        async with apool.acquire() as c:
            await c.execute(INSERT_ASYNCPG, uuid.UUID(rec["id"]), rec["ts"], rec["model"],
                            rec["version"], json.dumps(rec["input"]), json.dumps(rec["output"]),
                            rec["latency_ms"])
        return answer(rec)


def _asyncpg_dsn(conninfo: str) -> str:
    """asyncpg wants a URL; turns "host=H port=P dbname=D user=U" into postgresql://U@H:P/D."""
    kv = dict(item.split("=", 1) for item in conninfo.split())
    return "postgresql://{}@{}:{}/{}".format(kv.get("user", "postgres"), kv.get("host", "127.0.0.1"),
                                             kv.get("port", "5432"), kv.get("dbname", "postgres"))


@app.get("/health")
def health():
    return {"live": True, "mode": MODE, "pid": os.getpid()}
