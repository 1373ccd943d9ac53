"""A response body into the file, at its stream's cursor: read, throttled, watched, and
handed to the transfer's data path (`_datapath`: written, then hashed, off the loop).

A body of the engine's receiver lands in the ring buffers as it comes (`_wirebody`).
One aiohttp brought (behind a proxy) is copied into the ring buffers of its offsets
(`_feed`); bytes aiohttp held when its connection failed are lost to us and fetched
again.  Either way the stream's cursor moves as the writer reports bytes written, and
a read is watched by the engine's `StallWatch`, which cancels it when no byte came for
`timeouts.stall` seconds; that ends here as a `StallTimeout`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from downloader.errors import StallTimeout
from downloader.transfer._boundary import translate
from downloader.transfer._life import StreamLife
from downloader.transfer._reply import AioReply, Reply, WireReply
from downloader.transfer._urls import redact_url
from downloader.transfer._watch import Live
from downloader.transfer._wirebody import WRITE_BATCH, receive

if TYPE_CHECKING:
    import aiohttp

    from downloader.transfer._transfer import Transfer

FLUSH_INTERVAL = 0.05  # a slow stream's buffer reaches the file at least this often


async def stream(t: Transfer, life: StreamLife, reply: Reply) -> None:
    """Write the body at the stream's cursor, until it ends or fails."""
    live = Live(anyio.current_time())
    stalls = t.e.stalls
    stalls.add(live)
    try:
        with live.scope:
            if isinstance(reply, WireReply):
                await receive(t, life, reply, live)
            else:
                assert isinstance(reply, AioReply)
                await _read_body(t, life, reply.resp, live)
            assert t.flow is not None
            t.flow.raise_if_broken()  # the last bytes were not written: the disk failed
            return
    finally:
        stalls.discard(live)
    raise StallTimeout(t.e.timeouts.stall, url=redact_url(reply.url))


async def _read_body(
    t: Transfer, life: StreamLife, resp: aiohttp.ClientResponse, live: Live
) -> None:
    import aiohttp  # loaded already: it brought `resp`
    from aiohttp.http_exceptions import HttpProcessingError

    segment = life.segment
    flow = t.flow
    assert flow is not None
    feed = flow.feed_for(life)
    clock = t.e.clock
    flushed_at = clock.monotonic()
    unchecked = 0  # bytes taken since the room on disk was last looked at
    try:
        while True:
            room = None if segment.end is None else segment.end - feed.offset
            if room is not None and room <= 0:
                return
            try:
                chunk = await resp.content.readany()
            except TimeoutError:
                raise StallTimeout(t.e.timeouts.stall, url=redact_url(str(resp.url))) from None
            except (aiohttp.ClientError, HttpProcessingError) as exc:
                # a chunk-size line that cannot be read, a connection cut short...
                raise translate(exc, str(resp.url)) from None
            if not chunk:
                return
            live.count += 1
            if room is not None and len(chunk) > room:  # more than the range asked for
                chunk = chunk[:room]
            await t.e.throttle.consume(len(chunk))
            if unchecked <= 0:
                await t.e.space.room_for(WRITE_BATCH, t.request.on_wait, key=t.request.key)
                unchecked = WRITE_BATCH
            unchecked -= len(chunk)
            await feed.put(chunk)
            flow.raise_if_broken()
            if clock.monotonic() - flushed_at >= FLUSH_INTERVAL:
                feed.flush()
                flushed_at = clock.monotonic()
    finally:
        feed.flush()
        # time-boxed: a full disk must not hold a cancelled transfer forever
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await flow.settle(life, feed.offset)
        resp.close()
