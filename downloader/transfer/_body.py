"""A response body into the file, at its stream's cursor: read, throttled, watched, written.

The chunks aiohttp received are kept as they are and written together by one
`pwritev`, so no byte of the body is copied on the event loop's thread.  A read is
watched by the engine's `StallWatch`, which cancels it when no byte came for
`timeouts.stall` seconds; that ends here as a `StallTimeout`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import anyio
from aiohttp.http_exceptions import HttpProcessingError

from downloader.errors import StallTimeout
from downloader.transfer._boundary import translate
from downloader.transfer._events import Wrote
from downloader.transfer._life import StreamLife
from downloader.transfer._urls import redact_url
from downloader.transfer._watch import Live

if TYPE_CHECKING:
    from downloader.transfer._transfer import Transfer

WRITE_BATCH = 256 * 1024  # received bytes gathered for one pwritev
FLUSH_INTERVAL = 0.05  # a slow stream's buffer reaches the file at least this often


async def stream(t: Transfer, life: StreamLife, resp: aiohttp.ClientResponse) -> None:
    """Write the body at the stream's cursor, until it ends or fails."""
    live = Live(anyio.current_time())
    stalls = t.e.stalls
    stalls.add(live)
    try:
        with live.scope:
            await _read_body(t, life, resp, live)
            return
    finally:
        stalls.discard(live)
    raise StallTimeout(t.e.timeouts.stall, url=redact_url(str(resp.url)))


async def _read_body(
    t: Transfer, life: StreamLife, resp: aiohttp.ClientResponse, live: Live
) -> None:
    segment = life.segment
    chunks: list[bytes] = []
    pending = 0
    clock = t.e.clock
    flushed_at = clock.monotonic()
    try:
        while True:
            room = None if segment.end is None else segment.end - segment.pos - pending
            if room is not None and room <= 0:
                return
            try:
                chunk = await resp.content.readany()
            except TimeoutError:
                raise StallTimeout(t.e.timeouts.stall, url=redact_url(str(resp.url))) from None
            except (aiohttp.ClientError, HttpProcessingError) as exc:
                # a chunk-size line that cannot be read, a connection cut short...
                tail = _received_before_failure(resp.content, room)
                if tail:
                    chunks.append(tail)
                raise translate(exc, str(resp.url)) from None
            if not chunk:
                return
            live.count += 1
            if room is not None and len(chunk) > room:  # more than the range asked for
                chunk = chunk[:room]
            await t.e.throttle.consume(len(chunk))
            chunks.append(chunk)
            pending += len(chunk)
            if (
                pending >= WRITE_BATCH
                or (segment.end is not None and segment.pos + pending >= segment.end)
                or clock.monotonic() - flushed_at >= FLUSH_INTERVAL
            ):
                await write(t, life, chunks)
                pending = 0
                flushed_at = clock.monotonic()
    finally:
        if chunks:
            # time-boxed: a full disk must not hold a cancelled transfer forever
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await write(t, life, chunks)
        resp.close()


async def write(t: Transfer, life: StreamLife, chunks: list[bytes]) -> None:
    """Write `chunks` at the stream's cursor, then empty the list.

    Saving and checkpointing the cursors are only asked for here; the recorder does
    them in its own task, so a stream never waits for an fdatasync.
    """
    assert t.data is not None
    size = sum(len(c) for c in chunks)
    data, front, offset = t.data, t.front, life.segment.pos

    def write_and_hash() -> None:
        data.write_at(chunks, offset)
        front.feed(offset, chunks)  # hashed now, if the hashed prefix ends here

    # `chunks` stays untouched until the write returns: the stream waits for it
    await t.e.space.write(write_and_hash, size, t.request.on_wait, key=t.request.key)
    life.step(Wrote(size))
    # written: a cancel landing later must not make the stream write these bytes a
    # second time, at the advanced cursor
    chunks.clear()
    t.wrote(size)


def _received_before_failure(stream: aiohttp.StreamReader, limit: int | None) -> bytes:
    """The body bytes aiohttp holds that a read will never return after the connection
    failed (its `read()` raises at once); at most `limit` of them.

    They are good bytes of the body, received in order before the failure, so a
    resume starts after them instead of asking for them again.  This reads a private
    buffer of aiohttp's `StreamReader` and gives up quietly if it is not there.
    """
    chunks = getattr(stream, "_buffer", None)
    offset = getattr(stream, "_buffer_offset", 0)
    if not chunks or not isinstance(offset, int):
        return b""
    data = b"".join(chunks)[offset:]
    return data if limit is None else data[: max(limit, 0)]
