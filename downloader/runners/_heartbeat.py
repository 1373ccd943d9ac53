"""The heartbeat: `beat` every `interval` seconds, but only for a claim loop that laps.

The beat is its own task, yet it still comes from the loop: before each beat it
wakes the claim loop and waits for it to start a lap, so a loop stuck in a store
call (another process holding the write lock) stops the beats, and the watchdog
of systemd and `/healthz` see it.  Once the loop has ended (the drain), the
beats go on by themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from downloader.clock import Clock

Beat = Callable[[], Awaitable[None]]


class Pulse:
    """The claim loop's answer to the heartbeat: a lap started since it was asked."""

    def __init__(self, wake_loop: Callable[[], None]) -> None:
        self._wake_loop = wake_loop
        self._lap = anyio.Event()
        self._free = False

    def lapped(self) -> None:
        """Called by the claim loop at the start of every lap."""
        self._lap.set()

    def free(self) -> None:
        """The loop has ended: beat without it from now on."""
        self._free = True
        self._lap.set()

    async def next_lap(self) -> None:
        if self._free:
            return
        self._lap = anyio.Event()
        self._wake_loop()
        await self._lap.wait()


async def keep_beating(beat: Beat, interval: float, pulse: Pulse, clock: Clock) -> None:
    """Beat at once and then every `interval`, each time after a lap of the loop."""
    while True:
        await pulse.next_lap()
        await beat()
        await clock.sleep(interval)
