"""A private redis-server for integration tests (the embedding cache's L2): started in a fresh
temporary directory on a free loopback port with a password and no persistence, and
controllable the way the cache tests need: kill() (SIGKILL), freeze() / thaw() (SIGSTOP /
SIGCONT), restart() on the same port. command() talks RESP over a plain socket, so a test can
check what inferd stored without another client library.

When redis-server is missing or cannot start, start() raises RedisUnavailable: the tests that
need it must fail then, never skip (scripts/deps.sh installs redis-server)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from pg import free_port

PASSWORD = "inferd-test"


class RedisUnavailable(Exception):
    pass


class RedisServer:
    def __init__(self, password=PASSWORD):
        self.password = password
        self.dir = None
        self.port = None
        self.proc = None

    def url(self, db=0):
        return "redis://:%s@127.0.0.1:%d/%d" % (self.password, self.port, db)

    def start(self):
        exe = shutil.which("redis-server")
        if not exe:
            raise RedisUnavailable("redis-server not found: install the Debian package "
                                   "redis-server (scripts/deps.sh)")
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="inferd-redis-", dir="/tmp")
        for attempt in range(3):  # a probed free port can be taken before the server binds it
            if self.port is None:
                self.port = free_port()
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                 "--save", "", "--appendonly", "no", "--requirepass", self.password,
                 "--loglevel", "warning", "--daemonize", "no",
                 "--logfile", os.path.join(self.dir, "server.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self.command("PING") == "PONG":
                        return self
                except OSError:
                    pass
                time.sleep(0.01)
            self._reap()
            self.port = None
        raise RedisUnavailable("redis-server did not start:\n" + self.log_tail())

    def log_tail(self, n=2000):
        path = os.path.join(self.dir or "", "server.log")
        if not self.dir or not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()[-n:]

    def _reap(self):
        if self.proc is not None:
            try:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None

    def kill(self):
        """SIGKILL: the connection drops without a goodbye, as in a crash."""
        self._reap()

    def restart(self):
        """A new server on the same port (and so the same URL); the data is gone."""
        self._reap()
        return self.start()

    def freeze(self):
        """SIGSTOP: the kernel still accepts connections, nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def close(self):
        self._reap()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # ---- a minimal RESP client ----

    def command(self, *args, db=0, timeout=2.0):
        """Runs AUTH, SELECT db and one command; returns its reply (bytes, str for a status,
        int, None, list); an error reply raises RuntimeError."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            f = s.makefile("rb")
            cmds = [("AUTH", self.password)] + ([("SELECT", str(db))] if db else []) + [args]
            out = b""
            for c in cmds:
                parts = [a if isinstance(a, bytes) else str(a).encode() for a in c]
                out += b"*%d\r\n" % len(parts)
                for p in parts:
                    out += b"$%d\r\n%s\r\n" % (len(p), p)
            s.sendall(out)
            replies = [_read_reply(f) for _ in cmds]
            return replies[-1]


def _read_reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise OSError("bad reply %r" % line)
