"""A body through the engine's receiver, into the file at its stream's cursor.

The bytes land where the receiver puts them (the ring buffers of the transfer's data
path, `_protocol`); this shell only looks on: it wakes when a buffer is handed on,
written or given back, waits for room on disk when the writer found it full, holds
reading back while the bandwidth limit says to, and feeds the stall watchdog, which
counts the receiver's reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from downloader.errors import TransferError
from downloader.transfer._life import StreamLife
from downloader.transfer._reply import WireReply
from downloader.transfer._urls import redact_url
from downloader.transfer._watch import Live

if TYPE_CHECKING:
    from downloader.transfer._transfer import Transfer

WRITE_BATCH = 256 * 1024  # bytes received between two looks at the room on disk


async def receive(t: Transfer, life: StreamLife, reply: WireReply, live: Live) -> None:
    """Receive `reply`'s body from the stream's cursor on, until it ends or fails."""
    flow = t.flow
    assert flow is not None
    segment = life.segment
    limit = None if segment.end is None else segment.end - segment.pos
    if limit is not None and limit <= 0:
        return
    space, throttle, request = t.e.space, t.e.throttle, t.request
    p = reply.conn.protocol
    await space.room_for(WRITE_BATCH, request.on_wait, key=request.key)
    counted = checked = 0
    p.live, p.on_progress = live, flow.wake.set
    flow.listeners.add(p.buffer_freed)
    try:
        p.start_body(flow.path, flow.ring, segment.pos, limit, owner=life)
        while True:
            flow.wake.clear()
            got = p.received - counted
            if got:
                counted += got
                if throttle.limited:
                    p.hold()  # nothing more comes in while the limit says wait
                    try:
                        await throttle.consume(got)
                    finally:
                        p.let_go()
                if counted - checked >= WRITE_BATCH:
                    checked = counted
                    await space.room_for(WRITE_BATCH, request.on_wait, key=request.key)
                continue
            if p.finished:
                break
            flow.raise_if_broken()
            if flow.full is not None:
                await flow.unstick()
            else:
                await flow.wake.wait()
    finally:
        flow.listeners.discard(p.buffer_freed)
        p.live = p.on_progress = None
        if not p.finished:  # cancelled (a stall, a stop): the connection cannot serve again
            reply.conn.close()
            p.abandon()
        # time-boxed: a full disk must not hold a cancelled transfer forever
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await flow.settle(life, p.offset)
    if p.error is not None:
        error = p.error
        if isinstance(error, TransferError) and error.url is None:
            error.url = redact_url(reply.url)
        raise error
