"""Routing, methods, keep-alive, HEAD, pipelining and bodies over real sockets."""
import json

from conftest import Reader, build_request, closed_by_peer, send_request, SLOW


def test_health_probes(server):
    r = server.request("GET", "/v2/health/live")
    assert r.status == 200 and r.json() == {"live": True}
    assert r.header("content-type") == "application/json"
    assert r.header("date") and r.header("server") == "inferd"
    r = server.request("GET", "/v2/health/ready")
    assert r.status == 200 and r.json() == {"ready": True}


def test_unknown_route_is_404_json(server):
    r = server.request("GET", "/no/such/thing")
    assert r.status == 404
    assert "/no/such/thing" in r.json()["error"]


def test_wrong_method_is_405_with_allow(server):
    r = server.request("DELETE", "/v2/health/live")
    assert r.status == 405
    assert r.header("allow") == "GET, HEAD"
    assert "DELETE" in r.json()["error"]
    r = server.request("GET", "/debug/echo")
    assert r.status == 405 and r.header("allow") == "POST"


def test_unknown_method_token_is_405(server):
    r = server.request("BREW", "/v2/health/live")
    assert r.status == 405


def test_head_has_length_but_no_body(server):
    s = server.connect()
    send_request(s, "HEAD", "/v2/health/live")
    send_request(s, "GET", "/v2/health/live")
    rd = Reader(s)
    h = rd.response(head=True)
    assert h.status == 200 and h.header("content-length") == "14" and h.body == b""
    # The next response starts right after the HEAD response's headers: no stray body bytes.
    g = rd.response()
    assert g.status == 200 and g.body == b'{"live":true}\n'
    s.close()


def test_keep_alive_many_requests_one_connection(server):
    s = server.connect()
    rd = Reader(s)
    for _ in range(200):
        send_request(s, "GET", "/v2/health/live")
        r = rd.response()
        assert r.status == 200 and r.header("connection") is None
    s.close()


def test_connection_close_is_honoured(server):
    s = server.connect()
    send_request(s, "GET", "/v2/health/live", close=True)
    r = Reader(s).response()
    assert r.status == 200 and r.header("connection") == "close"
    assert closed_by_peer(s, 2 * SLOW)


def test_http10_closes_unless_keep_alive(server):
    s = server.connect()
    send_request(s, "GET", "/v2/health/live", version="1.0")
    r = Reader(s).response()
    assert r.status == 200 and r.header("connection") == "close"
    assert closed_by_peer(s, 2 * SLOW)
    s = server.connect()
    rd = Reader(s)
    for _ in range(3):
        send_request(s, "GET", "/v2/health/live", {"Connection": "keep-alive"}, version="1.0")
        r = rd.response()
        assert r.status == 200 and r.header("connection") == "keep-alive"
    s.close()


def test_pipelined_requests_answered_in_order(server):
    s = server.connect()
    # A slow request first: the fast ones behind it must wait for it, in order.
    reqs = build_request("GET", "/debug/delay?ms=150")
    paths = []
    for i in range(20):
        body = ("body-%d" % i).encode()
        reqs += build_request("POST", "/debug/echo", body=body)
        paths.append(body)
    s.sendall(reqs)
    rd = Reader(s)
    first = rd.response()
    assert first.status == 200 and first.json() == {"delayed_ms": 150}
    for body in paths:
        r = rd.response()
        assert r.status == 200 and r.body == body
    s.close()


def test_pipelined_bytes_split_at_every_offset(server):
    data = build_request("POST", "/debug/echo", body=b"abc") + build_request("GET", "/v2/health/live")
    for cut in range(1, len(data), 7):
        s = server.connect()
        s.sendall(data[:cut])
        s.sendall(data[cut:])
        rd = Reader(s)
        assert rd.response().body == b"abc"
        assert rd.response().status == 200
        s.close()


def test_chunked_body(server):
    s = server.connect()
    body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    s.sendall(b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
              + build_request("GET", "/v2/health/live"))
    rd = Reader(s)
    r = rd.response()
    assert r.status == 200 and r.body == b"hello, world"
    assert rd.response().status == 200  # the next pipelined request parsed after the trailer
    s.close()


def test_large_body_in_pieces(server):
    body = bytes(range(256)) * 4096  # 1 MiB
    s = server.connect(timeout=20)
    head = b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    s.sendall(head)
    for i in range(0, len(body), 100000):
        s.sendall(body[i:i + 100000])
    r = Reader(s).response()
    assert r.status == 200 and r.body == body
    s.close()


def test_expect_100_continue(server):
    s = server.connect()
    s.sendall(b"POST /debug/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
              b"Expect: 100-continue\r\n\r\n")
    rd = Reader(s)
    interim = rd.response()
    assert interim.status == 100
    s.sendall(b"ping")
    r = rd.response()
    assert r.status == 200 and r.body == b"ping"
    s.close()


def test_unsupported_expectation_is_417(server):
    r = server.request("POST", "/debug/echo", {"Expect": "teapot"}, b"x")
    assert r.status == 417


def test_metrics_exposition(server):
    server.request("GET", "/v2/health/live")
    server.request("GET", "/nope")
    r = server.request("GET", "/metrics")
    assert r.status == 200
    assert r.header("content-type").startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    assert 'inferd_http_requests_total{route="/v2/health/live",status="200"} 1' in text
    assert 'inferd_http_requests_total{route="unmatched",status="404"} 1' in text
    assert 'inferd_http_request_duration_seconds_count{route="/v2/health/live"} 1' in text
    assert "# TYPE inferd_http_request_duration_seconds histogram" in text
    assert "inferd_http_connections_open " in text
    assert 'inferd_http_bytes_total{direction="in"}' in text
    rss = [l for l in text.splitlines() if l.startswith("process_resident_memory_bytes ")]
    assert rss and float(rss[0].split()[1]) > 1e6
    # Every sample line parses as "name{labels} value".
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)


def test_error_bodies_are_json_with_error_key(server):
    for method, path in [("GET", "/x"), ("PUT", "/metrics")]:
        r = server.request(method, path)
        assert r.header("content-type") == "application/json"
        assert isinstance(json.loads(r.body)["error"], str)
