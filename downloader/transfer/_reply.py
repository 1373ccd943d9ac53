"""An answer to a body request, whichever client brought it: its status, its header
fields, the URL it came from, what its body says when it is an error, and closing it.

`WireReply` is the engine's own receiver's (`_receiver`), `AioReply` aiohttp's (for a
URL behind a proxy).  The shells judge, name and stream either the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import anyio

from downloader.errors import TransferError
from downloader.transfer._answers import EXCERPT_BYTES, beyond_status, error_excerpt
from downloader.transfer._boundary import EXCERPT_WAIT, read_excerpt
from downloader.transfer._pool import ConnectionPool
from downloader.transfer._receiver import BodyConnection
from downloader.transfer._ring import ALIGN, Buffer, Ring

if TYPE_CHECKING:  # loaded for a body behind a proxy, or an API call, only
    import aiohttp


class Fields(Protocol):
    def get(self, name: str) -> str | None: ...

    def items(self) -> Iterator[tuple[str, str]]: ...


class AioFields:
    """aiohttp's header fields as `Fields`."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._headers = resp.headers

    def get(self, name: str) -> str | None:
        return self._headers.get(name)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._headers.items())


class Reply(Protocol):
    status: int
    url: str
    headers: Fields

    async def excerpt(self) -> str: ...

    def close(self) -> None: ...


class AioReply:
    """An answer aiohttp brought."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.status = resp.status
        self.url = str(resp.url)
        self.headers: Fields = AioFields(resp)

    async def excerpt(self) -> str:
        return await read_excerpt(self.resp)

    def close(self) -> None:
        self.resp.close()


class WireReply:
    """An answer the engine's receiver brought, on a connection of `pool`."""

    def __init__(self, pool: ConnectionPool, url: str, conn: BodyConnection) -> None:
        head = conn.protocol.head
        assert head is not None
        self.pool, self.conn = pool, conn
        self.status = head.status
        self.url = url
        self.headers: Fields = head

    async def excerpt(self) -> str:
        """What the start of the body says (see `error_excerpt`); "" when nothing in time."""
        ring = Ring(1, -(-EXCERPT_BYTES // ALIGN) * ALIGN + ALIGN, aligned=False)
        kept = _Kept(ring)
        with anyio.move_on_after(EXCERPT_WAIT):
            # what came before a failure is the excerpt
            with contextlib.suppress(TransferError):
                await self.conn.receive(kept, ring, 0, EXCERPT_BYTES)
        if not self.conn.protocol.finished:  # nothing more is read into the ring
            self.conn.close()
        data = bytes(kept.data[:EXCERPT_BYTES])
        ring.close()
        return beyond_status(error_excerpt(self.headers.get("Content-Type"), data), self.status)

    def close(self) -> None:
        self.pool.put(self.url, self.conn)


class _Kept:
    """Takes an error body's buffers into memory, for its excerpt."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.data = bytearray()

    def submit(self, buffer: Buffer) -> None:
        self.data += buffer.filled
        self.ring.give_back(buffer)
