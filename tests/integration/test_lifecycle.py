"""Asynchronous completion from another thread, and graceful shutdown on SIGTERM/SIGINT."""
import os
import signal
import socket
import threading
import time

import pytest

from conftest import Reader, SLOW, closed_by_peer, send_request


def run_in_threads(n, fn):
    results = [None] * n
    errors = []

    def wrap(i):
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results, errors


def test_async_answers_do_not_block_other_connections(server):
    # 20 requests answered by the timer thread after 1 s...
    threads, results, errors = run_in_threads(
        20, lambda i: server.request("GET", "/debug/delay?ms=1000", timeout=10))
    time.sleep(0.1)
    # ...while other connections keep being served at full speed.
    t0 = time.time()
    s = server.connect()
    rd = Reader(s)
    for _ in range(300):
        send_request(s, "GET", "/v2/health/live")
        assert rd.response().status == 200
    fast = time.time() - t0
    s.close()
    for t in threads:
        t.join()
    assert not errors
    assert all(r.status == 200 and r.json() == {"delayed_ms": 1000} for r in results)
    assert fast < 0.5 * SLOW, fast


def test_async_answer_after_client_left(server):
    for _ in range(5):
        s = server.connect()
        send_request(s, "GET", "/debug/delay?ms=100")
        s.close()
    time.sleep(0.3)
    r = server.request("GET", "/metrics")
    assert 'inferd_http_requests_total{route="/debug/delay"' not in r.body.decode() or r.status == 200


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_finishes_in_flight_requests(server_factory, sig):
    srv = server_factory("--debug-endpoints", "true", "--shutdown-timeout-ms", "5s",
                         "--access-log", "false")
    conns = []
    for _ in range(5):
        s = srv.connect(timeout=10)
        send_request(s, "GET", "/debug/delay?ms=700")
        conns.append(s)
    idle = srv.connect()
    time.sleep(0.2)
    t0 = time.time()
    srv.proc.send_signal(sig)
    # Idle keep-alive connections are closed at once...
    assert closed_by_peer(idle, 2 * SLOW)
    # ...new connections are refused...
    time.sleep(0.1)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).recv(1)
    # ...and every request in flight gets its real answer, marked as the connection's last.
    for s in conns:
        r = Reader(s).response()
        assert r.status == 200 and r.json() == {"delayed_ms": 700}
        assert r.header("connection") == "close"
    assert srv.stop() == 0
    assert time.time() - t0 < 5 * SLOW
    assert "shutting down" in srv.log()


def test_shutdown_timeout_bounds_the_wait(server_factory):
    srv = server_factory("--debug-endpoints", "true", "--shutdown-timeout-ms", "300ms",
                         "--access-log", "false")
    s = srv.connect(timeout=10)
    send_request(s, "GET", "/debug/delay?ms=30000")
    time.sleep(0.2)
    t0 = time.time()
    srv.proc.send_signal(signal.SIGTERM)
    # The hook of the subsystem holding the request answers it (503) when the drain times out.
    r = Reader(s).response()
    assert r.status == 503
    assert srv.stop() == 0
    assert time.time() - t0 < 3 * SLOW
    assert "still in flight" in srv.log()


def test_sighup_does_not_stop_the_server(server):
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.1)
    assert server.request("GET", "/v2/health/live").status == 200


def test_threads_are_named(server_factory):
    """Loops, compute workers and the store writer carry names for top -H and perf."""
    srv = server_factory("--threads", "2", "--compute-threads", "3", "--access-log", "false")
    task = "/proc/%d/task" % srv.proc.pid
    names = sorted(open("%s/%s/comm" % (task, t)).read().strip() for t in os.listdir(task))
    assert names.count("inferd-loop") == 2, names
    for n in ("inferd-work0", "inferd-work1", "inferd-work2", "inferd-store"):
        assert n in names, names
