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
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from downloader.errors import NetworkError
from downloader.transfer._datapath import DataPath
from downloader.transfer._head import Head
from downloader.transfer._protocol import BodyProtocol
from downloader.transfer._ring import Ring


class BodyConnection:
    """One HTTP/1.1 connection to `url`'s origin, for GETs whose bodies go to a file."""

    def __init__(self, protocol: BodyProtocol, host: str) -> None:
        self._p = protocol
        self._host = host

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
        try:
            async with asyncio.timeout(connect_within):
                _, protocol = await loop.create_connection(BodyProtocol, host, port, ssl=context)
        except (OSError, TimeoutError) as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc}", reached=False) from None
        return cls(protocol, parts.netloc)

    async def get(self, target: str, headers: Mapping[str, str]) -> Head:
        """Send a GET for `target` (path and query) and wait for the response head."""
        lines = [f"GET {target} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        transport = self._p.transport
        if transport is None or not self.reusable:
            raise NetworkError("the connection cannot take another request")
        self._p.reset()
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if self._p.paused:
            self._p.paused = False
            transport.resume_reading()
        await self._wait()
        assert self._p.head is not None
        return self._p.head

    async def receive(self, path: DataPath, ring: Ring, offset: int, limit: int | None) -> int:
        """Receive the body into `path` from file `offset`; the bytes received.

        Raises `NetworkError` when the connection ends early; what came before is
        handed to `path` all the same.
        """
        protocol = self._p
        ring.wake_on_free(asyncio.get_running_loop(), protocol.buffer_freed)
        protocol.start_body(path, ring, offset, limit)
        await self._wait()
        return protocol.received

    @property
    def reusable(self) -> bool:
        """Whether another request may follow on this connection."""
        p = self._p
        done = p.head is None or (p.head.keep_alive and p.finished and p.path is not None)
        return done and not (p.closed or p.cut_short or p.error is not None)

    @property
    def reads(self) -> int:
        """Reads so far: a watchdog that sees this number stand still knows of a stall."""
        return self._p.chunks

    def close(self) -> None:
        if self._p.transport is not None:
            self._p.transport.close()

    async def _wait(self) -> None:
        protocol = self._p
        if protocol.error is None and not _settled(protocol):
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await protocol.waiter
            finally:
                protocol.waiter = None
        if protocol.error is not None:
            raise protocol.error


def _settled(protocol: BodyProtocol) -> bool:
    return protocol.finished
