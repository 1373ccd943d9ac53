from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.transfer._backoff import (
    MAX_RETRY_AFTER,
    RetryVerdict,
    backoff_ceiling,
    backoff_delay,
    classify_status,
    next_delay,
    parse_retry_after,
)

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)

# --- ceilings and jitter -------------------------------------------------------------------


def test_ceiling_doubles_then_caps() -> None:
    ceilings = [backoff_ceiling(n, base=1.0, cap=60.0) for n in range(9)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert [backoff_ceiling(n, base=0.25, cap=1.0) for n in range(4)] == [0.25, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("attempt", [1023, 1024, 5000, 10**6, 10**30])
def test_huge_attempt_counts_give_the_cap_without_overflow(attempt: int) -> None:
    assert backoff_ceiling(attempt, base=1.0, cap=60.0) == 60.0
    assert backoff_delay(attempt, base=1.0, cap=60.0, rand=lambda: 0.5) == 30.0


def test_tiny_base_still_grows_to_the_cap() -> None:
    assert backoff_ceiling(1100, base=1e-300, cap=5.0) == 5.0
    assert backoff_ceiling(0, base=1e-300, cap=5.0) == 1e-300


def test_zero_base_never_waits() -> None:
    assert backoff_ceiling(10**9, base=0.0, cap=60.0) == 0.0


@pytest.mark.parametrize(
    ("attempt", "base", "cap"), [(-1, 1.0, 60.0), (0, -1.0, 60.0), (0, 1.0, -1.0)]
)
def test_ceiling_refuses_negative_inputs(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="negative"):
        backoff_ceiling(attempt, base=base, cap=cap)


def test_full_jitter_scales_the_ceiling() -> None:
    assert backoff_delay(3, base=1.0, cap=60.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(3, base=1.0, cap=60.0, rand=lambda: 0.5) == 4.0
    assert backoff_delay(10, base=1.0, cap=60.0, rand=lambda: 0.25) == 15.0


@pytest.mark.parametrize("bad", [1.0, -0.1, 2.0, math.nan])
def test_jitter_source_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        backoff_delay(0, base=1.0, cap=60.0, rand=lambda: bad)


@given(
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0.0, max_value=100.0),
    st.floats(min_value=0.0, max_value=3600.0),
    st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_jittered_delay_is_bounded_by_the_ceiling(
    attempt: int, base: float, cap: float, fraction: float
) -> None:
    ceiling = backoff_ceiling(attempt, base=base, cap=cap)
    assert 0.0 <= ceiling <= cap
    delay = backoff_delay(attempt, base=base, cap=cap, rand=lambda: fraction)
    assert 0.0 <= delay <= ceiling
    if attempt > 0:
        assert backoff_ceiling(attempt - 1, base=base, cap=cap) <= ceiling


def test_real_random_source_spreads_delays_below_the_ceiling() -> None:
    rng = random.Random(42)
    delays = [backoff_delay(4, base=1.0, cap=60.0, rand=rng.random) for _ in range(500)]
    assert all(0.0 <= d < 16.0 for d in delays)
    assert min(delays) < 2.0
    assert max(delays) > 14.0


# --- Retry-After ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("86400", 86400.0),
        ("86401", MAX_RETRY_AFTER),
        ("9" * 400, MAX_RETRY_AFTER),
    ],
)
def test_retry_after_delta_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 01 Mar 2024 12:02:00 GMT", 120.0),  # IMF-fixdate
        ("Friday, 01-Mar-24 12:00:30 GMT", 30.0),  # RFC 850
        ("Fri Mar  1 12:00:05 2024", 5.0),  # asctime, no zone: UTC
        ("Fri, 01 Mar 2024 14:01:00 +0200", 60.0),
        ("Fri, 01 Mar 2024 11:59:00 GMT", 0.0),  # in the past
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Sat, 02 Mar 2024 12:00:00 GMT", 86400.0),
        ("Sun, 10 Mar 2024 12:00:00 GMT", MAX_RETRY_AFTER),
    ],
)
def test_retry_after_http_dates(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_date_against_a_naive_now_is_read_as_utc() -> None:
    naive_now = datetime(2024, 3, 1, 12, 0, 0)
    assert parse_retry_after("Fri, 01 Mar 2024 12:00:10 GMT", now=naive_now) == 10.0


def test_retry_after_date_against_a_now_in_another_zone() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_retry_after("Fri, 01 Mar 2024 12:00:10 GMT", now=now) == 10.0


@given(st.integers(min_value=0, max_value=86400))
def test_retry_after_dates_round_trip(seconds: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(header, now=NOW) == float(seconds)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "-5", "-0.5", "soon", "1e3", "inf", "nan", "1,5", "12 s", "Fri, 99 Zzz"],
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@given(st.text())
def test_retry_after_never_raises_and_stays_in_range(value: str) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or 0.0 <= result <= MAX_RETRY_AFTER


# --- status classification -----------------------------------------------------------------

RETRY, REFRESH, FAIL = RetryVerdict.RETRY, RetryVerdict.REFRESH_URL, RetryVerdict.FAIL

# status: (verdict for a plain URL, verdict for a signed URL)
STATUS_TABLE = {
    400: (FAIL, REFRESH),  # GCS says an expired signature with 400 ExpiredToken
    401: (FAIL, REFRESH),
    402: (FAIL, FAIL),
    403: (FAIL, REFRESH),
    404: (FAIL, FAIL),
    405: (FAIL, FAIL),
    406: (FAIL, FAIL),
    407: (FAIL, FAIL),
    408: (RETRY, RETRY),
    409: (FAIL, FAIL),
    410: (FAIL, REFRESH),
    411: (FAIL, FAIL),
    412: (FAIL, FAIL),
    413: (FAIL, FAIL),
    414: (FAIL, FAIL),
    415: (FAIL, FAIL),
    416: (FAIL, FAIL),
    417: (FAIL, FAIL),
    418: (FAIL, FAIL),
    421: (FAIL, FAIL),
    422: (FAIL, FAIL),
    423: (FAIL, FAIL),
    424: (FAIL, FAIL),
    425: (RETRY, RETRY),
    426: (FAIL, FAIL),
    428: (FAIL, FAIL),
    429: (RETRY, RETRY),
    431: (FAIL, FAIL),
    451: (FAIL, FAIL),
    499: (FAIL, FAIL),
    500: (RETRY, RETRY),
    501: (FAIL, FAIL),
    502: (RETRY, RETRY),
    503: (RETRY, RETRY),
    504: (RETRY, RETRY),
    505: (FAIL, FAIL),
    506: (RETRY, RETRY),
    507: (RETRY, RETRY),
    508: (RETRY, RETRY),
    509: (RETRY, RETRY),
    510: (RETRY, RETRY),
    511: (RETRY, RETRY),
    520: (RETRY, RETRY),
    599: (RETRY, RETRY),
    # not errors at all, or not HTTP: nothing a retry would fix
    200: (FAIL, FAIL),
    206: (FAIL, FAIL),
    304: (FAIL, FAIL),
    0: (FAIL, FAIL),
    600: (FAIL, FAIL),
}


@pytest.mark.parametrize(("status", "verdicts"), sorted(STATUS_TABLE.items()))
def test_classify_status_table(status: int, verdicts: tuple[RetryVerdict, RetryVerdict]) -> None:
    plain, signed = verdicts
    assert classify_status(status, signed_url=False) is plain
    assert classify_status(status, signed_url=True) is signed


@given(st.integers(min_value=400, max_value=599), st.booleans())
def test_only_auth_and_gone_statuses_ask_for_a_fresh_url(status: int, signed: bool) -> None:
    verdict = classify_status(status, signed_url=signed)
    if verdict is REFRESH:
        assert signed
        assert status in (400, 401, 403, 410)


def test_verdicts_are_strings_for_logs() -> None:
    assert str(RetryVerdict.REFRESH_URL) == "refresh_url"
    assert RetryVerdict("fail") is RetryVerdict.FAIL
    assert f"{RetryVerdict.RETRY}" == "retry"


# --- next_delay ----------------------------------------------------------------------------


def test_retry_after_wins_over_backoff() -> None:
    assert next_delay(0, retry_after=30.0, base=1.0, cap=60.0, rand=lambda: 0.9) == 30.0
    assert next_delay(9, retry_after=0.0, base=1.0, cap=60.0, rand=lambda: 0.9) == 0.0


def test_retry_after_is_clamped_to_a_day_and_never_negative() -> None:
    assert next_delay(0, retry_after=10**9, base=1.0, cap=60.0, rand=lambda: 0.5) == 86400.0
    assert next_delay(0, retry_after=-3.0, base=1.0, cap=60.0, rand=lambda: 0.5) == 0.0
    capped = next_delay(
        0, retry_after=600.0, base=1.0, cap=60.0, rand=lambda: 0.5, retry_after_cap=90
    )
    assert capped == 90.0


def test_without_retry_after_the_jittered_backoff_applies() -> None:
    assert next_delay(2, retry_after=None, base=1.0, cap=60.0, rand=lambda: 0.5) == 2.0
    assert next_delay(2, retry_after=math.nan, base=1.0, cap=60.0, rand=lambda: 0.5) == 2.0


def test_a_whole_schedule_is_reproducible_from_a_seed() -> None:
    def schedule(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [
            next_delay(n, retry_after=None, base=0.5, cap=8.0, rand=rng.random) for n in range(8)
        ]

    assert schedule(1) == schedule(1)
    assert schedule(1) != schedule(2)
    assert all(d <= 8.0 for d in schedule(3))
