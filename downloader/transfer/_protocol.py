"""The reading side of a body receiver's connection, as an asyncio `BufferedProtocol`.

The transport asks `get_buffer` where to put what it receives: the head goes to a
small buffer of its own (parsed by `_head`), the body to the free part of a ring
buffer, handed as a `memoryview` (a `bytearray` would be copied, and over TLS Python
3.11's transport decrypts straight into it).  A full buffer goes to the `DataPath`
and the next is taken; while the ring is empty, reading pauses until one comes back.
A read that races the pause lands in a spare buffer and is copied on, like the few
body bytes that came with the head: the only bytes copied.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from downloader.errors import NetworkError, ProtocolViolation
from downloader.transfer._chunks import ChunkDecoder
from downloader.transfer._head import MAX_HEAD, Head, HeadError, find_head_end, parse_head
from downloader.transfer._ring import Buffer, Ring

FLUSH_INTERVAL = 0.05  # a slow body's bytes reach the writer at least this often


class Counter(Protocol):
    """What a stall watchdog looks at: reads so far (`_watch.Live`)."""

    count: int


class Taker(Protocol):
    """Where filled buffers go: a `DataPath`, an `InlinePath`, or an excerpt's bytes."""

    def submit(self, buffer: Buffer) -> None: ...


class BodyProtocol(asyncio.BufferedProtocol):
    """The connection's reading side: head first, then body into the ring."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._head_buf = memoryview(bytearray(MAX_HEAD + 4))
        self._head_len = 0
        self.head: Head | None = None
        self.early = b""  # body bytes that came with the head, or found no free buffer
        self.path: Taker | None = None
        self.ring: Ring | None = None
        self.current: Buffer | None = None
        self.offset = 0
        self.remaining: int | None = None
        self.received = 0
        self.chunks = 0  # reads so far, for a stall watchdog
        self.paused = False
        self._spare = memoryview(bytearray(64 * 1024))
        self.waiter: asyncio.Future[None] | None = None
        self.error: Exception | None = None
        self.closed = False
        self._filled_at = 0.0
        self.end_pending = False
        self.end_error: Exception | None = None
        self.cut_short = False  # the body was not read to its end: the connection is spent
        self.decoder: ChunkDecoder | None = None  # a chunked body's
        self.finished = False  # the head, then the body, was all taken (or failed)
        self.owner: object = None  # told back with each buffer once it is written
        self.live: Counter | None = None  # a stall watchdog's, counted once per read
        self.on_progress: Callable[[], None] | None = None  # a buffer handed on, or the end
        self.held = False  # the shell holds reading back (the bandwidth limit)

    def reset(self) -> None:
        """Ready for the next response on this connection."""
        self._head_len, self.head, self.early, self.path = 0, None, b"", None
        self.remaining, self.received, self.error, self.decoder = None, 0, None, None
        self.finished = self.end_pending = False

    # ---- asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.head is None:
            return self._head_buf[self._head_len :]
        if self.current is None or self.decoder is not None:
            return self._spare  # coded bytes, or a read that raced the pause: copied on
        room = self.current.room
        return room if self.remaining is None else room[: self.remaining]

    def buffer_updated(self, nbytes: int) -> None:
        self.chunks += 1
        if self.live is not None:
            self.live.count += 1
        if self.head is None:
            self._head_updated(nbytes)
        elif self.decoder is not None:
            self._decode(self._spare[:nbytes])
        elif self.current is None:
            self._place(self._spare[:nbytes])
        else:
            self._body_updated(nbytes)

    def eof_received(self) -> bool | None:
        self.closed = True  # an HTTP/1.0 server ends each answer so: it takes no other
        self._end(None if self._whole() else _cut(self))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._all_came() or (self._ends_with_connection() and exc is None):
            self._end(None)
        else:
            self._end(_cut(self, exc))

    def _all_came(self) -> bool:
        """Whether every byte the head promised has come, some perhaps still in `early`."""
        return self.remaining is not None and self.remaining <= len(self.early)

    def _whole(self) -> bool:
        """Whether the body is whole as the server ends the connection."""
        return self._all_came() or self._ends_with_connection()

    def _ends_with_connection(self) -> bool:
        """Whether the body is whole once the connection ends: framed by nothing else."""
        return self.head is not None and self.remaining is None and self.decoder is None

    def _end(self, error: Exception | None) -> None:
        """The connection ended; once bytes held back for want of a buffer are placed."""
        if self.early and self.path is not None:
            self.end_pending, self.end_error = True, error
        else:
            self._finish(error)

    # ---- head -----------------------------------------------------------------
    def _head_updated(self, nbytes: int) -> None:
        self._head_len += nbytes
        try:
            end = find_head_end(self._head_buf[: self._head_len])
            if end is None:
                return
            head = parse_head(bytes(self._head_buf[:end]))
            early = bytes(self._head_buf[end : self._head_len])
            if head.chunked and early:  # a coding broken from its start is the head's fault
                trial = ChunkDecoder()
                if not trial.feed(memoryview(early)) and trial.error is not None:
                    raise HeadError(str(trial.error))
        except HeadError as exc:
            assert self.transport is not None
            self.transport.close()
            self._finish(ProtocolViolation(f"malformed response: {exc}"))
            return
        self.head, self.early = head, early
        self.remaining = self.head.length
        assert self.transport is not None
        self.paused = True
        self.transport.pause_reading()  # the body waits for its ring
        self._finish(None)

    # ---- body -----------------------------------------------------------------
    def start_body(
        self, path: Taker, ring: Ring, offset: int, limit: int | None, owner: object = None
    ) -> None:
        """Receive the body (at most `limit` bytes of it) into `ring`, for file `offset`."""
        self.path, self.ring, self.offset, self.owner = path, ring, offset, owner
        self.finished = False
        if limit is not None and (self.remaining is None or limit < self.remaining):
            self.remaining, self.cut_short = limit, True
        early, self.early = self.early, b""
        self._next_buffer()
        if self.head is not None and self.head.chunked:
            self.decoder = ChunkDecoder()
            self._decode(memoryview(early))
        elif early:
            self._place(memoryview(early))
        if self.remaining == 0:
            self._finish(None)
        elif self.current is not None:
            self._resume()

    def _decode(self, coded: memoryview) -> None:
        assert self.decoder is not None
        for piece in self.decoder.feed(coded):
            self._place(piece)
        if self.decoder.error is not None:
            self.cut_short = True
            self._finish(ProtocolViolation(f"malformed response: {self.decoder.error}"))
        elif self.decoder.done and not self.finished:
            self.cut_short = self.decoder.extra > 0
            self._end(None)

    def _place(self, data: memoryview) -> None:
        """Copy body bytes into the ring; what finds no free buffer waits in `early`."""
        if self.remaining is not None:
            data = data[: self.remaining]
        if self.early or self.current is None:
            self.early += data
            self._pause()
            return
        while data and self.current is not None:
            room = self.current.room
            piece = min(len(room), len(data))
            room[:piece] = data[:piece]
            data = data[piece:]
            self._body_updated(piece)
        if data and self.remaining != 0:
            self.early = bytes(data)
            self._pause()

    def _pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self.paused and not self.held and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def hold(self) -> None:
        """Read nothing more until `let_go`."""
        self.held = True
        self._pause()

    def let_go(self) -> None:
        self.held = False
        if self.current is not None and not self.early and not self.finished:
            self._resume()

    def _body_updated(self, nbytes: int) -> None:
        buffer = self.current
        assert buffer is not None
        buffer.end += nbytes
        self.received += nbytes
        self.offset += nbytes
        if self.remaining is not None:
            self.remaining -= nbytes
        now = time.monotonic()
        if buffer.is_full or self.remaining == 0 or now - self._filled_at >= FLUSH_INTERVAL:
            self._hand_over()
            if self.remaining == 0:
                self._finish(None)
            else:
                self._next_buffer()

    def abandon(self) -> None:
        """Take no more of the body: what came so far is handed on, the rest never read."""
        self.cut_short = self.finished = True
        self._hand_over()

    def _hand_over(self) -> None:
        if self.current is not None and self.path is not None:
            buffer, self.current = self.current, None
            self.path.submit(buffer)
            if self.on_progress is not None:
                self.on_progress()

    def _next_buffer(self) -> Buffer | None:
        assert self.ring is not None
        self.current = buffer = self.ring.take()
        if buffer is None:
            self._pause()
            return None
        buffer.begin(self.offset, self.owner)
        self._filled_at = time.monotonic()
        return buffer

    def buffer_freed(self) -> None:
        """On the loop: a buffer came back to the ring; go on if reading waited for it."""
        if self.current is not None or self.head is None or self.path is None:
            return
        if self.finished or (self.remaining == 0 and not self.early):
            return
        if self._next_buffer() is None:
            return
        if self.early:
            early, self.early = self.early, b""
            self._place(memoryview(early))
            if self.end_pending and not self.early:
                self._finish(self.end_error)
        self._resume()

    def _finish(self, error: Exception | None) -> None:
        self.finished = True
        self._hand_over()
        if error is not None and self.error is None:
            self.error = error
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        if self.on_progress is not None:
            self.on_progress()


def _cut(protocol: BodyProtocol, exc: Exception | None = None) -> Exception:
    why = f": {type(exc).__name__}: {exc}" if exc is not None else ""
    if protocol.head is None:
        return NetworkError(f"connection closed before the response head{why}")
    if protocol.remaining is None:
        return NetworkError(f"connection closed before the end of the chunked body{why}")
    missing = protocol.remaining - len(protocol.early)
    return NetworkError(f"connection closed {missing} bytes before the end{why}")
