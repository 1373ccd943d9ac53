"""Items waiting on their platform's job, asked about together.  Pure.

An item whose remote job still runs needs only a "not yet" from its platform,
and a platform may give that for many jobs in one answer (Pixxel lists a
workflow's jobs; Scale lists jobs by id).  While such an item waits it stays in
the `WaitingRoom` instead of taking a turn of its own for each question: the
scheduler keeps its lease and asks about every waiter whose time has come in one
go (`take`), and only a waiter whose job the answer does not show as running
leaves for a turn of its own, which looks at the job closely and moves it on.

Each waiter keeps the schedule it would have alone (`Poller`): asked again after
`initial_interval`, then twice as long each time up to `max_interval`, each wait
jittered, until `give_up_after` from when its wait began, on the monotonic
clock.  Because one request answers for many, `take` also includes every waiter
whose wait has lasted at least the shortest wait its step allows (three quarters
of the nominal one): waiters that began together are asked together, in one
request, rather than in as many requests as their jitters spread them over.  No
waiter is asked sooner than its schedule allows, nor later than its own due time.

No I/O, no clock, no event loop: times are `Clock.monotonic` seconds given by
the caller, and the random source is an argument.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from downloader.config import PollSettings
from downloader.providers._poll import attempts_after
from downloader.providers._schedule import JITTER, poll_delay
from downloader.transfer._backoff import backoff_ceiling

__all__ = ["SETTLE", "Taken", "WaitingRoom"]

SETTLE = 0.2
"""Seconds a new waiter waits for its first question, so that the many admitted at
once (a fresh watchlist, a restart) are asked about in one request."""


@dataclass
class _Waiter:
    started: float
    """When its wait began (monotonic): the schedule and `give_up_after` count from it."""
    attempt: int
    """The step of the backoff its next wait takes."""
    earliest: float
    """From then on a sweep may ask about it."""
    due: float
    """By then it must be asked (a sweep is due)."""
    version: int
    """Which heap entries are still its own (older ones are skipped)."""


@dataclass(frozen=True)
class Taken:
    """What a sweep takes out: waiters to ask about, and waiters out of time."""

    ask: tuple[str, ...]
    expired: tuple[str, ...]
    """Their `give_up_after` ran out: a turn of their own asks once more and fails them."""


class WaitingRoom:
    """The waiters and their schedules; `settings` is read afresh at each step."""

    def __init__(self, settings: Callable[[], PollSettings], rand: Callable[[], float]) -> None:
        self._settings = settings
        self._rand = rand
        self._waiters: dict[str, _Waiter] = {}
        self._asking: dict[str, _Waiter] = {}
        self._by_due: list[tuple[float, int, str]] = []
        self._by_earliest: list[tuple[float, int, str]] = []
        self._versions = itertools.count()

    def __len__(self) -> int:
        return len(self._waiters) + len(self._asking)

    def __contains__(self, key: object) -> bool:
        return key in self._waiters or key in self._asking

    def members(self) -> frozenset[str]:
        """Every waiter, those being asked about included."""
        return frozenset(self._waiters) | frozenset(self._asking)

    def clear(self) -> None:
        """Forget every waiter."""
        self._waiters.clear()
        self._asking.clear()
        self._by_due.clear()
        self._by_earliest.clear()

    def admit(self, key: str, *, started: float, now: float) -> None:
        """Take `key` in, waiting since `started`; it is asked about within `SETTLE`.

        Its backoff goes on from how long it has waited already (as `Poller` does)."""
        self.remove(key)
        initial = self._settings().initial_interval
        attempt = attempts_after(now - started, initial)
        self._put(key, _Waiter(started, attempt, now, now + SETTLE, 0))

    def remove(self, key: str) -> bool:
        """Forget `key` (gone from the watchlist, lease lost, handed to a turn)."""
        return self._waiters.pop(key, None) is not None or self._asking.pop(key, None) is not None

    def next_due(self) -> float | None:
        """When the next sweep is due; None when nobody waits (being asked aside)."""
        while self._by_due:
            due, version, key = self._by_due[0]
            waiter = self._waiters.get(key)
            if waiter is not None and waiter.version == version:
                return due
            heapq.heappop(self._by_due)
        return None

    def take(self, now: float) -> Taken:
        """The waiters to ask about at `now`: none unless a sweep is due, else every
        waiter that may be asked now.  They (and the expired ones) stay in the room,
        set aside, until `answered` or `remove`."""
        due = self.next_due()
        if due is None or due > now:
            return Taken((), ())
        ask: list[str] = []
        expired: list[str] = []
        give_up = self._settings().give_up_after
        while self._by_earliest and self._by_earliest[0][0] <= now:
            _, version, key = heapq.heappop(self._by_earliest)
            waiter = self._waiters.get(key)
            if waiter is None or waiter.version != version:
                continue
            del self._waiters[key]
            waiter.version = -1  # its `due` entry is stale from now on
            self._asking[key] = waiter
            (expired if now - waiter.started >= give_up else ask).append(key)
        return Taken(tuple(ask), tuple(expired))

    def answered(self, key: str, now: float, *, retry_after: float | None = None) -> None:
        """`key` was asked about at `now` and still waits: schedule its next question.

        `retry_after` (seconds) is the platform's word on when to ask again at the
        soonest, after a refusal; the schedule's wait is used when it is longer."""
        waiter = self._asking.pop(key, None)
        if waiter is None:  # removed while being asked about
            return
        poll = self._settings()
        delay = poll_delay(
            waiter.attempt, initial=poll.initial_interval, cap=poll.max_interval, rand=self._rand
        )
        shortest = (1 - JITTER) * backoff_ceiling(
            waiter.attempt, base=poll.initial_interval, cap=poll.max_interval
        )
        if retry_after is not None:
            delay = max(delay, retry_after)
            shortest = max(shortest, retry_after)
        # the last question is asked when give_up_after runs out, not after
        end = waiter.started + poll.give_up_after
        due = min(now + delay, max(now, end))
        waiter.attempt += 1
        waiter.earliest = min(now + shortest, due)
        waiter.due = due
        self._put(key, waiter)

    def set_aside(self) -> frozenset[str]:
        """The waiters being asked about right now."""
        return frozenset(self._asking)

    def _put(self, key: str, waiter: _Waiter) -> None:
        waiter.version = next(self._versions)
        self._waiters[key] = waiter
        heapq.heappush(self._by_due, (waiter.due, waiter.version, key))
        heapq.heappush(self._by_earliest, (waiter.earliest, waiter.version, key))
