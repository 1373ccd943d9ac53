"""Items waiting on their platform's job, asked about together.  Pure.

An item whose remote job still runs needs only a "not yet" from its platform,
and a platform may give that for many jobs in one answer (Pixxel lists a
workflow's jobs; Scale lists jobs by id).  While such an item waits it stays in
the `WaitingRoom` instead of taking a turn of its own for each question: the
scheduler keeps its lease and asks about every waiter whose time has come in one
go (`take`), and only a waiter whose job the answer does not show as running
leaves for a turn of its own, which looks at the job closely and moves it on.

Each waiter keeps the schedule it would have alone (the `PollSchedule` of the
item's one schedule, which the `Poller` of an item's own turn keeps too): asked again after
`initial_interval`, then twice as long each time up to `max_interval`, each wait
jittered by up to ±25 %, until `give_up_after` from when its wait began, on the
monotonic clock.  Waiters asked about together at the same step of their backoff
form a *cohort* that shares one jittered wait: the jitter spreads questions that
would each cost a request, and here one request answers for the whole cohort, so
spreading it would only multiply the requests.  A sweep, due when the first
cohort's wait is over, also takes every other waiter whose wait has lasted at
least the shortest its step allows (three quarters of the nominal one), so
cohorts close in time merge.  No waiter is asked sooner than its schedule
allows, nor later than its own due time.

A list asked for anyway (a source's listing of the very jobs that wait) counts as
the question of the waiters it shows still running (`heard`): each takes its next
wait at the step of how long it has waited, and when the listing's own next time
falls within that wait's jitter, that listing is taken as the next question too,
so the room asks about them only if it has not come `LISTING_GRACE` later.  A job
the listing showed running that comes into the room soon after (the listing added
it) takes that answer as its first question.

A waiter whose `give_up_after` would run out before its next question waits in a
final cohort until then (to the next whole second), and is then handed back as
expired, with no request made for it: a turn of its own asks once more, and fails
it if its job still runs.

No I/O, no clock, no event loop: times are `Clock.monotonic` seconds given by
the caller, and the random source is an argument.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from downloader.providers._schedule import PollSchedule

__all__ = ["LISTING_GRACE", "SETTLE", "Taken", "WaitingRoom", "wait_after_listing"]

SETTLE = 0.2
"""Seconds a new waiter waits for its first question, so that the many admitted at
once (a fresh watchlist, a restart) are asked about in one request."""

LISTING_GRACE = 5.0
"""Seconds past a listing's next time before the room asks about the waiters that
listing is expected to answer: what the listing itself may take to come (the store's
claim of its source, the sources listed before it)."""


def wait_after_listing(
    schedule: PollSchedule, step: int, next_in: float | None, rand: Callable[[], float]
) -> tuple[float, float]:
    """(earliest, due) seconds from a listing's answer to a waiter's next question.

    The listing comes again in `next_in` seconds (None: not known): when that lies
    within the jitter of the wait at `step`, the jitter is taken as that listing's
    time, since one listing answers them all and spreading them would only cost
    requests; the room waits for it `LISTING_GRACE` seconds more, and never sweeps
    them in earlier.  Otherwise the wait is the schedule's own."""
    if next_in is not None and schedule.shortest(step) <= next_in <= schedule.longest(step):
        at = next_in + LISTING_GRACE
        return at, at
    return schedule.shortest(step), schedule.wait(step, rand)


@dataclass
class _Cohort:
    """Waiters asked about together at one step of their backoff."""

    attempt: int
    """The step of the backoff their next wait takes."""
    earliest: float
    """From then on a sweep may ask about them."""
    due: float
    """By then they must be asked (a sweep is due)."""
    members: dict[str, float]
    """Each waiter's key, and when its wait began (monotonic)."""


@dataclass(frozen=True)
class Taken:
    """What a sweep takes out: waiters to ask about, and waiters out of time."""

    ask: tuple[str, ...]
    expired: tuple[str, ...]
    """Their `give_up_after` ran out: a turn of their own asks once more and fails them."""


