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
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from downloader.clock import Clock
from downloader.config import PollSettings
from downloader.errors import ApiError, MalformedResponse, PollTimeout
from downloader.providers._answers import last_answer
from downloader.providers._parse_common import MESSAGE_LIMIT, shorten
from downloader.providers._schedule import format_duration, poll_delay
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
    "polling_turn",
]

T = TypeVar("T")

PARK_AFTER = 1.0
"""Seconds: inside a turn, a wait at least this long parks the item instead."""


@dataclass
class Unreadable:
    """An item's answers that could not be read: how many in a row, and the unknown
    status words already logged (each once per item)."""

    in_a_row: int = 0
    words: set[tuple[str, str]] = field(default_factory=set)

    def at_limit(self, limit: int) -> bool:
        """Count one more; whether that makes `limit` in a row (the count then starts
        again, so a retry of the item gets a fresh one).  Pure."""
        self.in_a_row += 1
        if self.in_a_row < limit:
            return False
        self.in_a_row = 0
        return True


class Turn:
    """Since when (`Clock.monotonic`) an item has waited in its present state.  The
    pipeline keeps it between the item's turns and moves it on when the state changes."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.unreadable = Unreadable()


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
        # outside a turn (nothing parks): kept for the life of this poller
        self._unreadable = Unreadable()

    async def until(
        self,
        ask: Callable[[], Awaitable[T | NotYet]],
        *,
        what: str,
        goal: str = "ready",
    ) -> T:
        """`ask()` until it returns something other than `NotYet`; that value.

        Raises `PollTimeout` ("package not ready after 48h; last status: pending")
        when `give_up_after` runs out, `MalformedResponse` after `unreadable_limit`
        unreadable answers in a row, and any other `ProviderError` at once.
        """
        turn = _TURN.get()
        unreadable = self._unreadable if turn is None else turn.unreadable
        now = self.clock.monotonic()
        started = now if turn is None else min(now, turn.started)  # earlier turns count
        attempt = attempts_after(now - started, self.settings.initial_interval)
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
