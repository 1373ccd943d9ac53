"""A body through the engine's receiver, into the file at its stream's cursor.

The bytes land where the receiver puts them (the ring buffers of the transfer's data
path): the loop's `_protocol`, or for a large plain-HTTP body a thread of its own
(`_lane`), which this shell stops when the read is cancelled.  The shell only looks
on: it wakes when a buffer is handed on, written or given back, waits for room on disk
when the writer found it full, holds reading back while the bandwidth limit says to,
and feeds the stall watchdog, which counts the receiver's reads.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import anyio

from downloader.errors import TransferError
from downloader.transfer._lane import ThreadLane, takes_thread
from downloader.transfer._life import StreamLife
from downloader.transfer._protocol import BodyProtocol
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
    lane = _thread_lane(t, life, reply, limit, live)
    reader: ThreadLane | BodyProtocol = p if lane is None else lane
    counted = checked = 0
    if lane is None:
        p.live, p.on_progress = live, flow.wake.set
        flow.listeners.add(p.buffer_freed)
    try:
        if lane is None:
            p.start_body(flow.path, flow.ring, segment.pos, limit, owner=life)
        else:
            lane.start()
        while True:
            flow.wake.clear()
            got = reader.received - counted
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
            if reader.finished:
                break
            flow.raise_if_broken()
            if flow.full is not None:
                await flow.unstick()
            else:
                await flow.wake.wait()
    finally:
        if lane is not None:
            await _end_lane(lane, reply)
        else:
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


def _thread_lane(
    t: Transfer, life: StreamLife, reply: WireReply, limit: int | None, live: Live
) -> ThreadLane | None:
    """A thread to read the body with, where one pays (`_lane.takes_thread`)."""
    flow, p = t.flow, reply.conn.protocol
    assert flow is not None
    assert p.head is not None
    assert p.transport is not None
    length = p.head.length if limit is None or p.head.length is None else min(limit, p.head.length)
    secure = p.transport.get_extra_info("sslcontext") is not None
    if not takes_thread(
        secure=secure, length=length, limited=t.e.throttle.limited, small=t.plan.is_small
    ):
        return None
    assert length is not None
    loop, wake = asyncio.get_running_loop(), flow.wake

    def told() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    pos = life.segment.pos
    return ThreadLane(
        p, flow.path, flow.ring, offset=pos, length=length, owner=life, live=live, told=told
    )


async def _end_lane(lane: ThreadLane, reply: WireReply) -> None:
    """Stop the thread if the body is not all read (cancelled: a stall, a stop), wait for
    it, and leave the connection as the protocol would have."""
    stopped = not lane.finished
    if stopped:
        lane.stop()
    with anyio.CancelScope(shield=True):
        await lane.ended()
    lane.fold(redact_url(reply.url))
    if stopped:
        reply.conn.close()
