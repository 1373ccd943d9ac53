from __future__ import annotations

from downloader.emulator._body import Budget, Pause, iter_body, plan_body
from downloader.emulator._content import SeededContent


def test_clean_plan_sends_everything_and_keeps_the_connection() -> None:
    plan = plan_body(100, 50)
    assert (plan.send, plan.close_after, plan.dropped) == (50, False, False)
    assert plan.stall_at is None
    assert plan.flip_at is None


def test_drop_beyond_the_body_does_not_fire() -> None:
    assert not plan_body(0, 50, drop_after=50).dropped
    plan = plan_body(0, 50, drop_after=0)
    assert (plan.send, plan.close_after, plan.dropped) == (0, True, True)


def test_length_delta_truncates_or_cuts_after_the_real_body() -> None:
    shorter = plan_body(0, 50, length_delta=-20)
    longer = plan_body(0, 50, length_delta=20)
    assert (shorter.send, shorter.close_after) == (30, False)
    assert (longer.send, longer.close_after, longer.dropped) == (50, True, False)


def test_flip_outside_the_sent_bytes_is_not_planned() -> None:
    assert plan_body(100, 50, flip_at=99).flip_at is None
    assert plan_body(100, 50, flip_at=149).flip_at == 149
    assert plan_body(100, 50, flip_at=140, drop_after=30).flip_at is None


def test_body_pieces_put_the_pause_at_its_offset_and_flip_one_byte() -> None:
    content = SeededContent(4, 1000)
    plan = plan_body(100, 800, stall_after=300, stall_seconds=0.5, flip_at=450)
    pieces = list(iter_body(content, plan, chunk=128))
    pause_at = next(i for i, p in enumerate(pieces) if isinstance(p, Pause))
    assert pieces[pause_at] == Pause(0.5)
    before = b"".join(p for p in pieces[:pause_at] if isinstance(p, bytes))
    after = b"".join(p for p in pieces[pause_at + 1 :] if isinstance(p, bytes))
    expected = bytearray(content.read(100, 800))
    expected[350] ^= 0xFF
    assert len(before) == 300
    assert before + after == bytes(expected)


def test_budget_allows_n_firings_and_rearms_when_knobs_change() -> None:
    budget = Budget()
    assert budget.allows((10, 2), 2)
    budget.charge()
    assert budget.allows((10, 2), 2)
    budget.charge()
    assert not budget.allows((10, 2), 2)
    assert budget.allows((11, 2), 2)
    assert budget.allows((11, -1), -1)
