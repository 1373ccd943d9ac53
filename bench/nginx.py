"""A private nginx on 127.0.0.1 for the benchmarks, configured and owned by us.

The config, pid file, logs and temp dirs all live in a work directory; nothing
global is read or written (`-p prefix -c conf`, `daemon off` under our process).
Two servers, one plain and one over TLS (a certificate of the bench's throw-away CA,
`bench/tls.py`), have the same locations; three serve the same data directory:

    /data/...       plain: sendfile, byte ranges, strong ETag
    /throttled/...  the same with `limit_rate 25m` per connection (a CDN's throttle)
    /signed/...     `secure_link`: md5 of expiry, path and a secret; 403 bad, 410 expired
    /files/...      `<data>/emulated/files/`: the files of an emulated platform's job
    /scale/...      passed to the emulator on `upstream_port` (its Host kept, so the
                    file URLs it hands out name this server, which serves them itself)

Every request is logged with the time it ended and how long it took (`access.log`),
so a run's first request can be dated (`first_request_after`).
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

from bench.tls import Certificates, make_certificates

SECRET = "bench-secret"
THROTTLE = "25m"

CONF = """\
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format timing '$msec $request_time $server_port $request_uri';
    access_log {work}/access.log timing;
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
{locations}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:bench:1m;
{locations}
    }}
}}
"""

LOCATIONS = """\
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
        location /files/ {{ alias {data}/emulated/files/; }}
        location /scale/ {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_set_header Host $http_host;
        }}"""


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
        self.tls_port = 0
        self.upstream_port = 0
        """Where `/scale/` is passed: a free port chosen at start, for an emulator."""
        self.certificates: Certificates | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.work.mkdir(parents=True, exist_ok=True)
        self.certificates = tls = make_certificates(self.work / "tls")
        for _ in range(5):
            self.port, self.tls_port, self.upstream_port = free_port(), free_port(), free_port()
            (self.work / "tmp").mkdir(exist_ok=True)
            conf = self.work / "nginx.conf"
            values = {
                "work": self.work,
                "data": self.data.resolve(),
                "throttle": THROTTLE,
                "secret": SECRET,
                "upstream_port": self.upstream_port,
            }
            locations = LOCATIONS.format(**values)
            conf.write_text(
                CONF.format(
                    **values,
                    port=self.port,
                    tls_port=self.tls_port,
                    cert=tls.cert,
                    key=tls.key,
                    locations=locations,
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

    @property
    def ca(self) -> str:
        """The CA certificate every HTTPS client is told to trust."""
        assert self.certificates is not None
        return str(self.certificates.ca)

    def origin(self, *, tls: bool = False) -> str:
        return f"https://127.0.0.1:{self.tls_port}" if tls else f"http://127.0.0.1:{self.port}"

    def url(self, location: str, name: str, *, expires_in: float = 3600, tls: bool = False) -> str:
        """URL of data file `name` under `location` (`data`, `throttled` or `signed`)."""
        path = f"/{location}/{quote(name)}"
        base = f"{self.origin(tls=tls)}{path}"
        if location != "signed":
            return base
        expires = int(time.time() + expires_in)
        digest = hashlib.md5(f"{expires}{path} {SECRET}".encode(), usedforsecurity=False).digest()
        token = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return f"{base}?md5={token}&expires={expires}"


def first_request_after(log: Path, started: float, port: int) -> float | None:
    """When the first request to `port` began that began at or after `started` (epoch
    seconds), from the access log's lines `END_TIME DURATION PORT URI`: nginx dates
    a request when it ends, so its start is the end less its duration (each to 1 ms)."""
    if not log.exists():
        return None
    first: float | None = None
    for line in log.read_text().splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[2] != str(port):
            continue
        began = float(fields[0]) - float(fields[1])
        # both figures are rounded to the millisecond: a request may seem to start 2 ms early
        if began >= started - 0.002 and (first is None or began < first):
            first = began
    return first
