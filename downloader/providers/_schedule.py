"""Every wait of an item, decided in one place: `ItemSchedule`. Pure.

A package that is not ready is re-polled after `initial_interval`, then twice as
long each time up to `max_interval`, each wait jittered by up to ±25% so items
that started together drift apart, until `give_up_after` (`PollSchedule`, placed
alike by the poll of an item's own turn and by the waiting room).  A try that ended
in a passing failure is followed by another after the `[retry]` backoff, within its
budget of tries (`RetrySchedule`).  The runner holds the two as one `ItemSchedule`
and hands it to whatever makes an item wait.  The random source is an argument;
nothing here sleeps or reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from downloader.transfer._backoff import backoff_ceiling

if TYPE_CHECKING:
    from downloader.config import PollSettings, RetrySettings

__all__ = [
    "JITTER",
    "ItemSchedule",
    "PollSchedule",
    "RetrySchedule",
    "attempts_after",
    "format_duration",
    "poll_delay",
]

JITTER = 0.25
"""A wait is its ceiling times a factor in [1 - JITTER, 1 + JITTER)."""


def poll_delay(attempt: int, *, initial: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds before re-poll number `attempt` (from 0), never more than `cap`.

    `rand()` is uniform in [0, 1); 0.5 gives exactly `min(cap, initial * 2**attempt)`.
    """
    fraction = rand()
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"rand() must return a number in [0, 1), not {fraction!r}")
    ceiling = backoff_ceiling(attempt, base=initial, cap=cap)
    return min(cap, ceiling * (1.0 - JITTER + 2 * JITTER * fraction))


def attempts_after(waited: float, initial: float) -> int:
    """How many doubling waits starting at `initial` fit in `waited` seconds, to the
    nearest: the waits 1, 2, 4 ... sum to 2**n - 1 times the first.  So an item that
    has waited that long takes its schedule up at that step, in a poll of its own
    or in the waiting room alike."""
    if waited <= 0 or initial <= 0:
        return 0
    return max(0, round(math.log2(waited / initial + 1)))


@dataclass(frozen=True)
class PollSchedule:
    """The `[poll]` schedule of a waiting item: one for the poll of an item's own turn
    (`Poller`) and for the waiting room, which asks about many items at once.

    Every question is placed by how long the item has `waited` in its state, so the
    schedule is the same wherever the item waits and however often it moved."""

    initial: float
    cap: float
    give_up_after: float

    @classmethod
    def of(cls, settings: PollSettings) -> PollSchedule:
        return cls(settings.initial_interval, settings.max_interval, settings.give_up_after)

    def step(self, waited: float) -> int:
        """The step of the backoff an item that has `waited` takes its next wait at."""
        return attempts_after(waited, self.initial)

    def wait(self, step: int, rand: Callable[[], float]) -> float:
        """The jittered wait at `step`."""
        return poll_delay(step, initial=self.initial, cap=self.cap, rand=rand)

    def shortest(self, step: int) -> float:
        """The least the jittered wait at `step` can be."""
        return (1 - JITTER) * backoff_ceiling(step, base=self.initial, cap=self.cap)

    def longest(self, step: int) -> float:
        """The most the jittered wait at `step` can be."""
        return min(self.cap, (1 + JITTER) * backoff_ceiling(step, base=self.initial, cap=self.cap))

    def left(self, waited: float) -> float:
        """What is left of `give_up_after` to an item that has `waited` (0 or less: out
        of time; it is asked once more, and fails if the answer is still "not yet")."""
        return self.give_up_after - waited


@dataclass(frozen=True)
class RetrySchedule:
    """The `[retry]` budget of an item: when to try it again after a passing failure,
    and when to stop.  Its waits are not jittered: items that failed together against
    one host are meant to try it again together."""

    settings: RetrySettings
    """`initial_delay`, doubled up to `max_delay`; `attempts` tries in all (0: never
    gives up)."""

    def next_try(self, tries: int, *, retry_after: float | None = None) -> float | None:
        """Seconds before the next try, after `tries` tries that all failed (the last
        one just now): the server's `retry_after` where it gave one, never beyond the
        cap; None when the budget is spent and the item fails."""
        if tries < 1:
            raise ValueError("tries must be at least 1")
        budget, cap = self.settings.attempts, self.settings.max_delay
        if budget and tries >= budget:
            return None
        if retry_after is not None and not math.isnan(retry_after):
            return min(max(retry_after, 0.0), cap)
        return backoff_ceiling(tries - 1, base=self.settings.initial_delay, cap=cap)


@dataclass(frozen=True)
class ItemSchedule:
    """Every wait of an item: its polls while its platform works (`poll`) and its
    tries after passing failures (`retry`).  Built afresh from the settings, so a
    reload reaches the next decision."""

    poll: PollSchedule
    retry: RetrySchedule

    @classmethod
    def of(cls, poll: PollSettings, retry: RetrySettings) -> ItemSchedule:
        return cls(PollSchedule.of(poll), RetrySchedule(retry))


_UNITS = (("h", 3600), ("m", 60), ("s", 1))


def format_duration(seconds: float) -> str:
    """`172800` -> "48h", `90` -> "1m30s", `0.25` -> "0.25s": as the config writes them."""
    if seconds < 1:
        return f"{seconds:g}s"
    if seconds % 86400 == 0 and seconds >= 7 * 86400:
        return f"{int(seconds // 86400)}d"
    parts = []
    rest = round(seconds)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
