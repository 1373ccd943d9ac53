"""The waiting room's schedule, without an event loop: sweeps, backoff, give-up."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from downloader.config import PollSettings
from downloader.providers._schedule import JITTER, PollSchedule
from downloader.runners._waitroom import SETTLE, WaitingRoom
from downloader.transfer._backoff import backoff_ceiling

POLL = PollSettings(initial_interval=5.0, max_interval=300.0, give_up_after=172800.0)


def room(poll: PollSettings = POLL, rand: random.Random | None = None) -> WaitingRoom:
    source = rand or random.Random(0)
    return WaitingRoom(lambda: PollSchedule.of(poll), source.random)


def middle() -> float:
    return 0.5  # no jitter: each wait is its nominal length


def run(
    r: WaitingRoom, until: float, *, running: bool = True
) -> tuple[dict[str, list[float]], list[float]]:
    """Sweep whenever one is due until `until`; every waiter asked still runs.
    Returns when each key was asked, and when each sweep happened."""
    asked: dict[str, list[float]] = {}
    sweeps: list[float] = []
    while (due := r.next_due()) is not None and due <= until:
        taken = r.take(due)
        assert taken.ask or taken.expired, "a due sweep must take somebody"
        sweeps.append(due)
        for key in taken.ask:
            asked.setdefault(key, []).append(due)
        if running:
            r.answered(taken.ask, due)
        for key in taken.expired:
            r.remove(key)
    return asked, sweeps


def test_a_new_waiter_is_asked_about_once_it_settled() -> None:
    r = room()
    r.admit("a", started=100.0, now=100.0)
    assert r.next_due() == pytest.approx(100.0 + SETTLE)
    assert r.take(100.0 + SETTLE / 2).ask == ()
    assert r.take(100.0 + SETTLE).ask == ("a",)
    assert r.next_due() is None  # set aside while asked about
    assert "a" in r
    assert len(r) == 1
    assert r.set_aside() == {"a"}


def test_waiters_admitted_together_are_asked_about_in_one_sweep() -> None:
    r = room()
    for i in range(1000):
        r.admit(f"k{i}", started=10.0 + i / 10000, now=10.0 + i / 10000)
    taken = r.take(10.0 + SETTLE + 0.1)
    assert len(taken.ask) == 1000
    assert r.next_due() is None


def test_the_next_question_follows_the_doubling_backoff() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.admit("a", started=0.0, now=0.0)
    asked, _ = run(r, 700.0)
    # asked at SETTLE, then after 5, 10, 20 ... up to the 300 s ceiling
    gaps = [b - a for a, b in zip(asked["a"], asked["a"][1:], strict=False)]
    assert gaps[:7] == pytest.approx([5, 10, 20, 40, 80, 160, 300])


def test_jittered_waiters_that_began_together_stay_together() -> None:
    # 10,000 items added at once: alone each would be asked on its own jittered
    # schedule, about 20,000 questions in the first 70 s; together they are one
    # cohort with one jittered wait a step, asked about in one sweep a step
    r = room(rand=random.Random(7))
    for i in range(10_000):
        r.admit(f"k{i:05d}", started=0.0, now=0.0)
    asked, sweeps = run(r, 70.0)
    assert 4 <= len(sweeps) <= 5
    assert all(times == sweeps for times in asked.values())
    nominal = [5, 10, 20, 40]
    for step, (a, b) in enumerate(itertools.pairwise(sweeps)):
        assert (1 - JITTER) * nominal[step] <= b - a <= (1 + JITTER) * nominal[step]


def test_waiters_admitted_one_by_one_before_the_first_sweep_are_one_cohort() -> None:
    r = room(rand=random.Random(1))
    for i in range(100):
        r.admit(f"k{i}", started=i * 0.001, now=i * 0.001)
    assert len(r.take(0.1 + SETTLE).ask) == 100
    r.answered([f"k{i}" for i in range(100)], 0.3)
    asked, sweeps = run(r, 100.0)
    assert len(sweeps) == 4  # waits of 5, 10, 20, 40 s, give or take a quarter
    assert all(len(times) == 4 for times in asked.values())


def test_cohorts_close_in_time_merge() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.admit("a", started=0.0, now=0.0)
    assert r.take(SETTLE).ask == ("a",)
    r.answered(["a"], SETTLE)  # next due at 5.2, may be asked from 3.95 on
    r.admit("b", started=1.0, now=1.0)
    assert r.take(1.0 + SETTLE).ask == ("b",)
    r.answered(["b"], 1.0 + SETTLE)  # next due at 6.2, may be asked from 4.95 on
    asked, sweeps = run(r, 6.0)
    assert sweeps == [pytest.approx(5.2)]
    assert set(asked) == {"a", "b"}  # b taken along at a's sweep, after 4 s of its 5


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    starts=st.lists(st.floats(0, 400), min_size=1, max_size=40),
    initial=st.floats(0.5, 20),
    ceiling=st.floats(1, 400),
)
def test_no_waiter_is_asked_sooner_or_later_than_its_schedule_allows(
    seed: int, starts: list[float], initial: float, ceiling: float
) -> None:
    poll = PollSettings(initial_interval=initial, max_interval=max(initial, ceiling))
    r = room(poll, random.Random(seed))
    asked: dict[str, list[float]] = {}
    pending = sorted((t, f"k{i}") for i, t in enumerate(starts))
    now = 0.0
    while pending or r.next_due() is not None:
        due = r.next_due()
        if pending and (due is None or pending[0][0] <= due):
            now, key = pending.pop(0)
            r.admit(key, started=now, now=now)
            continue
        assert due is not None
        if due > 2000:
            break
        now = due
        taken = r.take(now).ask
        for key in taken:
            asked.setdefault(key, []).append(now)
        r.answered(taken, now)
    for i, start in enumerate(starts):
        times = asked[f"k{i}"]
        assert times[0] <= start + SETTLE + 1e-9
        for step, (a, b) in enumerate(itertools.pairwise(times)):
            nominal = backoff_ceiling(step, base=initial, cap=poll.max_interval)
            assert b - a >= (1 - JITTER) * nominal - 1e-6
            assert b - a <= min(poll.max_interval, (1 + JITTER) * nominal) + 1e-6


def test_a_waiter_that_waited_before_goes_on_with_its_backoff() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    # parked by turns of its own for 35 s: its waits of 5, 10 and 20 s are behind it
    r.admit("a", started=0.0, now=35.0)
    asked, _ = run(r, 300.0)
    assert asked["a"][1] - asked["a"][0] == pytest.approx(40.0)


def test_an_old_waiter_is_not_asked_at_a_young_ones_sweep_before_its_time() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.admit("old", started=0.0, now=0.0)
    run(r, 100.0)  # asked at 0.2, 5.2, 15.2, 35.2, 75.2: next at 155.2 (80 s wait)
    r.admit("young", started=100.0, now=100.0)
    asked, _ = run(r, 130.0)
    assert "old" not in asked  # its shortest wait (60 s) ends at 135.2
    assert asked["young"] == pytest.approx([100.2, 105.2, 115.2])
    asked, _ = run(r, 140.0)
    # taken along at young's sweep, 20 s before its own due time
    assert asked == {"young": [pytest.approx(135.2)], "old": [pytest.approx(135.2)]}


def test_a_waiter_out_of_time_is_handed_back_and_its_last_question_is_on_time() -> None:
    poll = PollSettings(initial_interval=5.0, max_interval=300.0, give_up_after=60.0)
    r = WaitingRoom(lambda: PollSchedule.of(poll), middle)
    r.admit("a", started=0.0, now=0.0)
    asked, _ = run(r, 59.0)
    assert asked["a"] == pytest.approx([0.2, 5.2, 15.2, 35.2])
    # the wait after 35.2 would be 40 s: cut to end at 60 s, where it expires
    assert r.next_due() == pytest.approx(60.0)
    taken = r.take(60.0)
    assert (taken.ask, taken.expired) == ((), ("a",))
    assert r.remove("a")
    assert len(r) == 0


def test_waiters_whose_time_runs_out_at_different_moments_expire_each_in_its_second() -> None:
    poll = PollSettings(initial_interval=5.0, max_interval=300.0, give_up_after=60.0)
    r = WaitingRoom(lambda: PollSchedule.of(poll), middle)
    starts = {"a": 0.0, "b": 0.4, "c": 3.0}
    for key, started in starts.items():
        r.admit(key, started=started, now=3.0)
    expired: dict[str, float] = {}
    while (due := r.next_due()) is not None:
        taken = r.take(due)
        for key in taken.expired:
            expired[key] = due
            r.remove(key)
        r.answered(taken.ask, due)
    # out of time at 60, 60.4 and 63 s: handed back within the second, none before
    for key, started in starts.items():
        assert started + 60.0 <= expired[key] < started + 61.0


def test_a_waiter_admitted_after_its_time_ran_out_expires_at_once() -> None:
    poll = PollSettings(give_up_after=60.0)
    r = room(poll)
    r.admit("a", started=0.0, now=61.0)
    assert r.take(61.0 + SETTLE).expired == ("a",)


def test_retry_after_holds_back_the_next_question() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.admit("a", started=0.0, now=0.0)
    assert r.take(SETTLE).ask == ("a",)
    r.answered(["a"], SETTLE, retry_after=30.0)
    assert r.next_due() == pytest.approx(SETTLE + 30.0)
    assert r.take(SETTLE + 29.0).ask == ()


def test_a_waiter_removed_while_asked_about_is_not_put_back() -> None:
    r = room()
    r.admit("a", started=0.0, now=0.0)
    r.admit("b", started=0.0, now=0.0)
    assert set(r.take(1.0).ask) == {"a", "b"}
    assert r.remove("a")
    r.answered(["a", "b"], 1.0)
    assert r.members() == {"b"}
    assert not r.remove("a")


def test_admitting_a_waiter_again_replaces_its_schedule() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.admit("a", started=0.0, now=0.0)
    run(r, 50.0)
    r.admit("a", started=50.0, now=50.0)
    assert len(r) == 1
    assert r.next_due() == pytest.approx(50.0 + SETTLE)
    asked, _ = run(r, 56.0)
    assert asked["a"] == pytest.approx([50.2, 55.2])


def test_the_settings_are_read_at_each_step() -> None:
    poll = [PollSettings(initial_interval=5.0)]
    r = WaitingRoom(lambda: PollSchedule.of(poll[0]), middle)
    r.admit("a", started=0.0, now=0.0)
    assert r.take(SETTLE).ask == ("a",)
    poll[0] = PollSettings(initial_interval=50.0)  # a reload
    r.answered(["a"], SETTLE)
    assert r.next_due() == pytest.approx(SETTLE + 50.0)


def test_clear_forgets_everyone() -> None:
    r = room()
    for key in "abc":
        r.admit(key, started=0.0, now=0.0)
    r.take(1.0)
    r.admit("d", started=0.0, now=0.0)
    r.clear()
    assert len(r) == 0
    assert r.next_due() is None
    assert r.take(100.0).ask == ()
