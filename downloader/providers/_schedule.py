"""How long to wait before asking a platform again. Pure.

A package that is not ready is re-polled after `initial_interval`, then twice as
long each time up to `max_interval`, each wait jittered by up to ±25% so items
that started together drift apart.  The random source is an argument; nothing
here sleeps or reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from downloader.transfer._backoff import backoff_ceiling

__all__ = ["JITTER", "attempts_after", "format_duration", "poll_delay"]

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
