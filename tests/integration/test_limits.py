"""Every limit is a setting; each one answers with the documented status and a JSON error."""
import os
import socket
import threading
import time

from conftest import Reader, build_request, closed_by_peer, send_request, SLOW


def test_header_too_large_is_431(server_factory):
    srv = server_factory("--max-header-bytes", "1k", "--access-log", "false")
    r = srv.request("GET", "/v2/health/live", {"X-Big": "a" * 2000})
    assert r.status == 431 and "header" in r.json()["error"]
    assert r.header("connection") == "close"
    # Just under the limit is fine.
    r = srv.request("GET", "/v2/health/live", {"X-Big": "a" * 800})
    assert r.status == 200


def test_header_flood_without_terminator_is_431(server_factory):
    srv = server_factory("--max-header-bytes", "1k", "--access-log", "false")
    s = srv.connect()
    s.sendall(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 400)
    r = Reader(s).response()
    assert r.status == 431
    assert closed_by_peer(s, 2 * SLOW)


def test_body_too_large_is_413(server_factory):
    srv = server_factory("--max-body-bytes", "1k", "--debug-endpoints", "true",
                         "--access-log", "false")
    r = srv.request("POST", "/debug/echo", body=b"x" * 1025)
    assert r.status == 413 and "too large" in r.json()["error"]
    r = srv.request("POST", "/debug/echo", body=b"x" * 1024)
    assert r.status == 200 and len(r.body) == 1024
    # Chunked bodies are limited after de-chunking too.
    s = srv.connect()
    s.sendall(b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              + b"200\r\n" + b"y" * 512 + b"\r\n" + b"201\r\n" + b"y" * 513 + b"\r\n0\r\n\r\n")
    r = Reader(s).response()
    assert r.status == 413
    s.close()


