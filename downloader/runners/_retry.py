"""The `[retry]` budget of an item: when to try it again after a passing failure,
and when to stop trying.  Pure: counts, settings and times in, decisions out.

A passing failure (a host that refuses or resets, a 5xx, a stall, a name that does
not resolve, an answer nobody foresaw) ends a try of the item.  The item is tried
again after `initial_delay`, then twice as long before each further try, up to
`max_delay`; a server's Retry-After is taken instead, but never beyond
`max_delay`.  After `attempts` tries the item fails with its last error and the
count (`attempts = 0` never gives up).  The waits are not jittered: items that
failed together against one host are meant to try it again together.  The rule is
the item's one schedule's (`ItemSchedule.retry`); this module words it.
"""

from __future__ import annotations

from datetime import datetime

from downloader.config import RetrySettings, format_duration

__all__ = ["gave_up_text", "next_try_delay", "retrying_text"]


def next_try_delay(
    tries: int, settings: RetrySettings, *, retry_after: float | None = None
) -> float | None:
    """Seconds before the next try, after `tries` tries that all failed (the last
    one just now); None when the budget is spent and the item fails."""
    # here, not at the top: `status` words waits through this module and loads no
    # provider package
    from downloader.providers._schedule import RetrySchedule

    return RetrySchedule(settings).next_try(tries, retry_after=retry_after)


def gave_up_text(error: str, tries: int) -> str:
    """The failed item's error: its last one, and how often it was tried."""
    return f"{error} (gave up after {tries} attempt{'s' if tries != 1 else ''})"


def retrying_text(
    error: str | None, attempts: int, budget: int, next_at: datetime, now: datetime
) -> str:
    """`retrying in 2m (3/8): connection refused`: what `status` says of an item that
    waits for its next try; `budget` 0 (never give up) shows the count alone."""
    seconds = max(0.0, (next_at - now).total_seconds())
    when = "now" if seconds < 1 else f"in {format_duration(seconds)}"
    count = f"{attempts}/{budget}" if budget else str(attempts)
    return f"retrying {when} ({count})" + (f": {error}" if error else "")