class WaitingRoom:
    """The waiters and their schedules; `schedule` is read afresh at each step (a reload
    replaces it)."""

    def __init__(self, schedule: Callable[[], PollSchedule], rand: Callable[[], float]) -> None:
        self._schedule = schedule
        self._rand = rand
        self._cohorts: dict[int, _Cohort] = {}
        self._where: dict[str, int] = {}
        """The cohort of each waiter not being asked about."""
        self._asking: dict[str, tuple[float, int]] = {}
        """Waiters being asked about: when their wait began, and their backoff step."""
        self._intake: dict[int, int] = {}
        """The cohort new waiters of a backoff step join until it is swept."""
        self._by_due: list[tuple[float, int]] = []
        self._by_earliest: list[tuple[float, int]] = []
        self._ids = itertools.count()
        self._foretold: dict[str, tuple[float, float | None]] = {}
        """Keys a listing showed running before they came in: when, and when it is
        listed next (`heard`); their admission takes that as their question."""
        self._told: dict[tuple[int, float], int] = {}
        """The cohort such keys join, by their step and their listing's time."""

    def __len__(self) -> int:
        return len(self._where) + len(self._asking)

    def __contains__(self, key: object) -> bool:
        return key in self._where or key in self._asking

    def members(self) -> frozenset[str]:
        """Every waiter, those being asked about included."""
        return frozenset(self._where) | frozenset(self._asking)

    def set_aside(self) -> frozenset[str]:
        """The waiters being asked about right now."""
        return frozenset(self._asking)

    def clear(self) -> None:
        """Forget every waiter."""
        self._cohorts.clear()
        self._where.clear()
        self._asking.clear()
        self._intake.clear()
        self._by_due.clear()
        self._by_earliest.clear()
        self._foretold.clear()
        self._told.clear()

    def admit(self, key: str, *, started: float, now: float) -> None:
        """Take `key` in, waiting since `started`; it is asked about within `SETTLE`,
        unless a listing showed it running a moment ago (`heard`): that was its question.

        Its backoff goes on from how long it has waited already (as `Poller` does)."""
        told = self._foretold.pop(key, None)
        self.remove(key)
        if told is not None and self._admit_heard(key, started, now, *told):
            return
        attempt = self._schedule().step(now - started)
        open_id = self._intake.get(attempt)
        cohort = None if open_id is None else self._cohorts.get(open_id)
        if open_id is None or cohort is None:  # due within SETTLE, may be asked at once
            open_id, cohort = self._new(attempt, now, now + SETTLE, {})
            self._intake[attempt] = open_id
        cohort.members[key] = started
        self._where[key] = open_id

    def _admit_heard(
        self, key: str, started: float, now: float, at: float, next_in: float | None
    ) -> bool:
        """Into the cohort of those a listing at `at` answered, as `heard` would have put
        it; False when that answer is too old to count."""
        schedule = self._schedule()
        step = schedule.step(at - started)
        open_id = self._told.get((step, at))
        cohort = None if open_id is None else self._cohorts.get(open_id)
        if open_id is None or cohort is None:
            earliest, due = wait_after_listing(schedule, step, next_in, self._rand)
            if at + due <= now or started + schedule.give_up_after < at + due:
                return False
            open_id, cohort = self._new(step + 1, at + earliest, at + due, {})
            self._told[(step, at)] = open_id
        cohort.members[key] = started
        self._where[key] = open_id
        return True

    def remove(self, key: str) -> bool:
        """Forget `key` (gone from the watchlist, lease lost, handed to a turn)."""
        self._foretold.pop(key, None)
        if self._asking.pop(key, None) is not None:
            return True
        cid = self._where.pop(key, None)
        if cid is None:
            return False
        cohort = self._cohorts[cid]
        del cohort.members[key]
        if not cohort.members:
            del self._cohorts[cid]
        return True

    def next_due(self) -> float | None:
        """When the next sweep is due; None when nobody waits (being asked aside)."""
        while self._by_due:
            due, cid = self._by_due[0]
            if cid in self._cohorts:
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
        schedule = self._schedule()
        while self._by_earliest and self._by_earliest[0][0] <= now:
            _, cid = heapq.heappop(self._by_earliest)
            cohort = self._cohorts.pop(cid, None)
            if cohort is None:
                continue
            if self._intake.get(cohort.attempt) == cid:
                del self._intake[cohort.attempt]
            for key, started in cohort.members.items():
                del self._where[key]
                self._asking[key] = (started, cohort.attempt)
                (expired if schedule.left(now - started) <= 0 else ask).append(key)
        return Taken(tuple(ask), tuple(expired))

    def answered(
        self, keys: Iterable[str], now: float, *, retry_after: float | None = None
    ) -> None:
        """`keys` were asked about at `now` and still wait: schedule their next question.

        `retry_after` (seconds) is the platform's word on when to ask again at the
        soonest, after a refusal; the schedule's wait is used when it is longer."""
        schedule = self._schedule()
        steps: dict[int, dict[str, float]] = {}
        for key in keys:
            entry = self._asking.pop(key, None)
            if entry is not None:  # else removed while being asked about
                started, attempt = entry
                steps.setdefault(attempt, {})[key] = started
        for attempt, members in steps.items():
            delay, shortest = schedule.wait(attempt, self._rand), schedule.shortest(attempt)
            if retry_after is not None:
                delay, shortest = max(delay, retry_after), max(shortest, retry_after)
            regular: dict[str, float] = {}
            last: dict[float, dict[str, float]] = {}
            for key, started in members.items():
                end = started + schedule.give_up_after
                if end >= now + delay:
                    regular[key] = started
                else:  # its last question comes when give_up_after runs out
                    last.setdefault(float(math.ceil(max(now, end))), {})[key] = started
            if regular:
                self._new(attempt + 1, now + shortest, now + delay, regular)
            for end, finals in last.items():
                self._new(attempt + 1, end, end, finals)

    def heard(
        self, running: Iterable[str], others: Iterable[str], now: float, *, next_in: float | None
    ) -> list[str]:
        """A list asked for anyway (a source's listing, due again in `next_in` seconds)
        showed `running` still running and `others` not at `now`: the question of the
        waiters among them (see the module doc), and of those of `running` that come
        in later.  Waiters being asked about are left to that question, and so is one
        whose `give_up_after` runs out before its next.  Returns the waiters of
        `others`, to be handed to a turn of their own."""
        schedule = self._schedule()
        waits: dict[int, tuple[float, float]] = {}
        steps: dict[int, dict[str, float]] = {}
        for key in running:
            cid = self._where.get(key)
            if cid is None:
                if key not in self._asking:
                    self._foretold[key] = (now, next_in)
                continue
            started = self._cohorts[cid].members[key]
            step = schedule.step(now - started)
            if step not in waits:  # one jitter for all of a step, as in `answered`
                waits[step] = wait_after_listing(schedule, step, next_in, self._rand)
            if started + schedule.give_up_after < now + waits[step][1]:
                continue
            self.remove(key)
            steps.setdefault(step, {})[key] = started
        for step, members in steps.items():
            earliest, due = waits[step]
            self._new(step + 1, now + earliest, now + due, members)
        self._told = {k: cid for k, cid in self._told.items() if cid in self._cohorts}
        gone = []
        for key in others:
            self._foretold.pop(key, None)
            if key in self._where:
                gone.append(key)
        return gone

    def _new(
        self, attempt: int, earliest: float, due: float, members: dict[str, float]
    ) -> tuple[int, _Cohort]:
        cid = next(self._ids)
        cohort = self._cohorts[cid] = _Cohort(attempt, min(earliest, due), due, members)
        for key in members:
            self._where[key] = cid
        heapq.heappush(self._by_due, (cohort.due, cid))
        heapq.heappush(self._by_earliest, (cohort.earliest, cid))
        return cid, cohort
