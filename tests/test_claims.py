"""The claim loop's sleep after a claim that started nothing: a pure table."""

from __future__ import annotations

import pytest

from downloader.runners._claims import (
    BATCH_RECHECK,
    FOREIGN_RECHECK,
    MIN_WAIT,
    PEER_RECHECK,
    wait_after_claim,
)
from downloader.runners._policy import ONCE, RUN
from downloader.runners._room_tender import IDLE_RECHECK, ROOM_INTAKE, absorb_share


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


@pytest.mark.parametrize(
    ("due_in", "wait"),
    [
        pytest.param(None, PEER_RECHECK, id="peer-holds-nothing-due-looks-again-soon"),
        pytest.param(119.9, PEER_RECHECK, id="peer-lease-runs-for-minutes"),
        pytest.param(0.2, 0.2, id="due-sooner-than-the-peer-recheck"),
    ],
)
def test_a_daemon_with_a_free_slot_looks_again_soon_while_peers_hold_items(
    due_in: float | None, wait: float
) -> None:
    # items a peer's room hands back are due at once, and nothing here hears of it
    assert wait_after_claim(
        claimed_any=False, due_in=due_in, others_hold=False, peers_hold=True
    ) == (wait)
    alone = wait_after_claim(claimed_any=False, due_in=due_in, others_hold=False)
    assert alone == (IDLE_RECHECK if due_in is None else min(IDLE_RECHECK, due_in))


def test_waiting_items_are_taken_into_the_room_in_growing_shares() -> None:
    shares, last = [], 2
    while last < ROOM_INTAKE:
        last = absorb_share(2, last)
        shares.append(last)
    # a slot's share first, so a peer opening a moment later gets its part of a small
    # watchlist; then doubling, so 10,000 are taken in some 45 claims, not 5,000
    assert shares == [4, 8, 16, 32, 64, 128, 256]
    assert absorb_share(2, ROOM_INTAKE) == ROOM_INTAKE
    assert absorb_share(8, 2) == 8  # never less than the free slots
