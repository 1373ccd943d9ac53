"""A private nginx on 127.0.0.1 for the benchmarks, configured and owned by us.

The config, pid file, logs and temp dirs all live in a work directory; nothing
global is read or written (`-p prefix -c conf`, `daemon off` under our process).
Three locations serve the same data directory:

    /data/...       plain: sendfile, byte ranges, strong ETag
    /throttled/...  the same with `limit_rate 25m` per connection (a CDN's throttle)
    /signed/...     `secure_link`: md5 of expiry, path and a secret; 403 bad, 410 expired
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

SECRET = "bench-secret"
THROTTLE = "25m"

CONF = """\
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    types {{ application/octet-stream bin; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        etag on;
        max_ranges 16;
        location /data/ {{ alias {data}/; }}
        location /throttled/ {{ alias {data}/; limit_rate {throttle}; }}
        location /signed/ {{
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {secret}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}
            alias {data}/;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Nginx:
    """`with Nginx(work, data) as n: n.url("data", "x.bin")`; always stopped on exit."""

    def __init__(self, work: Path, data: Path) -> None:
        self.work = work
        self.data = data
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        for _ in range(5):
            self.port = free_port()
            self.work.mkdir(parents=True, exist_ok=True)
            (self.work / "tmp").mkdir(exist_ok=True)
            conf = self.work / "nginx.conf"
            conf.write_text(
                CONF.format(
                    work=self.work,
                    port=self.port,
                    data=self.data.resolve(),
                    throttle=THROTTLE,
                    secret=SECRET,
                )
            )
            self._proc = subprocess.Popen([binary, "-p", str(self.work), "-c", str(conf)])
            if self._wait_listening():
                return self
            self._stop()
        raise RuntimeError(f"nginx did not start; see {self.work / 'error.log'}")

    def _wait_listening(self) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGQUIT)  # graceful: finish and exit
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def url(self, location: str, name: str, *, expires_in: float = 3600) -> str:
        """URL of data file `name` under `location` (`data`, `throttled` or `signed`)."""
        path = f"/{location}/{quote(name)}"
        base = f"http://127.0.0.1:{self.port}{path}"
        if location != "signed":
            return base
        expires = int(time.time() + expires_in)
        digest = hashlib.md5(f"{expires}{path} {SECRET}".encode(), usedforsecurity=False).digest()
        token = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return f"{base}?md5={token}&expires={expires}"
