"""A plain-HTTP body read by a thread of its own, with blocking `recv_into` into the ring.

On the loop, a `BufferedProtocol` is woken for every read the kernel hands it (some
13,000 for 2 GiB), and each wake passes the GIL between the loop and the writer and
hasher threads.  Here, once the head is parsed on the loop (`_protocol`), a body
framed by Content-Length over plain HTTP is read by a worker thread instead: it waits
in `recv_into` with `MSG_WAITALL` until a whole ring buffer (or the rest of the body)
is filled, hands the buffer to the data path and takes the next; the loop hears only
what the writer tells it of each buffer written, and of the end.

The socket stays the transport's (reading paused there).  For the body it is put in
blocking mode with a receive timeout of `FLUSH_INTERVAL`, so a slow body's bytes still
reach the writer that often, the thread looks at its stop flag as often, and the stall
watchdog counts the thread's reads as it counts the protocol's.  `stop` shuts the
socket down, which wakes a waiting `recv_into` at once: a body left unread spends its
connection.  A body read to its end leaves the socket non-blocking again and the
connection reusable.

Over HTTPS the protocol stays: the SSL transport decrypts into the ring all the same,
and TLS costs one call per 16 KiB record whichever thread makes it.  So does a chunked
body, one cut by the connection's end, a small one, and any under a bandwidth limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable

from downloader.errors import NetworkError
from downloader.transfer._protocol import FLUSH_INTERVAL, BodyProtocol, Counter, Taker
from downloader.transfer._ring import Buffer, Ring

THREAD_FROM = 8 * 1024 * 1024
"""Bytes of a body from which a thread reads it: below, a body is over in a few reads
and a thread of its own would cost more than it saves."""


def takes_thread(*, secure: bool, length: int | None, limited: bool, small: bool) -> bool:
    """Whether a body lane of `length` bytes (None: not framed by Content-Length) is read
    by a thread rather than by the loop's protocol."""
    if secure or limited or small or length is None:
        return False
    return length >= THREAD_FROM


def _timeout(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1_000_000))


class ThreadLane:
    """One body's bytes, `length` of them from file `offset`, read off the loop into `ring`
    and handed to `path`; `told` is called (from the thread) when the body ended."""

    def __init__(
        self,
        protocol: BodyProtocol,
        path: Taker,
        ring: Ring,
        *,
        offset: int,
        length: int,
        owner: object,
        live: Counter | None,
        told: Callable[[], None],
    ) -> None:
        transport = protocol.transport
        assert transport is not None
        raw = transport.get_extra_info("socket")
        # a descriptor of our own: the transport's may be closed while the thread reads
        self._sock = socket.fromfd(raw.fileno(), raw.family, raw.type)
        self._p, self.path, self.ring, self.owner = protocol, path, ring, owner
        self.offset, self.left, self.received = offset, length, 0
        self._early, protocol.early = protocol.early[:length], b""
        self.live, self._told = live, told
        self.error: OSError | None = None
        self.crash: Exception | None = None
        self.eof = False  # the server closed the connection before the body's end
        self.finished = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="transfer-receiver", daemon=True)

    def start(self) -> None:
        self._sock.setblocking(True)  # the description is shared: the transport waits
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeout(FLUSH_INTERVAL))
        self._thread.start()

    def stop(self) -> None:
        """Take no more: a thread waiting in `recv_into` wakes now."""
        self._stopping = True
        with contextlib.suppress(OSError):  # already closed by the far end
            self._sock.shutdown(socket.SHUT_RDWR)

    def fold(self, url: str | None) -> None:
        """On the loop, once the thread ended: the protocol as if it had read the body."""
        p = self._p
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeout(0))
        self._sock.setblocking(False)
        self._sock.close()
        p.path, p.received, p.offset, p.finished = self.path, self.received, self.offset, True
        assert p.remaining is not None
        p.remaining -= self.received
        p.cut_short = p.cut_short or p.remaining > 0
        p.closed = p.closed or self.eof or self.error is not None
        if self.crash is not None:
            p.error = p.error or self.crash
        if p.error is None and self.left and (self.eof or self.error is not None):
            why = "" if self.error is None else f": {type(self.error).__name__}: {self.error}"
            text = f"connection closed {self.left} bytes before the end{why}"
            p.error = NetworkError(text, url=url)

    async def ended(self) -> None:
        """Wait for the thread to end (it does soon after `stop`)."""
        while self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)

    # ---- the thread ------------------------------------------------------------
    def _run(self) -> None:
        buffer: Buffer | None = None
        began = 0.0
        try:
            while self.left > 0 and not self._stopping:
                if buffer is None:
                    buffer = self.ring.take_within(FLUSH_INTERVAL)
                    if buffer is None:
                        continue  # the writer or the hasher is behind: look at the flag
                    buffer.begin(self.offset, self.owner)
                    began = time.monotonic()
                if self._early:  # what came with the head: the only bytes copied
                    self._took(buffer, self._early_into(buffer))
                elif self._read(buffer) == 0:
                    self.eof = not self._stopping
                    break
                if buffer.is_full or not self.left or time.monotonic() - began >= FLUSH_INTERVAL:
                    self._hand(buffer)
                    buffer = None
        except OSError as exc:
            if not self._stopping:
                self.error = exc.with_traceback(None)  # its frames hold a view of the buffer
        except Exception as exc:  # a fault of ours: it fails the read, never cuts it short
            self.crash = exc
        finally:
            self._end(buffer)

    def _end(self, buffer: Buffer | None) -> None:
        """Hand on what came, then tell the loop, whatever failed: it waits for the end."""
        try:
            if buffer is not None:
                self._hand(buffer)
        except Exception as exc:  # a fault of ours, as above
            self.crash = self.crash or exc
        finally:
            self.finished = True
            self._told()

    def _early_into(self, buffer: Buffer) -> int:
        room = buffer.room
        piece = min(len(room), len(self._early))
        room[:piece] = self._early[:piece]
        self._early = self._early[piece:]
        return piece

    def _read(self, buffer: Buffer) -> int | None:
        """Bytes read into `buffer`; None when none came within `FLUSH_INTERVAL`; 0 at EOF."""
        room = buffer.room
        try:
            got = self._sock.recv_into(room, min(len(room), self.left), socket.MSG_WAITALL)
        except BlockingIOError:  # the receive timeout, nothing came
            return None
        finally:
            room.release()
        if got:
            self._took(buffer, got)
        return got

    def _took(self, buffer: Buffer, got: int) -> None:
        buffer.end += got
        self.offset += got
        self.received += got
        self.left -= got
        if self.live is not None:
            self.live.count += 1

    def _hand(self, buffer: Buffer) -> None:
        # the loop is not told: the writer tells it of the buffer once written
        self.path.submit(buffer)
