"""The free space is asked of the filesystem once a second at most, not at every look."""

from __future__ import annotations

from pathlib import Path

import pytest

from downloader.clock import FakeClock
from downloader.transfer._space import FRESH_BYTES, FRESH_FOR, SpaceGuard, is_fresh
from tests.support.space import Measure

MiB = 1 << 20


def test_a_free_count_stands_for_a_second_and_while_little_was_written() -> None:
    assert is_fresh(0.0, 0)
    assert is_fresh(FRESH_FOR, FRESH_BYTES - 1)
    assert not is_fresh(FRESH_FOR + 0.01, 0)
    assert not is_fresh(0.1, FRESH_BYTES)
    assert not is_fresh(-1.0, 0)  # a clock that went back trusts nothing


async def test_the_looks_of_many_files_within_a_second_measure_once() -> None:
    clock, measure = FakeClock(), Measure(100 * MiB)
    guard = SpaceGuard(Path("/"), MiB, clock, measure=measure)
    for key in ("a", "b", "c"):
        await guard.room_for(0, key=key)
        assert guard.reserve(MiB, key=key)
        await guard.room_for(256 * 1024, key=key)
    assert measure.asked == 1
    clock.advance(FRESH_FOR + 0.1)
    await guard.room_for(0)
    assert measure.asked == 2
    guard.used(FRESH_BYTES, key="a")
    await guard.room_for(0)
    assert measure.asked == 3


def test_bytes_written_since_the_count_are_taken_off_it() -> None:
    measure = Measure(10 * MiB)
    guard = SpaceGuard(Path("/"), 0, FakeClock(), measure=measure)
    assert guard.reserve(MiB, key="a")
    guard.used(4 * MiB, key="a")
    assert not guard.reserve(7 * MiB, key="b")  # 6 MiB left of the 10 counted
    assert guard.reserve(6 * MiB, key="b")
    assert measure.asked == 1


@pytest.mark.parametrize("cause", ["low", "full"])
async def test_a_transfer_waiting_for_room_measures_anew_at_every_look(cause: str) -> None:
    clock, measure = FakeClock(), Measure(MiB, MiB, MiB, 100 * MiB)
    guard = SpaceGuard(Path("/"), 8 * MiB, clock, interval=5.0, measure=measure)
    if cause == "low":
        await guard.room_for(MiB)
    else:
        await guard.after_full(MiB)
    assert measure.asked == 4  # the first count, then one per look until room was seen
