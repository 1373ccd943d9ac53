"""A data path's target file for the receiver's tests, and raw loopback servers that
answer whatever the test writes: a body cut short, a head and nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from downloader.transfer._datapath import DataPath
from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink, direct_io_works
from downloader.transfer._writer import PrefixHash
from tests.support.datapath import Written


class Target:
    def __init__(self, folder: Path, ring: Ring) -> None:
        self.file = folder / "f"
        self.fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600)
        self.ring, self.told, self.prefix = ring, Written(), PrefixHash(MultiHasher())
        sink = Sink(self.fd, direct=direct_io_works(folder))
        self.path = DataPath(sink, self.prefix, ring, on_written=self.told)

    def settle(self) -> None:
        assert self.path.wait_idle(30)

    def close(self) -> None:
        """The data path stopped, the file and the ring closed."""
        self.path.close()
        os.close(self.fd)
        self.ring.close()

    @property
    def sha256(self) -> str:
        return to_hex(self.prefix.hasher.digests()["sha256"])


def cut_after(
    body: bytes, sent: int
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A server that promises `body` whole, sends its first `sent` bytes and cuts."""

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body[:sent])
        await writer.drain()
        writer.transport.abort()

    return cut


@contextlib.asynccontextmanager
async def raw_server(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            await answer(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"
