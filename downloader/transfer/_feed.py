"""Received chunks into ring buffers, for a body read through a client that hands out
`bytes` (aiohttp's `StreamReader`).

Such a body costs one copy more than the `BufferedProtocol` receiver: each chunk is
copied into the ring buffer that holds its file offset; from there on the path is
the same (written, then hashed, where the bytes lie).  A buffer is handed to the
`DataPath` when it is full, and by `flush` when the shell wants the bytes on disk
(the body's end, a slow body, a failure).  When every buffer is being written or
hashed, `put` waits on the loop until one comes back; when the writer waits for a
full disk meanwhile, `unstick` (the shell's: wait for room, then resume the writer)
runs instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from downloader.transfer._datapath import DataPath
from downloader.transfer._inline import InlinePath
from downloader.transfer._ring import Buffer, Ring


class RingFeed:
    """Copies chunks into `ring` from file `offset` on, and hands full buffers on."""

    def __init__(
        self,
        path: DataPath | InlinePath,
        ring: Ring,
        offset: int,
        *,
        owner: object = None,
        wake: asyncio.Event | None = None,
        stuck: Callable[[], bool] = lambda: False,
        unstick: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.path, self.ring, self.owner = path, ring, owner
        self.offset = offset  # where the next byte goes
        self._buffer: Buffer | None = None
        self._stuck, self._unstick = stuck, unstick
        if wake is None:  # no shell to wake it: the feed has the ring to itself
            wake = asyncio.Event()
            ring.wake_on_free(asyncio.get_running_loop(), wake.set)
        self._wake = wake

    @property
    def held(self) -> int:
        """Bytes copied but not handed on yet."""
        return 0 if self._buffer is None else self._buffer.length

    async def put(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view:
            buffer = self._buffer or await self._take()
            room = buffer.room
            piece = min(len(room), len(view))
            room[:piece] = view[:piece]
            buffer.end += piece
            self.offset += piece
            view = view[piece:]
            if buffer.is_full:
                self.flush()

    def flush(self) -> None:
        """Hand the partly filled buffer on (nothing if it holds nothing)."""
        if self._buffer is not None:
            buffer, self._buffer = self._buffer, None
            self.path.submit(buffer)

    async def _take(self) -> Buffer:
        while (buffer := self.ring.take()) is None:
            self._wake.clear()
            if (buffer := self.ring.take()) is not None:
                break
            if self._unstick is not None and self._stuck():
                await self._unstick()
                continue
            await self._wake.wait()
        buffer.begin(self.offset, self.owner)
        self._buffer = buffer
        return buffer
