"""The item life cycle: the whole transition table, pair by pair, without an event loop."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from downloader.errors import IllegalTransition, StoreError
from downloader.store._lifecycle import (
    TERMINAL,
    TRANSITIONS,
    ItemState,
    check_transition,
    is_terminal,
    starts_afresh,
)

S = ItemState

ALLOWED = {
    (S.WAITING, S.REQUESTED),
    (S.WAITING, S.DOWNLOADING),
    (S.WAITING, S.FAILED),
    (S.REQUESTED, S.PREPARING),
    (S.REQUESTED, S.DOWNLOADING),
    (S.REQUESTED, S.FAILED),
    (S.PREPARING, S.DOWNLOADING),
    (S.PREPARING, S.REQUESTED),
    (S.PREPARING, S.FAILED),
    (S.DOWNLOADING, S.VERIFYING),
    (S.DOWNLOADING, S.REQUESTED),
    (S.DOWNLOADING, S.FAILED),
    (S.VERIFYING, S.ARCHIVED),
    (S.VERIFYING, S.DOWNLOADING),
    (S.VERIFYING, S.FAILED),
    (S.FAILED, S.WAITING),
}
ALL_PAIRS = list(itertools.product(ItemState, repeat=2))


def test_the_states_are_the_ones_the_contract_names() -> None:
    assert [s.value for s in ItemState] == [
        "waiting",
        "requested",
        "preparing",
        "downloading",
        "verifying",
        "archived",
        "failed",
    ]


def test_the_table_has_a_row_for_every_state_and_is_exactly_the_documented_one() -> None:
    assert set(TRANSITIONS) == set(ItemState)
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_every_allowed_transition_is_accepted(current: ItemState, target: ItemState) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [pair for pair in ALL_PAIRS if pair not in ALLOWED])
def test_every_other_pair_is_refused_with_both_states_named(
    current: ItemState, target: ItemState
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    assert caught.value.current == current.value
    assert caught.value.target == target.value
    assert isinstance(caught.value, StoreError)
    assert f"{current.value} -> {target.value}" in str(caught.value)


def test_no_state_may_follow_itself() -> None:
    assert all(state not in TRANSITIONS[state] for state in ItemState)


def test_archived_is_a_dead_end_and_failed_leaves_only_for_waiting() -> None:
    assert TRANSITIONS[S.ARCHIVED] == frozenset()
    assert TRANSITIONS[S.FAILED] == frozenset({S.WAITING})


def test_terminal_states_are_archived_and_failed() -> None:
    assert {S.ARCHIVED, S.FAILED} == TERMINAL
    assert [s for s in ItemState if is_terminal(s)] == [S.ARCHIVED, S.FAILED]


def test_every_state_can_reach_archived_and_every_unfinished_one_can_fail() -> None:
    reachable = {S.ARCHIVED}
    changed = True
    while changed:
        before = len(reachable)
        reachable |= {a for a, targets in TRANSITIONS.items() if targets & reachable}
        changed = len(reachable) != before
    assert reachable == set(ItemState)
    assert all(S.FAILED in TRANSITIONS[s] for s in ItemState if not is_terminal(s))


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[S.ARCHIVED] = frozenset({S.WAITING})  # type: ignore[index]


def test_the_life_cycle_module_imports_no_io_library() -> None:
    code = (
        "import sys, downloader.store._lifecycle;"
        "print(sorted(m for m in ('sqlite3', 'anyio', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_a_failed_item_put_back_starts_its_count_of_tries_afresh() -> None:
    afresh = {
        (current, target)
        for current, targets in TRANSITIONS.items()
        for target in targets
        if starts_afresh(current, target)
    }
    assert afresh == {(ItemState.FAILED, ItemState.WAITING)}
