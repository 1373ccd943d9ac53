"""When to try a failed request again, and whether to try at all.

A pure core: numbers, status codes and header values in, verdicts and delays out.
Nothing here may import aiohttp, anyio or asyncio, sleep, or read a clock: the
current time and the random source are arguments, so every schedule is
reproducible in tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

__all__ = [
    "MAX_RETRY_AFTER",
    "RetryVerdict",
    "backoff_ceiling",
    "backoff_delay",
    "classify_status",
    "next_delay",
    "parse_retry_after",
]

MAX_RETRY_AFTER = 24 * 60 * 60.0
"""A server asking us to wait longer than a day is treated as asking for a day."""

_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """`min(cap, base * 2**attempt)`: the longest wait before retry number `attempt` (from 0).

    Safe for any attempt count: a huge `attempt` gives `cap`, never an overflow.
    """
    if attempt < 0:
        raise ValueError("attempt must not be negative")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must not be negative")
    try:
        ceiling = math.ldexp(base, attempt)
    except OverflowError:
        return cap
    return min(cap, ceiling)


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """A "full jitter" wait: uniform in `[0, ceiling)` given `rand()` uniform in `[0, 1)`.

    Spreading retries over the whole interval keeps many clients that failed together
    from coming back together.
    """
    fraction = rand()
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"rand() must return a number in [0, 1), not {fraction!r}")
    return fraction * backoff_ceiling(attempt, base=base, cap=cap)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait according to a Retry-After header, at most a day.

    Accepts delta-seconds ("120", and "1.5" from lax servers) and HTTP dates in any of
    the three formats of RFC 9110; a date in the past means 0.  A date without a zone,
    and a naive `now`, are taken as UTC.  Returns None for a missing, negative or
    unreadable value.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class RetryVerdict(StrEnum):
    """What to do about a failed response."""

    RETRY = "retry"
    """Transient: wait and ask again."""
    REFRESH_URL = "refresh_url"
    """The signed URL has (probably) expired: ask the provider for a fresh one."""
    FAIL = "fail"
    """Asking again will not help."""


_RETRY_STATUSES = frozenset({408, 425, 429})
_NEVER_RETRY_5XX = frozenset({501, 505})  # not implemented, version not supported: permanent
# storage hosts refuse an expired signature with any of these: S3 403 "Request has
# expired", GCS 400 "ExpiredToken", Azure 403 "AuthenticationFailed", others 401 or 410
_URL_STATUSES = frozenset({400, 401, 403, 410})

# (status) -> (verdict for a plain URL, verdict for a signed URL); statuses not listed
# follow the class rules in `classify_status`.
_STATUS_TABLE: Mapping[int, tuple[RetryVerdict, RetryVerdict]] = {
    **{s: (RetryVerdict.RETRY, RetryVerdict.RETRY) for s in _RETRY_STATUSES},
    **{s: (RetryVerdict.FAIL, RetryVerdict.REFRESH_URL) for s in _URL_STATUSES},
    **{s: (RetryVerdict.FAIL, RetryVerdict.FAIL) for s in _NEVER_RETRY_5XX},
}


def classify_status(status: int, *, signed_url: bool) -> RetryVerdict:
    """The verdict on an unusable HTTP status.

    408, 425, 429 and 5xx (except 501 and 505) are transient.  400, 401, 403 and 410
    on a signed URL may mean the signature expired, so a fresh URL may help; on a plain
    URL they are final, as are all other statuses.
    """
    verdicts = _STATUS_TABLE.get(status)
    if verdicts is not None:
        return verdicts[1] if signed_url else verdicts[0]
    if 500 <= status <= 599:
        return RetryVerdict.RETRY
    return RetryVerdict.FAIL


def next_delay(
    attempt: int,
    *,
    retry_after: float | None,
    base: float,
    cap: float,
    rand: Callable[[], float],
    retry_after_cap: float = MAX_RETRY_AFTER,
) -> float:
    """Seconds to wait before retry `attempt`: the server's Retry-After when it gave one
    (clamped to `[0, retry_after_cap]`, never beyond `MAX_RETRY_AFTER`), else a
    jittered exponential backoff.
    """
    if retry_after is not None and not math.isnan(retry_after):
        return min(max(retry_after, 0.0), retry_after_cap, MAX_RETRY_AFTER)
    return backoff_delay(attempt, base=base, cap=cap, rand=rand)
