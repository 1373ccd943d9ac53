"""A source's listing of the very jobs that wait counts as their question (`WaitingRoom.heard`).
Pure: no event loop, times given, the jitter fixed."""

from __future__ import annotations

import pytest

from downloader.config import PollSettings
from downloader.providers._schedule import PollSchedule
from downloader.runners._waitroom import LISTING_GRACE, SETTLE, WaitingRoom, wait_after_listing

POLL = PollSettings(initial_interval=5.0, max_interval=300.0, give_up_after=172800.0)
SCHEDULE = PollSchedule.of(POLL)


def middle() -> float:
    return 0.5  # no jitter: each wait is its nominal length


def top() -> float:
    return 0.999  # the longest each wait can be


@pytest.mark.parametrize(
    ("step", "next_in", "expected"),
    [
        # the listing comes within the wait's jitter: it is the next question
        (1, 10.0, (10.0 + LISTING_GRACE, 10.0 + LISTING_GRACE)),
        (2, 15.0, (15.0 + LISTING_GRACE, 15.0 + LISTING_GRACE)),
        (2, 25.0, (25.0 + LISTING_GRACE, 25.0 + LISTING_GRACE)),
        # at the ceiling too, though no jitter reaches past it
        (9, 300.0, (300.0 + LISTING_GRACE, 300.0 + LISTING_GRACE)),
        # sooner or later than the jitter allows, or not known: the schedule's own wait
        (2, 5.0, (15.0, 20.0)),
        (1, 40.0, (7.5, 10.0)),
        (3, None, (30.0, 40.0)),
    ],
)
def test_the_wait_after_a_listing_is_the_listings_next_time_within_the_jitter(
    step: int, next_in: float | None, expected: tuple[float, float]
) -> None:
    assert wait_after_listing(SCHEDULE, step, next_in, middle) == pytest.approx(expected)


def test_a_listing_answers_the_waiters_it_shows_running_and_no_others() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    for key in ("a", "b"):
        r.admit(key, started=0.0, now=0.0)
    r.answered(r.take(SETTLE).ask, SETTLE)  # both next due at 5.2
    assert r.heard(["a", "not-here"], [], 5.0, next_in=10.0) == []
    assert r.take(5.2).ask == ("b",)  # a is left to the next listing
    assert r.next_due() == pytest.approx(15.0 + LISTING_GRACE)
    r.answered(["b"], 5.2)
    assert r.take(15.2).ask == ("b",)  # not swept in with b's cohort before the listing
    assert r.take(15.0 + LISTING_GRACE).ask == ("a",)


def test_waiters_a_listing_answers_at_each_step_are_never_asked_by_the_room() -> None:
    # the source's schedule: listed at 0 (its jobs were new), then 5, 15, 35 ... s later
    r = WaitingRoom(lambda: PollSchedule.of(POLL), top)
    r.admit("a", started=0.2, now=0.2)
    r.answered(r.take(0.2 + SETTLE).ask, 0.4)  # the first question: a survey
    sweeps: list[float] = []
    listing, interval = 5.0, 10.0
    while listing < 2000.0:
        while (due := r.next_due()) is not None and due <= listing:
            sweeps.append(due)
            r.answered(r.take(due).ask, due)
        r.heard(["a"], [], listing, next_in=interval)
        listing, interval = listing + interval, min(interval * 2, POLL.max_interval)
    assert sweeps == []


def test_when_the_listing_does_not_come_the_room_asks_after_the_grace() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.admit("a", started=0.0, now=0.0)
    r.answered(r.take(SETTLE).ask, SETTLE)
    r.heard(["a"], [], 16.0, next_in=20.0)  # waited 16 s: its wait is the 20 s one
    assert r.take(36.0 + LISTING_GRACE - 0.1).ask == ()
    assert r.take(36.0 + LISTING_GRACE).ask == ("a",)


def test_a_waiter_being_asked_about_is_left_to_that_question() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.admit("a", started=0.0, now=0.0)
    assert r.take(SETTLE).ask == ("a",)
    assert r.heard(["a"], ["b"], 1.0, next_in=5.0) == []
    assert r.set_aside() == {"a"}  # still set aside, answered by its survey
    r.answered(["a"], 1.0)
    assert r.next_due() == pytest.approx(6.0)


def test_a_waiter_whose_time_runs_out_before_the_next_listing_keeps_its_last_question() -> None:
    poll = PollSettings(initial_interval=5.0, max_interval=300.0, give_up_after=30.0)
    r = WaitingRoom(lambda: PollSchedule.of(poll), middle)
    r.admit("a", started=0.0, now=0.0)
    r.answered(r.take(SETTLE).ask, SETTLE)
    r.answered(r.take(5.2).ask, 5.2)
    r.answered(r.take(15.2).ask, 15.2)  # its last question: when 30 s run out
    r.heard(["a"], [], 20.0, next_in=20.0)
    taken = r.take(30.0)
    assert taken.expired == ("a",)


def test_the_waiters_a_listing_shows_not_running_are_handed_back() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    for key in ("a", "b", "c"):
        r.admit(key, started=0.0, now=0.0)
    assert r.heard(["a"], ["b", "elsewhere"], 0.1, next_in=5.0) == ["b"]
    assert "b" in r  # the caller hands it back (and removes it)
    assert r.take(SETTLE).ask == ("b", "c")  # a was answered by the listing


def test_a_job_listed_running_before_it_came_in_takes_that_listing_as_its_question() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.heard(["a", "b", "c"], [], 10.0, next_in=5.0)  # the listing that added them
    for key in ("a", "b"):
        r.admit(key, started=10.5, now=10.5)
    assert r.take(10.5 + SETTLE).ask == ()  # no survey of what was just listed
    assert r.next_due() == pytest.approx(15.0 + LISTING_GRACE)
    r.heard(["a", "b"], [], 15.0, next_in=10.0)  # the next listing answers again
    assert r.next_due() == pytest.approx(25.0 + LISTING_GRACE)
    # an answer whose next listing (and its grace) is past does not count: asked as usual
    r.admit("c", started=21.0, now=21.0)
    assert r.take(21.0 + SETTLE).ask == ("c",)


def test_a_job_listed_not_running_since_comes_in_as_usual() -> None:
    r = WaitingRoom(lambda: PollSchedule.of(POLL), middle)
    r.heard(["a"], [], 10.0, next_in=5.0)
    r.heard([], ["a"], 11.0, next_in=5.0)
    r.admit("a", started=11.5, now=11.5)
    assert r.take(11.5 + SETTLE).ask == ("a",)
