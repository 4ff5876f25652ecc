"""A private PostgreSQL server for integration tests: initdb in a fresh temporary directory,
listening on 127.0.0.1 on a free port with its unix socket in that directory, fsync and
synchronous_commit on (the settings a durable answer relies on), stopped and removed by close().

PostgreSQL refuses to run as root, so as root (CI) every server command runs as the `postgres`
user through runuser, and the directory is handed to that user. The server binaries are looked
for in $PG_BIN, then /usr/lib/postgresql/15/bin (Debian's postgresql-15). When they are missing or
the server cannot start, start() raises PostgresUnavailable with the reason: the tests that need
PostgreSQL must fail then, never skip, so a machine without it cannot pass them silently."""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
USER = "inferd"  # the superuser initdb creates; tests connect as it with trust auth on loopback


class PostgresUnavailable(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    def __init__(self):
        self.dir = None
        self.port = None
        self.running = False
        self._ndb = 0

    # ---- commands ----

    def _as_owner(self, argv):
        """argv run as the server's owner: `postgres` when we are root, else ourselves."""
        return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv

    def _run(self, argv, timeout=60, check=True):
        env = dict(os.environ, LC_ALL="C", LANG="C")
        p = subprocess.run(self._as_owner(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=timeout, cwd=self.dir)
        out = p.stdout.decode(errors="replace")
        if check and p.returncode != 0:
            raise PostgresUnavailable("%s exited %d:\n%s%s" % (
                os.path.basename(argv[0]), p.returncode, out, self.log_tail()))
        return out

    def log_tail(self, n=3000):
        path = os.path.join(self.dir or "", "server.log")
        if not self.dir or not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return "\nserver log:\n" + f.read()[-n:]

    # ---- life cycle ----

    def start(self):
        """initdb (first time only) and start; raises PostgresUnavailable with the reason."""
        for tool in ("initdb", "pg_ctl", "postgres", "psql"):
            if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
                raise PostgresUnavailable(
                    "PostgreSQL 15 server binaries not found in %s (%s missing): install the "
                    "Debian package postgresql-15 (scripts/deps.sh) or set PG_BIN" % (PG_BIN, tool))
        if self.dir is None:
            self._init()
        # A free port can be taken between our probe and the server's bind: try a few.
        for attempt in range(3):
            if self.port is None:
                self.port = free_port()
                with open(os.path.join(self.dir, "data", "postgresql.auto.conf"), "a") as f:
                    f.write("port = %d\n" % self.port)
            out = self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                             "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60",
                             "start"], timeout=90, check=False)
            if "server started" in out:
                self.running = True
                return
            if "could not bind" not in self.log_tail() or attempt == 2:
                raise PostgresUnavailable("PostgreSQL did not start:\n%s%s" % (out,
                                                                            self.log_tail()))
            self.port = None

    def _init(self):
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, and there is no `postgres` user to run PostgreSQL as "
                    "(the Debian package postgresql-15 creates it)")
        # Under /tmp, not pytest's tmp_path: the `postgres` user must be able to reach it.
        self.dir = tempfile.mkdtemp(prefix="inferd-pg-", dir="/tmp")
        if os.geteuid() == 0:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        # --no-sync only spares initdb's own final fsync of the template files; the server below
        # runs with fsync on.
        self._run([os.path.join(PG_BIN, "initdb"), "-D", os.path.join(self.dir, "data"),
                   "-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        with open(os.path.join(self.dir, "data", "postgresql.conf"), "a") as f:
            f.write("\n# inferd integration tests\n"
                    "listen_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '%s'\n"
                    "fsync = on\n"
                    "synchronous_commit = on\n"
                    "max_connections = 100\n"
                    "shared_buffers = 32MB\n"
                    "log_min_messages = warning\n" % self.dir)

    def stop(self, mode="fast"):
        """pg_ctl stop -m MODE: `immediate` is a crash as far as clients can tell."""
        if self.running:
            self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                       "-m", mode, "-w", "-t", "60", "stop"], timeout=90)
            self.running = False

    def close(self):
        try:
            self.stop("immediate")
        finally:
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    # ---- use ----

    def conninfo(self, dbname):
        return "host=127.0.0.1 port=%d dbname=%s user=%s" % (self.port, dbname, USER)

    def psql(self, sql, dbname="postgres"):
        """Runs sql with psql; returns the rows as lists of text fields (NULL is '')."""
        p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-F", "\t",
                            "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", USER, "-d", dbname, "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            raise AssertionError("psql %r failed: %s" % (sql, p.stderr.decode(errors="replace")))
        return [line.split("\t") for line in p.stdout.decode().splitlines() if line != ""]

    def new_db(self):
        """Creates an empty database and returns its name."""
        self._ndb += 1
        name = "t%d_%d" % (os.getpid(), self._ndb)
        self.psql("CREATE DATABASE %s" % name)
        return name
