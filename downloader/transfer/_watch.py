"""The stall watchdog: one timer for all of an engine's body reads.

Real time, like the network it watches: not the injected clock.
"""

from __future__ import annotations

import asyncio

import anyio


class Live:
    """A body being read: the chunks it took so far, what the watchdog saw of them and
    since when, and the scope the watchdog cancels."""

    __slots__ = ("count", "scope", "seen", "since")

    def __init__(self, now: float) -> None:
        self.count = 0
        self.seen = 0
        self.since = now
        self.scope = anyio.CancelScope()


class StallWatch:
    """Cancels every body read of the engine that took no chunk for `stall` seconds.

    One timer for all the engine's transfers looks at the reads a few times per
    stall period, and only while some read is going on: a read costs one counter
    increment per chunk, instead of a timer re-armed per chunk or a task per
    transfer.  Real time, like the network it watches: not the injected clock.
    """

    def __init__(self, stall: float) -> None:
        self.stall = stall
        self.live: set[Live] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, live: Live) -> None:
        self.live.add(live)
        if self.stall <= 0:
            return
        loop = asyncio.get_running_loop()
        if self._timer is None or self._loop is not loop:
            self._arm(loop)

    def discard(self, live: Live) -> None:
        self.live.discard(live)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer = loop.call_later(max(self.stall / 4, 0.005), self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if not self.live:
            return  # the next read re-arms it
        now = loop.time()
        for live in self.live:
            if live.count != live.seen:
                live.seen, live.since = live.count, now
            elif now - live.since >= self.stall:
                live.scope.cancel()  # a second cancel of the same read does nothing
        self._arm(loop)
