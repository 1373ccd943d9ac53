"""A body receiver: an HTTP/1.1 connection whose body bytes land in ring buffers.

Requests are written here; responses are read by `_protocol.BodyProtocol`, which puts
the body's bytes straight into the ring buffers of the file's `DataPath`.  aiohttp
stays for API calls: a body read through its `StreamReader` arrives as new `bytes`
objects and has to be copied once more into the buffers that are written and hashed
(`bench/body_path.py` measures the difference).

Bytes received before a connection fails are in our own buffers, so they are
written like any others and a resume starts after them.

A chunked body is decoded as it comes (`_chunks`): its bytes are copied once, from a
small staging buffer into the ring, as a client library would.

What the socket and TLS layers raise while connecting is translated here, where it
enters, into the tree of `downloader.errors`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from downloader.errors import NetworkError, StallTimeout
from downloader.transfer._connect import describe_connect_failure
from downloader.transfer._head import Head
from downloader.transfer._protocol import BodyProtocol, Taker
from downloader.transfer._ring import Ring
from downloader.transfer._tls import describe_tls_failure
from downloader.transfer._urls import redact_url


class BodyConnection:
    """One HTTP/1.1 connection to `url`'s origin, for GETs whose bodies go to a file."""

    def __init__(self, protocol: BodyProtocol, host: str) -> None:
        self._p = protocol
        self._host = host
        self.used = 0  # requests sent on it

    @classmethod
    async def open(
        cls, url: str, *, ssl_context: ssl.SSLContext | None = None, connect_within: float = 30.0
    ) -> BodyConnection:
        parts = urlsplit(url)
        host = parts.hostname or ""
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        loop = asyncio.get_running_loop()
        context = (ssl_context or ssl.create_default_context()) if secure else None
        where = redact_url(url)
        try:
            async with asyncio.timeout(connect_within):
                _, protocol = await loop.create_connection(BodyProtocol, host, port, ssl=context)
        except TimeoutError:
            raise StallTimeout(connect_within, url=where) from None
        except ssl.SSLCertVerificationError as exc:  # no retry will fix it
            raise NetworkError(describe_tls_failure(exc), url=where, retryable=False) from None
        except ssl.SSLError as exc:  # a handshake that broke off: the far end, maybe for now
            raise NetworkError(f"TLS handshake failed: {exc}", url=where) from None
        except OSError as exc:
            text = f"cannot connect to {where}: {exc.strerror or exc}"
            raise NetworkError(
                describe_connect_failure(exc.errno, text), url=where, reached=False
            ) from None
        name = f"[{host}]" if ":" in host else host
        return cls(protocol, name if parts.port is None else f"{name}:{parts.port}")

    async def get(self, target: str, headers: Mapping[str, str]) -> Head:
        """Send a GET for `target` (path and query) and wait for the response head."""
        lines = [f"GET {target} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if any(c in line for line in lines for c in "\r\n\0"):
            # a header that would split the request: refused, as a client library does
            raise NetworkError("request refused: a CR, LF or NUL in a header", retryable=False)
        transport = self._p.transport
        if transport is None or not self.reusable:
            raise NetworkError("the connection cannot take another request")
        self._p.reset()
        self.used += 1
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self._p.held = False
        if self._p.paused:
            self._p.paused = False
            transport.resume_reading()
        await self.wait()
        assert self._p.head is not None
        return self._p.head

    async def receive(self, path: Taker, ring: Ring, offset: int, limit: int | None) -> int:
        """Receive the body into `path` from file `offset`; the bytes received.

        Raises `NetworkError` when the connection ends early; what came before is
        handed to `path` all the same.
        """
        protocol = self._p
        ring.wake_on_free(asyncio.get_running_loop(), protocol.buffer_freed)
        protocol.start_body(path, ring, offset, limit)
        await self.wait()
        return protocol.received

    @property
    def protocol(self) -> BodyProtocol:
        return self._p

    @property
    def reusable(self) -> bool:
        """Whether another request may follow on this connection."""
        p = self._p
        done = p.head is None or (p.head.keep_alive and p.finished and p.path is not None)
        return done and not (p.closed or p.cut_short or p.error is not None)

    @property
    def answered(self) -> bool:
        """Whether the head of an answer came since the last request."""
        return self._p.head is not None

    @property
    def reads(self) -> int:
        """Reads so far: a watchdog that sees this number stand still knows of a stall."""
        return self._p.chunks

    def close(self) -> None:
        if self._p.transport is not None:
            self._p.transport.close()
        self._p.closed = True

    async def wait(self) -> None:
        """Until the head, or the body started, has all come (or failed)."""
        protocol = self._p
        if protocol.error is None and not protocol.finished:
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await protocol.waiter
            finally:
                protocol.waiter = None
        if protocol.error is not None:
            raise protocol.error
