"""Asking a platform again until it says yes, within the `[poll]` budget.

`Poller.until` repeats a question while the answer is `NotYet` or a transient
failure (network, 429, 5xx), sleeping a jittered exponential backoff (or the
server's Retry-After) through the injected clock.  The last wait is cut short so
the final question is asked exactly when `give_up_after` runs out; after it,
`PollTimeout` says how long we waited and what the platform said last.  A
malformed answer is asked again a few times in a row (proxies truncate answers)
before it fails the item.

Inside an item's turn (`polling_turn`, set by the pipeline around a provider's
`prepare`), a wait of `PARK_AFTER` seconds or more is not slept: `Parked` ends the
turn, the item is parked in the store until then, and its slot goes to another item.
So a thousand items waiting on unfinished jobs are each asked on their own schedule,
instead of the first few holding every slot while the rest are never asked.  A later
turn takes the schedule up where it was: the `Turn` (kept by the pipeline from one
turn of the item to the next) says how long the item has waited in its state, which
gives both the next wait (the backoff doubles, so the next wait is about the time
waited so far) and what is left of `give_up_after`.  It runs on the monotonic clock,
as within one call, so a jump of the wall clock neither ends a wait early nor makes
it endless; a new process starts the count again, as it always did.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from downloader.clock import Clock
from downloader.config import PollSettings
from downloader.errors import ApiError, MalformedResponse, PollTimeout
from downloader.providers._parse_common import shorten
from downloader.providers._schedule import format_duration, poll_delay
from downloader.providers._types import Phase, PhaseListener

__all__ = [
    "MALFORMED_LIMIT",
    "PARK_AFTER",
    "NotYet",
    "Parked",
    "PhaseTracker",
    "Poller",
    "Turn",
    "attempts_after",
    "polling_turn",
]

T = TypeVar("T")

MALFORMED_LIMIT = 3
"""Malformed answers in a row after which the item fails."""

PARK_AFTER = 1.0
"""Seconds: inside a turn, a wait at least this long parks the item instead."""


class Turn:
    """Since when (`Clock.monotonic`) an item has waited in its present state.  The
    pipeline keeps it between the item's turns and moves it on when the state changes."""

    def __init__(self, started: float) -> None:
        self.started = started


class Parked(Exception):
    """The item should be asked again `delay` seconds from now, in a later turn.

    Not an error: the pipeline records the time in the store and ends the turn."""

    def __init__(self, delay: float, what: str, last: str) -> None:
        super().__init__(f"{what}: asking again in {delay:.3g}s ({last})")
        self.delay, self.what, self.last = delay, what, last


_TURN: ContextVar[Turn | None] = ContextVar("downloader_poll_turn", default=None)


@contextlib.contextmanager
def polling_turn(turn: Turn | None) -> Iterator[None]:
    """Polls inside the block belong to `turn` (None: sleep through every wait)."""
    token = _TURN.set(turn)
    try:
        yield
    finally:
        _TURN.reset(token)


def attempts_after(waited: float, initial: float) -> int:
    """How many doubling waits starting at `initial` fit in `waited` seconds, to the
    nearest: the waits 1, 2, 4 ... sum to 2**n - 1 times the first.  Pure."""
    if waited <= 0 or initial <= 0:
        return 0
    return max(0, round(math.log2(waited / initial + 1)))


@dataclass(frozen=True)
class NotYet:
    """The answer to a poll that says "not yet": the platform's own status word."""

    status: str
    known: bool = True
    """False for a word the adapter does not know (logged once, then polled on)."""


class Poller:
    """Polls one item's questions; holds the `[poll]` settings, clock and randomness."""

    def __init__(
        self,
        clock: Clock,
        settings: PollSettings,
        *,
        rand: Callable[[], float] = random.random,
        log: Any = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self._rand = rand
        self._on_wait = on_wait
        """Told of each wait before the question is asked again (metrics count them)."""
        self._log = log if log is not None else structlog.get_logger("downloader.providers")
        # (what, status) pairs already warned about: once each, across turns too
        self._unknown: set[tuple[str, str]] = set()

    async def until(
        self,
        ask: Callable[[], Awaitable[T | NotYet]],
        *,
        what: str,
        goal: str = "ready",
    ) -> T:
        """`ask()` until it returns something other than `NotYet`; that value.

        Raises `PollTimeout` ("package not ready after 48h; last status: pending")
        when `give_up_after` runs out, the last `MalformedResponse` after
        `MALFORMED_LIMIT` of them in a row, and any other `ProviderError` at once.
        """
        turn = _TURN.get()
        now = self.clock.monotonic()
        started = now if turn is None else min(now, turn.started)  # earlier turns count
        attempt = attempts_after(now - started, self.settings.initial_interval)
        malformed = 0
        last = "no answer yet"
        while True:
            retry_after: float | None = None
            try:
                result = await ask()
            except ApiError as exc:
                if not exc.retryable:
                    raise
                last, retry_after = f"last error: {exc}", exc.retry_after
                malformed = 0
            except MalformedResponse:
                malformed += 1
                if malformed >= MALFORMED_LIMIT:
                    raise
                last = "last answer malformed"
            else:
                if not isinstance(result, NotYet):
                    return result
                malformed = 0
                last = f"last status: {result.status or '(empty)'}"
                if not result.known and (what, result.status) not in self._unknown:
                    self._unknown.add((what, result.status))
                    self._log.warning("provider.unknown_status", what=what, status=result.status)
            remaining = self.settings.give_up_after - (self.clock.monotonic() - started)
            if remaining <= 0:
                duration = format_duration(self.settings.give_up_after)
                raise PollTimeout(shorten(f"{what} not {goal} after {duration}; {last}"))
            if retry_after is not None:
                delay = retry_after
            else:
                delay = poll_delay(
                    attempt,
                    initial=self.settings.initial_interval,
                    cap=self.settings.max_interval,
                    rand=self._rand,
                )
            attempt += 1
            delay = min(delay, remaining)
            if self._on_wait is not None:
                self._on_wait(delay)
            if turn is not None and delay >= PARK_AFTER:
                raise Parked(delay, what, last)
            self._log.debug("provider.poll_wait", what=what, delay=round(delay, 3), state=last)
            await self.clock.sleep(delay)

    async def call(self, ask: Callable[[], Awaitable[T]], *, what: str) -> T:
        """`ask()` once, or again after transient failures (within the same budget)."""
        return await self.until(ask, what=what, goal="available")


class PhaseTracker:
    """Tells the listener about a phase only when it (or its detail) changes."""

    def __init__(self, listener: PhaseListener) -> None:
        self._listener = listener
        self._last: tuple[str, str] | None = None

    async def enter(self, name: Phase, detail: str = "") -> None:
        if self._last != (name, detail):
            self._last = (name, detail)
            await self._listener.phase(name, detail)
