"""The command line: help, version, settings precedence, and clear errors with exit codes."""
import json
import os
import subprocess

from conftest import BIN


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, env=e, timeout=30)


def test_version():
    for a in ["--version", "version"]:
        p = run(a)
        assert p.returncode == 0 and p.stdout.startswith("inferd ")


def test_help():
    p = run("--help")
    assert p.returncode == 0 and "serve" in p.stdout
    p = run("serve", "--help")
    assert p.returncode == 0
    for flag in ["--listen", "--config", "--max-body-bytes", "--header-timeout-ms",
                 "--api-keys", "--log-format", "--print-config"]:
        assert flag in p.stdout, flag


def test_no_command_and_unknown_command():
    p = run()
    assert p.returncode == 2 and "Usage" in p.stderr
    p = run("frobnicate")
    assert p.returncode == 2 and "unknown command" in p.stderr


def test_unknown_flag_and_bad_values_exit_2():
    p = run("serve", "--no-such-flag", "1")
    assert p.returncode == 2 and "--no-such-flag" in p.stderr
    p = run("serve", "--max-body-bytes", "lots")
    assert p.returncode == 2 and "max_body_bytes" in p.stderr
    p = run("serve", "--listen")
    assert p.returncode == 2 and "needs a value" in p.stderr
    p = run("serve", "--listen", "nonsense")
    assert p.returncode == 1 and "listen" in p.stderr
    p = run("serve", "--config", "/nonexistent.ini")
    assert p.returncode == 2 and "/nonexistent.ini" in p.stderr
    p = run("serve", "--api-key-hashes", "xyz", "--listen", "127.0.0.1:0")
    assert p.returncode == 2 and "api_key_hashes" in p.stderr
    p = run("serve", "--log-level", "loud", "--listen", "127.0.0.1:0")
    assert p.returncode == 2 and "log_level" in p.stderr


def test_listen_errors_are_reported(server):
    # A port already served (SO_REUSEPORT must not let a second server silently share it).
    p = run("serve", "--listen", "127.0.0.1:%d" % server.port, "--threads", "1")
    assert p.returncode == 1 and "cannot listen" in p.stderr and "in use" in p.stderr
    # An address that is not on this machine (TEST-NET-1; nothing is sent there).
    p = run("serve", "--listen", "192.0.2.1:8080", "--threads", "1")
    assert p.returncode == 1 and "cannot listen" in p.stderr


def test_print_config_precedence(tmp_path):
    cfg = tmp_path / "c.ini"
    cfg.write_text("[server]\nlisten = 127.0.0.1:7000\nthreads = 3\n"
                   "[limits]\nmax_body_bytes = 1m\nmax_pipeline = 5\n")
    p = run("serve", "--config", str(cfg), "--max-pipeline", "6", "--print-config",
            env={"INFERD_THREADS": "4", "INFERD_MAX_PIPELINE": "9"})
    assert p.returncode == 0, p.stderr
    lines = {l.split(" = ")[0]: l.split(" = ")[1] for l in p.stdout.splitlines() if " = " in l}
    assert lines["listen"] == "127.0.0.1:7000    ; file"
    assert lines["threads"] == "4    ; env"            # env beats file
    assert lines["max_pipeline"] == "6    ; flag"      # flag beats env and file
    assert lines["max_body_bytes"] == "1048576    ; file"
    assert lines["max_header_bytes"] == "16384    ; default"


def test_print_config_masks_keys():
    p = run("serve", "--api-keys", "topsecret", "--print-config")
    assert p.returncode == 0 and "topsecret" not in p.stdout and "api_keys = ***" in p.stdout


def test_json_access_log_to_file(server_factory, tmp_path):
    log = tmp_path / "inferd.log"
    srv = server_factory("--log-format", "json", "--log-file", str(log))
    srv.request("GET", "/v2/health/live?x=1")
    srv.request("GET", "/nope")
    assert srv.stop() == 0
    records = [json.loads(l) for l in log.read_text().splitlines()]
    access = [r for r in records if r["msg"] == "access"]
    assert len(access) == 2
    a = access[0]
    assert a["method"] == "GET" and a["path"] == "/v2/health/live" and a["status"] == 200
    assert a["bytes"] == 14 and a["ms"] >= 0 and a["client"].startswith("127.0.0.1:")
    assert access[1]["status"] == 404
    assert any("listening on" in r["msg"] for r in records)
    assert all(r["level"] in ("debug", "info", "warn", "error") and r["ts"] for r in records)


def test_text_access_log_escapes_hostile_paths(server_factory):
    srv = server_factory()
    srv.request("GET", "/a%22b\"c")
    srv.stop()
    line = [l for l in srv.log().splitlines() if "access" in l][0]
    assert 'path="/a%22b\\"c"' in line
