from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.clock import FakeClock
from downloader.transfer._policy import KiB, MiB
from downloader.transfer._ratelimit import Throttle, TokenBucket

# Rates and amounts are powers of two so that the expected waits are exact in binary floats.

# --- TokenBucket --------------------------------------------------------------------------------


def test_a_new_bucket_lends_its_burst_without_waiting() -> None:
    bucket = TokenBucket(rate=4, burst=8, now=0.0)
    assert bucket.take(8, now=0.0) == 0.0


def test_taking_more_than_there_is_costs_the_debt_over_the_rate() -> None:
    bucket = TokenBucket(rate=4, burst=8, now=0.0)
    assert bucket.take(8, now=0.0) == 0.0
    assert bucket.take(4, now=0.0) == 1.0
    assert bucket.take(2, now=0.0) == 1.5


def test_a_single_take_larger_than_the_burst_is_allowed_into_debt() -> None:
    bucket = TokenBucket(rate=4, burst=8, now=0.0)
    assert bucket.take(16, now=0.0) == 2.0


def test_waiting_the_given_time_pays_the_debt_exactly() -> None:
    bucket = TokenBucket(rate=4, burst=8, now=0.0)
    wait = bucket.take(12, now=0.0)
    assert wait == 1.0
    assert bucket.take(0, now=wait) == 0.0
    assert bucket.take(1, now=wait) == 0.25


def test_tokens_refill_at_the_rate() -> None:
    bucket = TokenBucket(rate=4, burst=8, now=0.0)
    bucket.take(8, now=0.0)
    assert bucket.take(2, now=0.5) == 0.0
    assert bucket.take(1, now=0.5) == 0.25


def test_refill_stops_at_the_burst() -> None:
    bucket = TokenBucket(rate=4, burst=8, now=0.0)
    bucket.take(8, now=0.0)
    assert bucket.take(8, now=1000.0) == 0.0
    assert bucket.take(4, now=1000.0) == 1.0


def test_time_going_backwards_mints_no_tokens() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=0.0)
    assert bucket.take(1, now=10.0) == 0.0
    assert bucket.take(1, now=5.0) == 1.0
    # Had the bucket moved its stamp back to 5, this would see 6 s of refill and be free.
    assert bucket.take(1, now=11.0) == 1.0


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, 1), (1, 0), (-1, 1), (1, -1), (0, 0), (-0.5, -0.5)],
)
def test_a_bucket_needs_a_positive_rate_and_burst(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate=rate, burst=burst, now=0.0)


@given(
    rate=st.integers(min_value=1, max_value=10**9),
    burst=st.integers(min_value=1, max_value=10**9),
    amounts=st.lists(st.integers(min_value=0, max_value=10**8), min_size=1, max_size=50),
)
def test_honouring_every_wait_never_exceeds_the_rate(
    rate: int, burst: int, amounts: list[int]
) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    now = 0.0
    for amount in amounts:
        wait = bucket.take(amount, now)
        assert wait >= 0.0
        now += wait
    # By the time the last chunk may be used, no more than burst + rate * elapsed was spent.
    assert sum(amounts) <= burst + rate * now + 1e-6 * sum(amounts)


# --- Throttle -----------------------------------------------------------------------------------


async def test_an_unlimited_throttle_never_sleeps() -> None:
    clock = FakeClock()
    throttle = Throttle(0, clock)
    for _ in range(1000):
        await throttle.consume(64 * MiB)
    assert clock.sleeps == []
    assert clock.monotonic() == 0.0


async def test_a_negative_limit_is_unlimited_too() -> None:
    clock = FakeClock()
    throttle = Throttle(-1, clock)
    await throttle.consume(10 * MiB)
    assert clock.sleeps == []


async def test_the_first_burst_passes_without_sleeping() -> None:
    clock = FakeClock()
    throttle = Throttle(4 * MiB, clock)  # burst: a quarter of a second's worth
    for _ in range(16):
        await throttle.consume(64 * KiB)
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("rate", "burst"),
    [
        pytest.param(4 * MiB, 1 * MiB, id="burst-is-a-quarter-second"),
        pytest.param(16 * KiB, 64 * KiB, id="burst-never-below-64-KiB"),
    ],
)
async def test_a_limited_throttle_sleeps_for_what_exceeds_the_burst(rate: int, burst: int) -> None:
    clock = FakeClock()
    throttle = Throttle(rate, clock)
    chunk = 16 * KiB
    total = 64 * chunk + burst
    for _ in range(total // chunk):
        await throttle.consume(chunk)
    assert sum(clock.sleeps) == pytest.approx((total - burst) / rate)
    assert clock.monotonic() == pytest.approx((total - burst) / rate)
    # one sleep per chunk past the burst, each for exactly that chunk: no polling
    assert clock.sleeps == pytest.approx([chunk / rate] * 64)


async def test_idle_time_refills_the_throttle() -> None:
    clock = FakeClock()
    throttle = Throttle(4 * MiB, clock)
    await throttle.consume(1 * MiB)
    clock.advance(0.25)
    await throttle.consume(1 * MiB)
    assert clock.sleeps == []
    await throttle.consume(1 * MiB)
    assert clock.sleeps == [0.25]


async def test_one_large_read_sleeps_once_for_its_whole_debt() -> None:
    clock = FakeClock()
    throttle = Throttle(1 * MiB, clock)
    await throttle.consume(10 * MiB + 256 * KiB)
    assert clock.sleeps == [10.0]
