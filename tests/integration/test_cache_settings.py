"""The [cache] settings as the command line reads them, and the private redis-server helper
(redis_server.py) that the embedding cache's HTTP tests drive: it must really stop answering
when frozen, refuse connections when killed, and come back on the same port."""
import os
import subprocess

import pytest

from conftest import BIN
from redis_server import RedisServer


def run(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30,
                          env=dict(os.environ))


def test_cache_settings_print_and_mask(tmp_path):
    cfg = tmp_path / "c.ini"
    cfg.write_text("[cache]\ncache_bytes = 16m\nredis_ttl_s = 60\n")
    p = run("serve", "--config", str(cfg), "--redis-url", "redis://:hunter2@10.0.0.1:6380/2",
            "--redis-timeout-ms", "20ms", "--print-config")
    assert p.returncode == 0, p.stderr
    lines = {l.split(" = ")[0]: l.split(" = ")[1] for l in p.stdout.splitlines() if " = " in l}
    assert "[cache]" in p.stdout
    assert lines["cache_bytes"] == "16777216    ; file"
    assert lines["redis_ttl_s"] == "60    ; file"
    assert lines["redis_timeout_ms"] == "20    ; flag"
    assert lines["redis_queue"] == "4096    ; default"
    assert lines["redis_url"] == "***    ; flag" and "hunter2" not in p.stdout
    p = run("serve", "--cache-bytes", "lots", "--print-config")
    assert p.returncode == 2 and "cache_bytes" in p.stderr


def test_redis_server_helper():
    r = RedisServer().start()
    try:
        assert r.command("SET", "k", b"v\x00", "EX", 60, db=3) == "OK"
        assert r.command("GET", "k", db=3) == b"v\x00"
        assert r.command("GET", "k") is None
        r.freeze()
        with pytest.raises(OSError):
            r.command("PING", timeout=0.2)
        r.thaw()
        assert r.command("PING") == "PONG"
        r.kill()
        with pytest.raises(OSError):
            r.command("PING")
        port = r.port
        r.restart()
        assert r.port == port and r.command("GET", "k", db=3) is None
    finally:
        r.close()
