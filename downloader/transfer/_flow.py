"""One attempt's data path, tied to the transfer: its ring, its writer and hasher threads,
and what they tell the loop.

The writer reports each buffer written with the stream that filled it; only then does
that stream's cursor move (`_events.Wrote`), so a checkpoint never counts a byte that
is not in the file.  A full disk stops the writer until `unstick` has waited for
room (`SpaceGuard.after_full`) on the loop; a failed write breaks the path, and the
streams raise its `OSError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from downloader.transfer._datapath import DataPath
from downloader.transfer._events import Wrote
from downloader.transfer._feed import RingFeed
from downloader.transfer._inline import InlinePath
from downloader.transfer._life import Phase, StreamLife
from downloader.transfer._ring import RING_BUDGET, Ring, ring_for
from downloader.transfer._sink import Sink
from downloader.transfer._writer import DataFile, HeldFile

if TYPE_CHECKING:
    from downloader.transfer._transfer import Transfer


class FileFlow:
    """The data path of one attempt at a transfer, from its streams to its file."""

    def __init__(self, t: Transfer, data: DataFile, sink: Sink | None = None) -> None:
        """`data` a `HeldFile` (copied and hashed on the loop: no threads, no alignment)
        or a file on disk with its `sink` (written and hashed by the path's threads)."""
        assert t.cp is not None
        loop = asyncio.get_running_loop()
        self.t = t
        self.wake = asyncio.Event()
        self.full: OSError | None = None
        limits = t.e.limits
        small = isinstance(data, HeldFile)
        count, size = ring_for(
            t.cp.total,
            min(limits.segments, len(t.cp.segments)),
            most=t.plan.save_every // 2,
            budget=RING_BUDGET // limits.max_concurrent,
        )
        # on the loop a buffer is back as soon as it is handed over: two are plenty
        self.ring = Ring(2 if small else count, size, aligned=not small)
        # told, on the loop, when a buffer comes back: receivers waiting for one
        self.listeners: set[Callable[[], None]] = set()
        self.ring.wake_on_free(loop, self._freed)

        def on_loop(callback: Callable[..., None]) -> Callable[..., None]:
            def call(*args: object) -> None:
                loop.call_soon_threadsafe(callback, *args)

            return call

        self.path: DataPath | InlinePath
        if isinstance(data, HeldFile):
            self.path = InlinePath(data, t.front, self.ring, on_written=self._written)
        else:
            assert sink is not None
            self.path = DataPath(
                sink,
                t.front,
                self.ring,
                on_written=on_loop(self._written),
                on_full=on_loop(self._full),
            )

    def feed_for(self, life: StreamLife) -> RingFeed:
        """Where `life`'s body bytes go, from its cursor on."""
        return RingFeed(
            self.path,
            self.ring,
            life.segment.pos,
            owner=life,
            wake=self.wake,
            stuck=lambda: self.full is not None,
            unstick=self.unstick,
        )

    def raise_if_broken(self) -> None:
        if self.path.error is not None:
            raise self.path.error

    async def settle(self, life: StreamLife, end: int) -> None:
        """Return once `life`'s bytes up to `end` are written (or the path broke)."""
        while life.segment.pos < end and self.path.error is None:
            self.wake.clear()
            if self.full is not None:
                await self.unstick()
            elif life.segment.pos < end and self.path.error is None:
                await self.wake.wait()

    async def unstick(self) -> None:
        """Wait for room on disk, then have the writer try its buffer again."""
        t = self.t
        await t.e.space.after_full(self.ring.size, t.request.on_wait, key=t.request.key)
        self.full = None
        self.path.resume()

    async def close(self) -> None:
        """Write and hash what was handed over, then stop the threads."""
        if isinstance(self.path, InlinePath):
            self.path.close()
        else:
            await anyio.to_thread.run_sync(self.path.close)
        self.ring.close()

    def _freed(self) -> None:
        self.wake.set()
        for listener in list(self.listeners):
            listener()

    def _written(self, offset: int, length: int, owner: object) -> None:
        # bytes of a stream that has moved on (its settling timed out) are on disk but
        # not counted: its cursor stays, and they are fetched and written again
        life = owner if isinstance(owner, StreamLife) else None
        if (
            length > 0
            and life is not None
            and life.phase is Phase.STREAMING
            and life.segment.pos == offset
        ):
            life.step(Wrote(length))
            self.t.wrote(length)
            if not isinstance(self.path, InlinePath):  # held bytes are not on disk yet
                self.t.e.space.used(length, key=self.t.request.key)
        self.wake.set()

    def _full(self, offset: int, error: OSError) -> None:
        self.full = error
        self.wake.set()
