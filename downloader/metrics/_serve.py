"""Serving `/metrics` and `/healthz` from a thread, and what `/healthz` looks at.

The server is the standard library's WSGI server with one thread per request, in
a thread of its own rather than on the event loop: the loop being stuck is what
`/healthz` must report, and it can only answer then if it does not need the loop.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from downloader.errors import ConfigError, ConfigProblem

__all__ = ["Liveness", "metrics_app", "serve_metrics"]

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Liveness:
    """Whether the scheduler loop beat recently: alive while its last beat is younger
    than `stale_after` seconds.  `beat` comes from the loop; the rest from any thread."""

    def __init__(self, monotonic: Callable[[], float], stale_after: float) -> None:
        self._monotonic = monotonic
        self.stale_after = stale_after
        self._last: float | None = None  # not alive until the loop runs and beats

    def beat(self) -> None:
        self._last = self._monotonic()

    def age(self) -> float | None:
        """Seconds since the last beat; None before the first."""
        last = self._last
        return None if last is None else max(0.0, self._monotonic() - last)

    def is_alive(self) -> bool:
        age = self.age()
        return age is not None and age <= self.stale_after

    def describe(self) -> str:
        """The line `/healthz` answers with."""
        age = self.age()
        if age is None:
            return "starting: the scheduler loop has not beaten yet"
        word = "ok" if age <= self.stale_after else "stuck"
        return f"{word}: the scheduler loop last beat {age:.1f}s ago"


def metrics_app(registry: CollectorRegistry, liveness: Liveness) -> WsgiApp:
    """The WSGI application: `/metrics` (Prometheus text), `/healthz`, 404 elsewhere."""
    prometheus = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            return prometheus(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            # one reading of the clock for both the status and the text
            text = liveness.describe()
            status = "200 OK" if text.startswith("ok") else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [(text + "\n").encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None  # a scrape every few seconds is no news


@contextmanager
def serve_metrics(listen: tuple[str, int], app: WsgiApp) -> Iterator[tuple[str, int]]:
    """Serve `app` on `listen` (host, port) in a thread while the block runs; the bound
    address (port 0 gets a free one).  An address that cannot be bound is a
    `ConfigError` naming `metrics.listen`."""
    host, port = listen
    server_class = _Server6 if ":" in host else _Server
    try:
        server = make_server(
            host, port, app, server_class=server_class, handler_class=_QuietHandler
        )
    except OSError as exc:
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise ConfigError([ConfigProblem("config", "metrics.listen", message)]) from None
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    try:
        bound = server.server_address
        yield str(bound[0]), int(bound[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
