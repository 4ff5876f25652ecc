"""An nginx (Debian's nginx-light, installed by scripts/deps.sh) in front of inferd nodes for the
tests: round-robin over the given ports on a free loopback port; a node that refuses connections
is skipped for a second. Everything it writes stays in its own temporary directory."""
import os
import shutil
import subprocess
import tempfile
import time

from pg import free_port

CONF = """
%(user)s
worker_processes 1;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(dir)s/client_body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    upstream inferd {
%(servers)s
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            proxy_pass http://inferd;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
        }
    }
}
"""


class Nginx:
    def __init__(self, ports):
        self.dir = tempfile.mkdtemp(prefix="inferd-nginx-")
        self.port = free_port()
        servers = "\n".join("        server 127.0.0.1:%d max_fails=1 fail_timeout=1s;" % p
                            for p in ports)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF % {"dir": self.dir, "port": self.port, "servers": servers,
                            "user": "user root;" if os.geteuid() == 0 else ""})
        self.proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", conf,
                                      "-p", self.dir], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        import socket
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        log = open(os.path.join(self.dir, "error.log")).read() if os.path.exists(
            os.path.join(self.dir, "error.log")) else ""
        self.close()
        raise RuntimeError("nginx did not start: " + log)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
