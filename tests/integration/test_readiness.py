"""Readiness (/v2/health/ready) reflects the model repository and the record store (issue 8: it
used to say true while the store could not write)."""
import json
import os
import time

from conftest import SLOW
from records import features, post


def ready(srv):
    r = srv.request("GET", "/v2/health/ready")
    return r.status, r.json()


def test_ready_when_models_and_store_are(server):
    assert ready(server) == (200, {"ready": True})


def test_not_ready_while_the_model_directory_is_missing(server_factory, tmp_path):
    srv = server_factory("--models", str(tmp_path / "nowhere"))
    deadline = time.time() + 5 * SLOW
    while time.time() < deadline:
        status, body = ready(srv)
        if status == 503:
            break
        time.sleep(0.05)
    assert status == 503 and body["ready"] is False, body
    assert str(tmp_path) not in body["reason"], body  # no paths to clients
    assert srv.request("GET", "/v2/health/live").status == 200


def test_not_ready_once_the_sqlite_database_is_deleted(server_factory, tmp_path):
    db = tmp_path / "rec.db"
    srv = server_factory("--store", "sqlite:%s" % db, "--access-log", "false", "--journal", "none")
    row = features(1)[0]
    assert post(srv, {"model": "breast_cancer", "features": row}).status == 200
    assert ready(srv)[0] == 200
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(db) + suffix):
            os.unlink(str(db) + suffix)
    deadline = time.time() + 5 * SLOW
    status, body = ready(srv)
    while status == 200 and time.time() < deadline:
        post(srv, {"model": "breast_cancer", "features": row})  # the next commit notices
        time.sleep(0.05)
        status, body = ready(srv)
    assert status == 503 and body["ready"] is False, body
    assert body["reason"], body
    metrics = srv.request("GET", "/metrics").body.decode()
    assert 'inferd_store_healthy{sink="sqlite"} 0' in metrics, \
        [l for l in metrics.splitlines() if "healthy" in l]
