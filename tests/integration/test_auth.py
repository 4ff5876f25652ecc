"""API keys: every route but the health probes needs Authorization: Bearer <key> when set."""
import hashlib

import pytest


@pytest.fixture
def keyed(server_factory):
    return server_factory("--api-keys", "alpha-key, beta-key", "--access-log", "false")


def test_health_probes_are_public(keyed):
    assert keyed.request("GET", "/v2/health/live").status == 200
    assert keyed.request("GET", "/v2/health/ready").status == 200


def test_missing_and_wrong_keys_are_401(keyed):
    r = keyed.request("GET", "/metrics")
    assert r.status == 401 and "missing" in r.json()["error"]
    assert r.header("www-authenticate").startswith("Bearer")
    for bad in ["Bearer wrong", "Bearer alpha-ke", "Bearer alpha-key2", "Basic alpha-key",
                "Bearer ", "alpha-key"]:
        r = keyed.request("GET", "/metrics", {"Authorization": bad})
        assert r.status == 401, bad


def test_each_configured_key_works(keyed):
    for key in ["alpha-key", "beta-key"]:
        r = keyed.request("GET", "/metrics", {"Authorization": "Bearer " + key})
        assert r.status == 200
    r = keyed.request("GET", "/metrics", {"Authorization": "bearer alpha-key"})
    assert r.status == 200  # the scheme is case-insensitive (RFC 9110 11.1)


def test_unknown_routes_still_need_a_key(keyed):
    # 401 before 404, so the route table is not disclosed to callers without a key.
    assert keyed.request("GET", "/nope").status == 401
    r = keyed.request("GET", "/nope", {"Authorization": "Bearer alpha-key"})
    assert r.status == 404


def test_hashed_keys_from_config_file(server_factory, tmp_path):
    digest = hashlib.sha256(b"gamma-key").hexdigest()
    cfg = tmp_path / "inferd.ini"
    cfg.write_text("[auth]\napi_key_hashes = %s\n[log]\naccess_log = false\n" % digest)
    srv = server_factory("--config", str(cfg))
    assert srv.request("GET", "/metrics").status == 401
    r = srv.request("GET", "/metrics", {"Authorization": "Bearer gamma-key"})
    assert r.status == 200


def test_keys_from_environment(server_factory):
    srv = server_factory("--access-log", "false", env={"INFERD_API_KEYS": "env-key"})
    assert srv.request("GET", "/metrics").status == 401
    assert srv.request("GET", "/metrics", {"Authorization": "Bearer env-key"}).status == 200
