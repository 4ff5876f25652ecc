"""Integration harness: starts the real inferd binary on a free loopback port and talks to it over
real sockets. INFERD_BIN names the binary (ctest sets it; default build/inferd)."""
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("INFERD_BIN", os.path.join(ROOT, "build", "inferd"))
CLIENTS = os.path.join(ROOT, "tests", "clients")


def node_clients(package):
    """tests/clients with its npm packages installed: `npm ci` once, when package is missing."""
    if not os.path.isdir(os.path.join(CLIENTS, "node_modules", *package.split("/"))):
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=CLIENTS,
                       check=True, stdout=subprocess.DEVNULL)
    return CLIENTS
def duck(*sql):
    """Runs SQL statements in DuckDB (npm @duckdb/node-api, an independent Parquet reader): one
    list of rows (dicts, every value a string as DuckDB renders it, or None) per statement."""
    import json
    node_clients("@duckdb/node-api")
    p = subprocess.run(["node", os.path.join(CLIENTS, "duckdb_query.mjs")] + list(sql),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


# Sanitizer builds are several times slower; scale waits, never assertions about behaviour.
SLOW = 4.0 if "asan" in BIN else 1.0


class Server:
    def __init__(self, args, env=None, nofile=None, cwd=None):
        self.args = list(args)
        self.logfile = tempfile.NamedTemporaryFile(prefix="inferd-log-", delete=False)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.tmpdir = tempfile.mkdtemp(prefix="inferd-test-")
        # Each server records into its own database unless the test says where.
        store = [] if "--store" in args else ["--store", "sqlite:%s/inferd.db" % self.tmpdir]
        # The bundled demo repository unless the test brings its own: never the working directory's.
        if "--models" not in args and "--config" not in args:
            store += ["--models", os.path.join(ROOT, "models")]
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--threads", "2"] + store + list(args),
            stdout=subprocess.DEVNULL, stderr=self.logfile, env=full_env,
            cwd=cwd or self.tmpdir,
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile)))
            if nofile else None)
        self.port = None
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline:
            m = re.search(r"listening on [^ ]*:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise RuntimeError("inferd exited %d:\n%s" % (self.proc.returncode, self.log()))
            time.sleep(0.02)
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("inferd did not start:\n" + self.log())

    def log(self):
        path = self.logfile.name
        if "--log-file" in self.args:
            path = self.args[self.args.index("--log-file") + 1]
        if not os.path.exists(path):
            return ""
        with open(path, "r", errors="replace") as f:
            return f.read()

    def connect(self, timeout=5.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout * SLOW)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def request(self, method, path, headers=None, body=None, timeout=5.0):
        """One request on a new connection; returns a Response."""
        s = self.connect(timeout)
        try:
            send_request(s, method, path, headers, body, close=True)
            return read_response(s, head=(method == "HEAD"))
        finally:
            s.close()

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Signals the server and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("inferd did not exit within %.0fs of signal %d" % (timeout, sig))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.logfile.name)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:200])


def send_request(s, method, path, headers=None, body=None, close=False, version="1.1"):
    s.sendall(build_request(method, path, headers, body, close, version))


def build_request(method, path, headers=None, body=None, close=False, version="1.1"):
    h = {"Host": "localhost"}
    if body is not None:
        h["Content-Length"] = str(len(body))
    if close:
        h["Connection"] = "close"
    h.update(headers or {})
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    lines += ["%s: %s" % (k, v) for k, v in h.items() if v is not None]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return data + (body or b"")


class Reader:
    """Buffered reader over a socket that can parse several pipelined responses."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = []
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
        n = 0
        for k, v in headers:
            if k == "content-length":
                n = int(v)
        if head or int(status) in (100, 204, 304):
            n = 0
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(version, int(status), reason, headers, body)


def read_response(s, head=False):
    return Reader(s).response(head)


def closed_by_peer(s, timeout):
    """True if the server closes the connection within timeout seconds (EOF or reset)."""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
        if not r:
            return False
        try:
            if s.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


@pytest.fixture
def server_factory():
    """Starts servers with extra flags; at teardown requires each to exit 0 on SIGTERM, which in
    the sanitizer build also means no leak and no memory error."""
    servers = []

    def start(*args, env=None, nofile=None):
        srv = Server(args, env, nofile)
        servers.append(srv)
        return srv

    yield start
    errors = []
    for srv in servers:
        try:
            if srv.proc.poll() is None:
                rc = srv.stop()
            else:
                rc = srv.proc.returncode
            if rc != 0:
                errors.append("inferd exited %d; log:\n%s" % (rc, srv.log()[-4000:]))
        finally:
            srv.close()
    assert not errors, "\n".join(errors)


@pytest.fixture
def server(server_factory):
    return server_factory("--debug-endpoints", "true", "--access-log", "false")
