"""The one-copy data path of one file: ring buffers filled by the loop, written and hashed
by two threads of their own.

    socket ─recv_into─► ring buffer ─► writer thread (Sink) ─► hasher thread ─► ring
                          (loop)         pwrite, O_DIRECT       PrefixHash.feed

A buffer is handed on, never copied: the writer writes it where it is, then hands it
to the hasher, which hashes it where it is (when it continues the hashed prefix; a
buffer of a later segment is read back from disk once the prefix reaches it) and
gives it back to the ring.  Hashing after the write keeps the rule of `PrefixHash`:
only bytes that are on disk are hashed.  With several buffers in the ring, the loop
receives, one thread writes and the other hashes at the same time.

The loop learns of each written buffer through `on_written(offset, length, owner)`
(`owner`: whose bytes, as the buffer was begun with), called in the hasher thread once
the buffer is hashed (the shell passes a function that goes back to the loop), so a
cursor, and a checkpoint of it, never counts bytes that were not written, and the
follower of the prefix (`_record.follow_hash`) never reads back from disk bytes a
buffer is about to hand over.  A write
that fails stops the path: `error` holds the `OSError`, every later buffer is given
back unwritten, and `on_written` is told `(offset, -1, owner)` once.  A full disk is no
such failure when `on_full` is given: the writer tells it and waits for `resume`,
then writes the same buffer again (`SpaceGuard` waits for the room on the loop).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from downloader.transfer._ring import Buffer, Ring
from downloader.transfer._sink import Sink
from downloader.transfer._space import is_disk_full
from downloader.transfer._writer import PrefixHash

_STOP = None


class PathEnds:
    """What a data path joins (a sink, a prefix hash, a ring) and whom it tells."""

    def __init__(
        self,
        sink: Sink,
        prefix: PrefixHash,
        ring: Ring,
        *,
        on_written: Callable[[int, int, object], None],
        on_full: Callable[[int, OSError], None] | None = None,
    ) -> None:
        self.sink, self.prefix, self.ring = sink, prefix, ring
        self.on_written, self.on_full = on_written, on_full
        self.error: OSError | None = None
        self._start()

    def _start(self) -> None:
        """What a kind of path sets up for itself."""


class DataPath(PathEnds):
    """Writes and hashes the buffers `submit`ted, in order, off the loop."""

    def _start(self) -> None:
        self._resumed = threading.Event()
        self._stopping = False
        self._to_write: queue.SimpleQueue[Buffer | None] = queue.SimpleQueue()
        # a buffer and whether it was written: told back in file order, after its hash
        self._to_hash: queue.SimpleQueue[tuple[Buffer, bool] | None] = queue.SimpleQueue()
        self._in_flight = 0
        self._idle = threading.Condition()
        self._threads = [
            threading.Thread(target=self._write_loop, name="transfer-writer", daemon=True),
            threading.Thread(target=self._hash_loop, name="transfer-hasher", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, buffer: Buffer) -> None:
        """Hand a filled buffer over; an empty one goes straight back to the ring."""
        if buffer.length == 0:
            self.ring.give_back(buffer)
            return
        with self._idle:
            self._in_flight += 1
        self._to_write.put(buffer)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted buffer is written and hashed (or dropped)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def resume(self) -> None:
        """Write again the buffer a full disk stopped (after `on_full`, once there is room)."""
        self._resumed.set()

    def close(self) -> None:
        """Finish what was submitted, stop both threads, close the sink's own descriptor.

        A write waiting for room after `on_full` gives up: its error is kept."""
        self._stopping = True
        self._resumed.set()
        self._to_write.put(_STOP)
        for thread in self._threads:
            thread.join()
        self.sink.close()

    def _write_loop(self) -> None:
        while (buffer := self._to_write.get()) is not _STOP:
            if self.error is None:
                error = self._write(buffer)
                if error is not None:
                    self.error = error
                self._to_hash.put((buffer, error is None))
                continue
            self._done(buffer)
        self._to_hash.put(_STOP)

    def _write(self, buffer: Buffer) -> OSError | None:
        """Write `buffer`, waiting out a full disk when `on_full` is there to free room.

        A positional write of the same bytes is safe to repeat from its start."""
        while True:
            try:
                self.sink.write(buffer.filled, buffer.offset)
                return None
            except OSError as exc:
                # its frames hold views of the buffer, which must not outlive the ring
                error = exc.with_traceback(None)
            if self.on_full is None or not is_disk_full(error) or self._stopped():
                return error
            self._resumed.clear()
            self.on_full(buffer.offset, error)
            self._resumed.wait()
            if self._stopped():
                return error

    def _stopped(self) -> bool:
        return self._stopping

    def _hash_loop(self) -> None:
        while (item := self._to_hash.get()) is not _STOP:
            buffer, written = item
            try:
                if written:
                    self.prefix.feed(buffer.offset, [buffer.filled])
            finally:
                # told once hashed: a cursor the follower sees past the hashed prefix
                # is then one no buffer will feed, and only such bytes are read back
                self.on_written(buffer.offset, buffer.length if written else -1, buffer.owner)
                self._done(buffer)

    def _done(self, buffer: Buffer) -> None:
        self.ring.give_back(buffer)
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()
