"""How much ring memory a file in flight gets (`ring_for`): pure."""

from __future__ import annotations

from downloader.transfer._ring import RING_BUDGET, ring_for

MiB = 1024 * 1024


def test_sixteen_single_stream_files_hold_three_quarters_of_the_budget_at_most() -> None:
    # W6a: 16 files of 512 MiB in flight, one stream each, the budget shared out
    count, size = ring_for(512 * MiB, 1, most=8 * MiB, budget=RING_BUDGET // 16)
    assert count == 3  # one filled while one is written and one hashed
    assert size == 512 * 1024
    assert 16 * count * size <= RING_BUDGET * 3 // 4


def test_a_file_read_by_several_streams_gets_one_buffer_each_and_two_more() -> None:
    count, size = ring_for(2048 * MiB, 8, most=8 * MiB, budget=RING_BUDGET // 4)
    assert count == 10
    assert count * size <= RING_BUDGET // 4


def test_a_small_file_gets_small_buffers() -> None:
    count, size = ring_for(300 * 1024, 1, most=8 * MiB, budget=RING_BUDGET)
    assert count == 3
    assert size <= 64 * 1024  # not the 512 KiB or more a large file gets
