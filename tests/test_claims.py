"""The claim loop's sleep after a claim that started nothing: a pure table."""

from __future__ import annotations

import pytest

from downloader.runners._claims import (
    BATCH_RECHECK,
    FOREIGN_RECHECK,
    MIN_WAIT,
    wait_after_claim,
)
from downloader.runners._policy import ONCE, RUN
from downloader.runners._room_tender import IDLE_RECHECK


@pytest.mark.parametrize(
    ("claimed_any", "due_in", "others_hold", "wait"),
    [
        pytest.param(False, None, False, IDLE_RECHECK, id="nothing-due-sleeps-long"),
        pytest.param(False, 7.5, False, 7.5, id="sleeps-until-due"),
        pytest.param(False, -3.0, False, MIN_WAIT, id="overdue-but-unclaimable-short-floor"),
        pytest.param(True, 0.0, False, FOREIGN_RECHECK, id="due-is-another-watchlists"),
        pytest.param(True, 30.0, False, 30.0, id="foreign-floor-below-due"),
        pytest.param(False, None, True, BATCH_RECHECK, id="batch-waits-on-other-holders"),
        pytest.param(False, 600.0, True, BATCH_RECHECK, id="other-holders-sooner-than-due"),
        pytest.param(False, 0.5, True, 0.5, id="due-sooner-than-other-holders"),
    ],
)
def test_the_sleep_after_a_claim_that_started_nothing(
    claimed_any: bool, due_in: float | None, others_hold: bool, wait: float
) -> None:
    assert wait_after_claim(claimed_any=claimed_any, due_in=due_in, others_hold=others_hold) == wait


def test_once_and_run_differ_by_their_policy() -> None:
    assert (ONCE.until_done, ONCE.contain_errors, ONCE.tends_sources) == (True, False, False)
    assert (RUN.until_done, RUN.contain_errors, RUN.tends_sources) == (False, True, True)
