"""The item's one schedule: its polls and its tries after passing failures, decided in
one object that the worker holds and the waiting room is served from."""

from __future__ import annotations

from pathlib import Path

import pytest

from downloader.config import PollSettings, RetrySettings
from downloader.providers._schedule import ItemSchedule, PollSchedule, RetrySchedule
from downloader.runners._retry import next_try_delay
from tests.support.worker import http_harness


def test_the_schedule_holds_both_halves_as_the_settings_say() -> None:
    poll = PollSettings(initial_interval=5, max_interval=300, give_up_after=3600)
    retry = RetrySettings(attempts=4, initial_delay=30, max_delay=600)
    schedule = ItemSchedule.of(poll, retry)
    assert schedule.poll == PollSchedule(5, 300, 3600)
    assert schedule.retry == RetrySchedule(retry)


@pytest.mark.parametrize("attempts", [0, 1, 3, 8])
@pytest.mark.parametrize("retry_after", [None, -3.0, 5.0, 86_400.0, float("nan")])
def test_the_retry_half_decides_as_the_retry_budget_words_it(
    attempts: int, retry_after: float | None
) -> None:
    settings = RetrySettings(attempts=attempts, initial_delay=30, max_delay=600)
    schedule = ItemSchedule.of(PollSettings(), settings)
    for tries in range(1, 12):
        expected = next_try_delay(tries, settings, retry_after=retry_after)
        assert schedule.retry.next_try(tries, retry_after=retry_after) == expected


def test_the_retry_half_refuses_a_try_count_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetrySchedule(RetrySettings()).next_try(0)


async def test_the_workers_schedule_follows_a_reload_of_poll_and_retry(tmp_path: Path) -> None:
    async with http_harness(tmp_path, tmp_path / "archive") as harness:
        worker = harness.worker
        worker.poll = PollSettings(initial_interval=7, max_interval=70, give_up_after=700)
        worker.retry = retry = RetrySettings(attempts=2, initial_delay=9, max_delay=90)
        assert worker.schedule == ItemSchedule(PollSchedule(7, 70, 700), RetrySchedule(retry))
