"""Preallocated, page-aligned receive buffers, handed round between the loop and two threads.

A body's bytes land once, from the socket, in one of a ring's buffers; the writer
thread writes them from there and the hasher thread hashes them from there, and the
buffer goes back to the ring.  Nothing copies them on the way.

Each buffer is an anonymous `mmap`, so its first byte sits on a page boundary, which
`O_DIRECT` asks of memory as well as of file offsets.  A buffer's bytes for file offset
`o` start at position `o % ALIGN` in it (`Buffer.start`), so that memory and file are
aligned together: whatever the offset, every whole block in the middle of a buffer
can be written directly, and only a head and a tail shorter than a block cannot.

The ring is shared between threads; its free list is guarded by a lock, and a
callback (`on_free`) tells the owner of the event loop when a buffer came back.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

ALIGN = 4096
"""The alignment `O_DIRECT` gets: a page, a multiple of every logical block size in use."""
BUFFER_SIZE = 4 * 1024 * 1024
BUFFER_COUNT = 8
RING_BUDGET = 32 * 1024 * 1024
"""The ring memory of one engine, shared out among the files it may have in flight:
16 files at once (W6a) must stay within tens of MiB."""


def ring_for(
    total: int | None, streams: int, most: int = BUFFER_SIZE, budget: int = RING_BUDGET
) -> tuple[int, int]:
    """How many buffers, of what size, for a file of `total` bytes read by `streams`
    streams at once: each stream fills one while others are written and hashed.
    Buffers hold at most `most` bytes (about half the bytes between two saves of the
    cursors, which only count what is written), all of them together at most `budget`
    (an engine's share of `RING_BUDGET` per file in flight), and a small file gets
    small buffers: many files in flight stay small in memory."""
    count = max(3, streams + 2)
    # a power of two: whole buffers add up to the bytes between two saves exactly
    size = 1 << max(16, min(BUFFER_SIZE, most, budget // count).bit_length() - 1)
    if total is not None and total < BUFFER_COUNT * size:
        size = max(16 * ALIGN, -(-total // BUFFER_COUNT // ALIGN) * ALIGN)
    return count, size


class Buffer:
    """One buffer of the ring and the bytes it holds for the file at `offset`."""

    __slots__ = ("_mem", "end", "index", "offset", "owner", "start", "view")

    def __init__(self, index: int, size: int, *, aligned: bool = True) -> None:
        self.index = index
        # a buffer that never meets O_DIRECT need not be aligned: a bytearray is cheaper
        self._mem: mmap.mmap | bytearray = mmap.mmap(-1, size) if aligned else bytearray(size)
        self.view = memoryview(self._mem)
        self.offset = 0  # the file offset of view[start]
        self.start = 0
        self.end = 0  # view[start:end] holds the bytes
        self.owner: object = None  # whose bytes: told back with them once written

    def begin(self, offset: int, owner: object = None) -> None:
        """Start filling for file offset `offset`, placed in step with the block grid."""
        self.offset, self.owner = offset, owner
        self.start = self.end = offset % ALIGN

    @property
    def room(self) -> memoryview:
        """Where the next received bytes go (a `memoryview`, as `recv_into` and
        `BufferedProtocol.get_buffer` want: a bytearray would be copied)."""
        return self.view[self.end :]

    @property
    def filled(self) -> memoryview:
        return self.view[self.start : self.end]

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def is_full(self) -> bool:
        return self.end >= len(self.view)

    def close(self) -> None:
        self.view.release()
        if isinstance(self._mem, mmap.mmap):
            with contextlib.suppress(BufferError):  # a view still held (a traceback's)
                self._mem.close()
        else:  # freed now, not when the collector breaks its owner's cycles
            self._mem = bytearray()


class Ring:
    """`count` buffers of `size` bytes; `take` one to fill, `give_back` it when done with."""

    def __init__(
        self,
        count: int = BUFFER_COUNT,
        size: int = BUFFER_SIZE,
        *,
        on_free: Callable[[], None] | None = None,
        aligned: bool = True,
    ) -> None:
        if count < 1 or size < 2 * ALIGN or size % ALIGN:
            raise ValueError(f"a ring needs buffers of whole blocks, at least two: {size}")
        self.size = size
        self.buffers = [Buffer(i, size, aligned=aligned) for i in range(count)]
        self._free: deque[Buffer] = deque(self.buffers)
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # a thread waiting to take one
        self.on_free = on_free
        self.misses = 0
        """Times a receiver found no buffer free: it waits on the writer and the hasher,
        not on the network."""
        self._wanted = False  # a `take` found none: the next `give_back` tells `on_free`

    def take(self) -> Buffer | None:
        """A free buffer, or None while every one is being written or hashed."""
        with self._lock:
            if self._free:
                return self._free.popleft()
            self.misses += 1
            self._wanted = True
            return None

    def take_within(self, seconds: float) -> Buffer | None:
        """A free buffer, waiting at most `seconds` for one (off the loop: a receiver
        thread); a wait counts as one miss, as `take`'s None does."""
        with self._lock:
            if not self._free:
                self.misses += 1
                if not self._returned.wait_for(lambda: bool(self._free), seconds):
                    return None
            return self._free.popleft()

    def give_back(self, buffer: Buffer) -> None:
        """Return `buffer` (from any thread); tell `on_free` if a `take` found none since
        it was last told: a receiver with buffers to spare needs no wake of the loop for
        each buffer that comes back (one per buffer, from the hasher thread)."""
        with self._lock:
            self._free.append(buffer)
            self._returned.notify()
            wanted, self._wanted = self._wanted, False
        if wanted and self.on_free is not None:
            self.on_free()

    def wake_on_free(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        """Have `callback` called on `loop` when a buffer comes back (from any thread)
        after a `take` found none."""

        def call() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(callback)

        self.on_free = call

    @property
    def free(self) -> int:
        with self._lock:
            return len(self._free)

    def close(self) -> None:
        for buffer in self.buffers:
            buffer.close()
