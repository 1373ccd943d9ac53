"""Asking a platform again until it says yes, within the `[poll]` budget.

`Poller.until` repeats a question while the answer is `NotYet` or a transient
failure (network, 429, 5xx), sleeping a jittered exponential backoff (or the
server's Retry-After) through the injected clock.  The last wait is cut short so
the final question is asked exactly when `give_up_after` runs out; after it,
`PollTimeout` says how long we waited and what the platform said last.  A
malformed answer is asked again a few times in a row (proxies truncate answers)
before it fails the item.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from downloader.clock import Clock
from downloader.config import PollSettings
from downloader.errors import ApiError, MalformedResponse, PollTimeout
from downloader.providers._parse_common import shorten
from downloader.providers._schedule import format_duration, poll_delay
from downloader.providers._types import Phase, PhaseListener

__all__ = ["MALFORMED_LIMIT", "NotYet", "PhaseTracker", "Poller"]

T = TypeVar("T")

MALFORMED_LIMIT = 3
"""Malformed answers in a row after which the item fails."""


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
    ) -> None:
        self.clock = clock
        self.settings = settings
        self._rand = rand
        self._log = log if log is not None else structlog.get_logger("downloader.providers")

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
        started = self.clock.monotonic()
        attempt = 0
        malformed = 0
        last = "no answer yet"
        unknown: set[str] = set()
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
                if not result.known and result.status not in unknown:
                    unknown.add(result.status)
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
