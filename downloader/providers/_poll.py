"""Asking a platform again until it says yes, within the `[poll]` budget.

`Poller.until` repeats a question while the answer is `NotYet` or a transient
failure (network, 429, 5xx), sleeping a jittered exponential backoff (or the
server's Retry-After) through the injected clock.  The last wait is cut short so
the final question is asked exactly when `give_up_after` runs out; after it,
`PollTimeout` says how long we waited and what the platform said last.  An answer
that cannot be read (not JSON, such as a proxy's login page; a status word no table
knows) is asked again, but `unreadable_limit` of them in a row fail the item with
`MalformedResponse`, naming the request and quoting the answer: such answers do not
heal by being asked for 48 hours.  The count and the unknown words already logged
belong to the item (its `Turn`), so they carry over from one turn to the next.

Given the item's `Turn` (kept by the runner between the item's turns), a wait of
`PARK_AFTER` seconds or more is not slept: `until` returns `Parked`, the item is
parked in the store until then, and its slot goes to another item.  So a thousand
items waiting on unfinished jobs are each asked on their own schedule, instead of
the first few holding every slot while the rest are never asked.  A later turn
takes the schedule up where it was: the `Turn` says how long the item has waited in
its state, which gives both the next wait (the backoff doubles, so the next wait is
about the time waited so far) and what is left of `give_up_after`.  It runs on the
monotonic clock, as within one call, so a jump of the wall clock neither ends a
wait early nor makes it endless; a new process starts the count again, as it
always did.  Without a turn (a URL refreshed mid-download) every wait is slept.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import structlog

from downloader.clock import Clock
from downloader.config import PollSettings
from downloader.errors import ApiError, MalformedResponse, PollTimeout
from downloader.providers._answers import last_answer
from downloader.providers._parse_common import MESSAGE_LIMIT, shorten
from downloader.providers._schedule import PollSchedule, attempts_after, format_duration
from downloader.providers._turn import PARK_AFTER, Parked, Turn, Unreadable
from downloader.providers._types import Phase, PhaseListener

__all__ = [
    "PARK_AFTER",
    "NotYet",
    "Parked",
    "PhaseTracker",
    "Poller",
    "Turn",
    "Unreadable",
    "attempts_after",
]

T = TypeVar("T")


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
        # outside a turn (nothing parks): kept for the life of this poller
        self._unreadable = Unreadable()

    @overload
    async def until(
        self,
        ask: Callable[[], Awaitable[T | NotYet]],
        *,
        what: str,
        goal: str = "ready",
        turn: None = None,
    ) -> T: ...

    @overload
    async def until(
        self,
        ask: Callable[[], Awaitable[T | NotYet]],
        *,
        what: str,
        goal: str = "ready",
        turn: Turn | None,
    ) -> T | Parked: ...

    async def until(
        self,
        ask: Callable[[], Awaitable[T | NotYet]],
        *,
        what: str,
        goal: str = "ready",
        turn: Turn | None = None,
    ) -> T | Parked:
        """`ask()` until it returns something other than `NotYet`; that value, or,
        in `turn`, `Parked` when the next wait is long.

        Raises `PollTimeout` ("package not ready after 48h; last status: pending")
        when `give_up_after` runs out, `MalformedResponse` after `unreadable_limit`
        unreadable answers in a row, and any other `ProviderError` at once.
        """
        unreadable = self._unreadable if turn is None else turn.unreadable
        schedule = PollSchedule.of(self.settings)
        now = self.clock.monotonic()
        started = now if turn is None else min(now, turn.started)  # earlier turns count
        attempt = schedule.step(now - started)
        last = "no answer yet"
        while True:
            retry_after: float | None = None
            try:
                result = await ask()
            except ApiError as exc:
                if not exc.retryable:
                    raise
                # a passing failure says nothing of whether answers can be read
                last, retry_after = f"last error: {exc}", exc.retry_after
            except MalformedResponse as exc:
                self._unreadable_answer(unreadable, str(exc))
                last = "last answer malformed"
            else:
                if not isinstance(result, NotYet):
                    unreadable.in_a_row = 0
                    return result
                last = f"last status: {result.status or '(empty)'}"
                if result.known:
                    unreadable.in_a_row = 0
                else:
                    word = (what, result.status)
                    if word not in unreadable.words and word not in self._unreadable.words:
                        unreadable.words.add(word)
                        self._unreadable.words.add(word)
                        self._log.warning(
                            "provider.unknown_status", what=what, status=result.status
                        )
                    reason = f"{what}: status {result.status!r} is not a word we know"
                    self._unreadable_answer(unreadable, reason)
            remaining = schedule.left(self.clock.monotonic() - started)
            if remaining <= 0:
                duration = format_duration(schedule.give_up_after)
                raise PollTimeout(shorten(f"{what} not {goal} after {duration}; {last}"))
            # the platform's Retry-After, where it gave one, rather than the backoff
            delay = retry_after if retry_after is not None else schedule.wait(attempt, self._rand)
            attempt += 1
            delay = min(delay, remaining)
            if self._on_wait is not None:
                self._on_wait(delay)
            if turn is not None and delay >= PARK_AFTER:
                return Parked(delay, what, last)
            self._log.debug("provider.poll_wait", what=what, delay=round(delay, 3), state=last)
            await self.clock.sleep(delay)

    def _unreadable_answer(self, unreadable: Unreadable, reason: str) -> None:
        """Count one more unreadable answer; at the limit, the item fails with `reason`."""
        limit = self.settings.unreadable_limit
        if not unreadable.at_limit(limit):
            return
        answer = last_answer()
        quoted = ""
        if answer is not None:
            quoted = f"; the last answer to {answer.request}: {answer.excerpt()!r}"
        raise MalformedResponse(
            shorten(f"{reason} ({limit} unreadable answers in a row){quoted}", 2 * MESSAGE_LIMIT)
        )

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
