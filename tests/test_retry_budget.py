"""The `[retry]` budget: the pure schedule of an item's tries after passing failures,
and `downloader once` ending when a host stays down."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from downloader.config import RetrySettings
from downloader.runners._retry import gave_up_text, next_try_delay, retrying_text
from downloader.store import ItemState, open_store
from tests.support import cli, plain

NOW = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def test_each_try_waits_twice_as_long_as_the_last_up_to_max_delay() -> None:
    settings = RetrySettings(attempts=8, initial_delay=30, max_delay=300)
    delays = [next_try_delay(tries, settings) for tries in range(1, 9)]
    assert delays == [30, 60, 120, 240, 300, 300, 300, None]


def test_after_the_last_try_the_item_gives_up() -> None:
    settings = RetrySettings(attempts=3, initial_delay=1, max_delay=2)
    assert [next_try_delay(t, settings) for t in (1, 2, 3, 4)] == [1, 2, None, None]
    assert next_try_delay(1, RetrySettings(attempts=1)) is None


def test_attempts_zero_never_gives_up_and_never_overflows() -> None:
    settings = RetrySettings(attempts=0, initial_delay=30, max_delay=1800)
    assert next_try_delay(10_000, settings) == 1800
    assert next_try_delay(1, settings) == 30


def test_a_retry_after_is_taken_but_capped_at_max_delay() -> None:
    settings = RetrySettings(attempts=8, initial_delay=30, max_delay=600)
    assert next_try_delay(1, settings, retry_after=5) == 5
    assert next_try_delay(1, settings, retry_after=86_400) == 600
    assert next_try_delay(1, settings, retry_after=-3) == 0
    assert next_try_delay(1, settings, retry_after=float("nan")) == 30
    assert next_try_delay(8, settings, retry_after=5) is None  # the budget still ends


def test_no_try_is_no_failure() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next_try_delay(0, RetrySettings())


def test_the_texts_name_the_error_the_wait_and_the_count() -> None:
    assert gave_up_text("NetworkError: connection refused", 3) == (
        "NetworkError: connection refused (gave up after 3 attempts)"
    )
    assert gave_up_text("x", 1) == "x (gave up after 1 attempt)"
    later = NOW + timedelta(minutes=2)
    assert retrying_text("connection refused", 3, 8, later, NOW) == (
        "retrying in 2m (3/8): connection refused"
    )
    assert retrying_text("HTTP 503", 12, 0, NOW + timedelta(seconds=90), NOW) == (
        "retrying in 1m30s (12): HTTP 503"
    )
    assert retrying_text(None, 1, 8, NOW - timedelta(seconds=5), NOW) == "retrying now (1/8)"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


def write_config(tmp_path: Path, url: str, retry: str) -> Path:
    return plain.write_config(tmp_path, [(url, None)], ids=["down"], tail=f"[retry]\n{retry}\n")


def downloader(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return cli.downloader(*args, timeout=timeout)


async def test_once_against_a_host_that_refuses_ends_failed_after_its_tries(
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/scene.tif"
    config = write_config(
        tmp_path, url, 'attempts = 3\ninitial_delay = "200ms"\nmax_delay = "400ms"'
    )
    began = time.monotonic()
    result = downloader("once", "-c", str(config), timeout=60)
    took = time.monotonic() - began
    assert result.returncode == 1, result.stderr
    assert took < 30
    async with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        record = await store.get("http:file:down")
        events = await store.events("http:file:down")
    assert record is not None
    assert record.state is ItemState.FAILED
    assert record.error is not None
    assert "connection refused" in record.error
    assert "gave up after 3 attempts" in record.error
    assert record.attempts == 3  # the three tries, two waits between them
    assert [e.kind for e in events].count("retry") == 2
    status = downloader("status", "-c", str(config), "--json")
    (item,) = json.loads(status.stdout)
    assert (item["state"], item["attempts"], item["next_attempt_at"]) == ("failed", 3, None)


THROTTLED_FOR_A_YEAR = """
[emulator]
seed = 3

[[pixxel.job]]
workflow_id = "wf"
job_id = "slow"
polls_until_done = 1
throttle = 2
retry_after = "31536000"
files = [{ name = "a.tif", size = 4000 }]
"""


async def test_a_platform_asking_to_wait_a_year_is_asked_again_after_retry_max_delay(
    tmp_path: Path,
) -> None:
    import dataclasses

    import anyio

    from downloader.runners._compose import run_once
    from tests.support.once import emulated

    async with emulated(tmp_path, THROTTLED_FOR_A_YEAR) as (running, settings, refs):
        settings = dataclasses.replace(settings, retry=RetrySettings(max_delay=0.3))
        with anyio.fail_after(60):  # a year's Retry-After, waited, would end the test
            await run_once(settings, refs)
        throttled = [r for r in running.emulator.log if r.status == 429]
    assert len(throttled) == 2
    async with open_store(settings.state.url) as store:
        record = await store.get(refs[0].key)
    assert record is not None
    assert record.state is ItemState.ARCHIVED