def test_413_is_sent_before_the_body_arrives(server_factory):
    srv = server_factory("--max-body-bytes", "1k", "--debug-endpoints", "true",
                         "--access-log", "false")
    s = srv.connect()
    s.sendall(b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    r = Reader(s).response()
    assert r.status == 413


def test_malformed_requests_are_400_and_close(server):
    cases = [
        b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        b"GET /v2/hea\x00lth HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v2/health/live HTTP/1.1\nHost: x\n\n",
        b"GET /v2/health/live HTTP/1.1\r\n\r\n",  # no Host
        b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]
    for raw in cases:
        s = server.connect()
        s.sendall(raw)
        r = Reader(s).response()
        assert r.status == 400, (raw, r)
        assert "error" in r.json()
        assert r.header("connection") == "close"
        assert closed_by_peer(s, 2 * SLOW), raw
    r = server.request("GET", "/v2/health/live", {"Transfer-Encoding": "gzip"})
    assert r.status == 501
    s = server.connect()
    s.sendall(b"GET /v2/health/live HTTP/2.0\r\nHost: x\r\n\r\n")
    assert Reader(s).response().status == 505


def test_header_timeout_is_408(server_factory):
    srv = server_factory("--header-timeout-ms", "300ms", "--access-log", "false")
    s = srv.connect()
    s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")  # never finished
    t0 = time.time()
    r = Reader(s).response()
    assert r.status == 408
    assert 0.2 < time.time() - t0 < 3 * SLOW
    assert closed_by_peer(s, 2 * SLOW)


def test_body_timeout_is_408(server_factory):
    srv = server_factory("--body-timeout-ms", "300ms", "--debug-endpoints", "true",
                         "--access-log", "false")
    s = srv.connect()
    s.sendall(b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    r = Reader(s).response()
    assert r.status == 408 and "body" in r.json()["error"]


def test_idle_keep_alive_connection_is_closed(server_factory):
    srv = server_factory("--idle-timeout-ms", "300ms", "--access-log", "false")
    s = srv.connect()
    send_request(s, "GET", "/v2/health/live")
    assert Reader(s).response().status == 200
    t0 = time.time()
    assert closed_by_peer(s, 5 * SLOW)
    assert time.time() - t0 >= 0.2


def test_max_connections_refuses_cleanly(server_factory):
    srv = server_factory("--max-connections", "5", "--threads", "1", "--access-log", "false")
    held = [srv.connect() for _ in range(5)]
    for s in held:  # make sure all five are accepted and counted
        send_request(s, "GET", "/v2/health/live")
        assert Reader(s).response().status == 200
    extra = srv.connect()
    r = Reader(extra).response()
    assert r.status == 503 and r.header("retry-after") == "1"
    assert "too many" in r.json()["error"]
    for s in held:
        s.close()
    # Once they are gone, new connections are served again.
    deadline = time.time() + 5 * SLOW
    while True:
        r = srv.request("GET", "/v2/health/live")
        if r.status == 200 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert r.status == 200
    text = srv.request("GET", "/metrics").body.decode()
    # At least the one above; the retry loop may have been refused again before the server
    # processed the closes.
    refused = [l for l in text.splitlines() if l.startswith("inferd_http_connections_refused_total ")]
    assert refused and int(float(refused[0].split()[1])) >= 1


def test_max_pipeline_bounds_requests_in_flight(server_factory):
    srv = server_factory("--max-pipeline", "4", "--debug-endpoints", "true",
                         "--access-log", "false")
    s = srv.connect(timeout=10)
    n = 40
    s.sendall(b"".join(build_request("GET", "/debug/delay?ms=20") for _ in range(n)))
    rd = Reader(s)
    t0 = time.time()
    for _ in range(n):
        assert rd.response().status == 200
    # With at most 4 in flight, 40 requests of 20 ms take at least 10 rounds of 20 ms; unbounded
    # they would all be in flight at once and finish in about 20 ms.
    assert time.time() - t0 >= 0.18
    s.close()


def test_slow_and_idle_clients_do_not_block_others(server_factory):
    srv = server_factory("--access-log", "false", "--max-connections", "1000")
    idle = [srv.connect() for _ in range(150)]
    slow = [srv.connect() for _ in range(50)]
    stop = threading.Event()

    def drip():
        # Each slow client sends its request one byte at a time, 10 ms apart.
        data = build_request("GET", "/v2/health/live")
        i = 0
        while not stop.is_set() and i < len(data):
            for s in slow:
                try:
                    s.send(data[i:i + 1])
                except OSError:
                    pass
            i += 1
            time.sleep(0.01)

    t = threading.Thread(target=drip)
    t.start()
    try:
        time.sleep(0.05)  # the drip is under way
        s = srv.connect()
        rd = Reader(s)
        t0 = time.time()
        for _ in range(200):
            send_request(s, "GET", "/v2/health/live")
            assert rd.response().status == 200
        elapsed = time.time() - t0
        # 200 sequential requests on loopback take milliseconds; a server stuck on the slow
        # clients would need the drip's ~0.6 s or the idle connections' timeout.
        assert elapsed < 0.5 * SLOW, elapsed
        s.close()
    except BaseException:
        stop.set()
        raise
    finally:
        t.join()
    for c in slow:
        c.settimeout(5 * SLOW)
        assert Reader(c).response().status == 200
    for c in idle + slow:
        c.close()


def test_client_reset_mid_request_does_not_hurt_server(server):
    for _ in range(20):
        s = server.connect()
        s.sendall(b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
    for _ in range(10):
        s = server.connect()
        send_request(s, "GET", "/debug/delay?ms=50")
        s.close()  # leaves before its answer: the server must keep the request until answered
    time.sleep(0.2 * SLOW)
    assert server.request("GET", "/v2/health/live").status == 200


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_descriptor_exhaustion_does_not_spin(server_factory):
    # 48 descriptors in all: a few go to the loops and listeners, so ~40 clients fit.
    srv = server_factory("--access-log", "false", nofile=48)
    conns = []
    for _ in range(80):
        conns.append(srv.connect())
    time.sleep(0.3)
    c0 = cpu_seconds(srv.proc.pid)
    time.sleep(1.0)
    # A loop spinning on a readable listener would burn a whole core here.
    assert cpu_seconds(srv.proc.pid) - c0 < 0.3
    for c in conns:
        c.close()
    deadline = time.time() + 5 * SLOW
    while True:
        try:
            r = srv.request("GET", "/v2/health/live", timeout=1)
            if r.status == 200:
                break
        except OSError:
            pass
        assert time.time() < deadline, "server did not recover after descriptors were freed"
        time.sleep(0.1)


def test_head_behind_slow_request_gets_its_own_timeout(server_factory):
    srv = server_factory("--header-timeout-ms", "400ms", "--debug-endpoints", "true",
                         "--access-log", "false")
    s = srv.connect()
    # A slow request, then the first half of a second head, sent together.
    s.sendall(build_request("GET", "/debug/delay?ms=700") + b"GET /v2/health/live HTTP/1.1\r\n")
    rd = Reader(s)
    assert rd.response().status == 200  # the slow one is answered, not cut off
    s.sendall(b"Host: x\r\n\r\n")         # completed within its own timeout
    assert rd.response().status == 200
    s.close()
