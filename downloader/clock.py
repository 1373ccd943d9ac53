"""Time as an injected effect.

Every sleep in the project (backoff, polling, rate limiting, Retry-After) goes
through a `Clock`, so tests run a whole backoff schedule in milliseconds with
`FakeClock` and can assert on exactly what was slept.  Per-read I/O timeouts are
the one exception: they guard real sockets and use real time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import anyio


class Clock(Protocol):
    """What the project needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences are meaningful."""
        ...

    def utcnow(self) -> datetime:
        """Wall-clock time, timezone-aware UTC (for HTTP dates and records)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend for `seconds` (no-op for zero or less, but still a checkpoint)."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock whose sleeps return at once and move virtual time forward.

    `sleeps` records every requested duration, in order, for assertions.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = 0.0
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def utcnow(self) -> datetime:
        return self._start + timedelta(seconds=self._now)

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()
