"""The poll schedule and the poll loop, on a fake clock."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from downloader.clock import FakeClock
from downloader.config import PollSettings
from downloader.errors import ApiError, MalformedResponse, PollTimeout, RemoteJobFailed
from downloader.providers import Phase, SilentListener
from downloader.providers._poll import (
    PARK_AFTER,
    NotYet,
    Parked,
    PhaseTracker,
    Poller,
    Turn,
    Unreadable,
    attempts_after,
    polling_turn,
)
from downloader.providers._schedule import format_duration, poll_delay


def half() -> float:
    return 0.5


# ---- the schedule (pure) --------------------------------------------------------------------


def test_the_delay_doubles_from_the_initial_interval_up_to_the_cap():
    delays = [poll_delay(n, initial=5, cap=300, rand=half) for n in range(9)]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300]


def test_jitter_spreads_a_delay_by_a_quarter_either_way_but_never_past_the_cap():
    assert poll_delay(0, initial=8, cap=300, rand=lambda: 0.0) == 6
    assert poll_delay(0, initial=8, cap=300, rand=lambda: 0.999999) == pytest.approx(10, abs=1e-4)
    assert poll_delay(20, initial=8, cap=300, rand=lambda: 0.999) == 300


def test_a_rand_outside_the_unit_interval_is_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        poll_delay(0, initial=1, cap=2, rand=lambda: 1.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (172800, "48h"),
        (3600, "1h"),
        (90, "1m30s"),
        (3725, "1h2m5s"),
        (0.25, "0.25s"),
        (14 * 86400, "14d"),
        (0, "0s"),
    ],
)
def test_durations_are_written_as_people_write_poll_budgets(seconds, text):
    assert format_duration(seconds) == text


# ---- the loop -------------------------------------------------------------------------------


def poller(clock: FakeClock, *, initial=5.0, cap=300.0, give_up=172800.0) -> Poller:
    return Poller(clock, PollSettings(initial, cap, give_up), rand=half)


class Script:
    """Answers a poll with the next scripted value (raising it when it is an exception)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


async def test_polls_with_backoff_until_the_answer_is_ready():
    clock = FakeClock()
    ask = Script(NotYet("pending"), NotYet("pending"), NotYet("pending"), "url")
    assert await poller(clock).until(ask, what="package") == "url"
    assert clock.sleeps == [5, 10, 20]


async def test_a_ready_first_answer_sleeps_not_at_all():
    clock = FakeClock()
    assert await poller(clock).until(Script(42), what="package") == 42
    assert clock.sleeps == []


async def test_gives_up_after_the_budget_with_the_last_status():
    clock = FakeClock()

    async def never() -> NotYet:
        return NotYet("pending")

    with pytest.raises(PollTimeout) as caught:
        await poller(clock, initial=3600, cap=4 * 3600).until(never, what="package")
    assert str(caught.value) == "package not ready after 48h; last status: pending"
    assert sum(clock.sleeps) == 172800
    # The last wait is cut short so the final question comes exactly at the deadline.
    assert clock.sleeps[:3] == [3600, 7200, 14400]
    assert clock.sleeps[-1] == 3600


async def test_the_goal_word_says_what_was_awaited():
    clock = FakeClock()

    async def never() -> NotYet:
        return NotYet("RUNNING")

    with pytest.raises(
        PollTimeout, match=r"^Scale job 1 not finished after 1m; last status: RUNNING$"
    ):
        await poller(clock, give_up=60).until(never, what="Scale job 1", goal="finished")


async def test_transient_api_errors_are_retried_and_retry_after_is_honoured():
    clock = FakeClock()
    ask = Script(
        ApiError("HTTP 429", status=429, retryable=True, retry_after=42.0),
        ApiError("HTTP 503", status=503, retryable=True),
        ApiError("unreachable", retryable=True),
        "done",
    )
    assert await poller(clock).until(ask, what="package") == "done"
    assert clock.sleeps == [42.0, 10, 20]


async def test_a_retry_after_beyond_the_budget_is_cut_to_the_deadline():
    clock = FakeClock()
    ask = Script(ApiError("HTTP 429", status=429, retryable=True, retry_after=86400.0), "done")
    assert await poller(clock, give_up=100).until(ask, what="package") == "done"
    assert clock.sleeps == [100]


async def test_transient_errors_until_the_deadline_end_with_the_last_error():
    clock = FakeClock()

    async def down() -> str:
        raise ApiError(
            "Pixxel API GET /x: HTTP 503 Service Unavailable", status=503, retryable=True
        )

    with pytest.raises(PollTimeout) as caught:
        await poller(clock, give_up=30).until(down, what="package")
    assert str(caught.value) == (
        "package not ready after 30s; last error: Pixxel API GET /x: HTTP 503 Service Unavailable"
    )


async def test_a_timeout_message_stays_short_however_long_the_last_error():
    clock = FakeClock()

    async def down() -> str:
        raise ApiError("Pixxel API GET /x: HTTP 503: " + "overloaded " * 30, retryable=True)

    with pytest.raises(PollTimeout) as caught:
        await poller(clock, give_up=30).until(down, what="package")
    assert len(str(caught.value)) == 300
    assert str(caught.value).startswith("package not ready after 30s; last error: Pixxel API")


async def test_final_errors_end_polling_at_once():
    clock = FakeClock()
    ask = Script(NotYet("running"), ApiError("HTTP 403", status=403))
    with pytest.raises(ApiError, match="403"):
        await poller(clock).until(ask, what="job")
    ask = Script(RemoteJobFailed("job failed: boom"))
    with pytest.raises(RemoteJobFailed, match="boom"):
        await poller(clock).until(ask, what="job")
    assert clock.sleeps == [5]


LIMIT = PollSettings().unreadable_limit


async def test_a_malformed_answer_is_asked_again_a_few_times_then_fails_the_item():
    clock = FakeClock()
    bad = MalformedResponse("Pixxel job: the answer is not valid JSON (truncated)")
    ask = Script(*[bad] * LIMIT)
    with pytest.raises(MalformedResponse, match="truncated"):
        await poller(clock).until(ask, what="job")
    assert ask.calls == LIMIT
    assert len(clock.sleeps) == LIMIT - 1


def test_the_unreadable_count_reaches_its_limit_then_starts_again():
    unreadable = Unreadable()
    assert [unreadable.at_limit(3) for _ in range(4)] == [False, False, True, False]
    assert unreadable.in_a_row == 1


async def test_unknown_status_words_in_a_row_fail_the_item_naming_the_word():
    clock = FakeClock()
    ask = Script(*[NotYet("Reticulating", known=False)] * LIMIT)
    with pytest.raises(MalformedResponse) as caught:
        await poller(clock).until(ask, what="Alteryx job 7")
    assert ask.calls == LIMIT
    assert "Alteryx job 7: status 'Reticulating' is not a word we know" in str(caught.value)
    assert f"({LIMIT} unreadable answers in a row)" in str(caught.value)


async def test_the_unreadable_limit_is_the_configured_one():
    clock = FakeClock()
    ask = Script(*[MalformedResponse("bad")] * 2)
    polls = Poller(clock, PollSettings(unreadable_limit=2), rand=half)
    with pytest.raises(MalformedResponse, match="bad"):
        await polls.until(ask, what="job")
    assert ask.calls == 2


async def test_unreadable_answers_are_counted_across_the_turns_of_an_item():
    # each turn of a parked item polls once, with a new poller: the count is the item's
    clock = FakeClock()
    turn = Turn(clock.monotonic())
    for _ in range(LIMIT - 1):
        with polling_turn(turn), pytest.raises(Parked):
            await poller(clock).until(Script(MalformedResponse("login page")), what="job")
    with polling_turn(turn), pytest.raises(MalformedResponse, match="login page"):
        await poller(clock).until(Script(MalformedResponse("login page")), what="job")


async def test_transient_errors_neither_count_as_unreadable_nor_end_a_run_of_them():
    clock = FakeClock()
    bad = MalformedResponse("bad")
    busy = ApiError("HTTP 503", status=503, retryable=True)
    ask = Script(*[bad, busy] * (LIMIT - 1), bad)
    with pytest.raises(MalformedResponse):
        await poller(clock).until(ask, what="job")
    assert ask.calls == 2 * LIMIT - 1


async def test_a_good_answer_between_malformed_ones_resets_the_count():
    clock = FakeClock()
    bad = MalformedResponse("bad")
    ask = Script(bad, bad, NotYet("running"), bad, bad, "ok")
    assert await poller(clock).until(ask, what="job") == "ok"


async def test_an_unknown_status_is_logged_once_and_polled_on():
    clock = FakeClock()
    ask = Script(
        NotYet("reticulating-splines", known=False),
        NotYet("reticulating-splines", known=False),
        NotYet("running"),
        NotYet("warming-up", known=False),
        "ok",
    )
    with capture_logs() as logs:
        assert await poller(clock).until(ask, what="Pixxel job wf/j") == "ok"
    unknown = [e for e in logs if e["event"] == "provider.unknown_status"]
    assert [(e["status"], e["log_level"]) for e in unknown] == [
        ("reticulating-splines", "warning"),
        ("warming-up", "warning"),
    ]


async def test_call_retries_transient_errors_only():
    clock = FakeClock()
    ask = Script(ApiError("HTTP 502", status=502, retryable=True), {"id": "d"})
    assert await poller(clock).call(ask, what="download request") == {"id": "d"}
    assert clock.sleeps == [5]


class Recorder:
    def __init__(self) -> None:
        self.phases: list[tuple[str, str]] = []

    async def phase(self, name, detail=""):
        self.phases.append((name, detail))


async def test_the_phase_tracker_reports_only_changes():
    recorder = Recorder()
    tracker = PhaseTracker(recorder)
    steps: list[tuple[Phase, str]] = [
        ("waiting", "running"),
        ("waiting", "running"),
        ("waiting", "queued"),
        ("requested", ""),
        ("preparing", "pending"),
        ("preparing", "pending"),
    ]
    for name, detail in steps:
        await tracker.enter(name, detail)
    assert recorder.phases == [
        ("waiting", "running"),
        ("waiting", "queued"),
        ("requested", ""),
        ("preparing", "pending"),
    ]
    await PhaseTracker(SilentListener()).enter("waiting")


# ---- polling in turns: a long wait parks the item ---------------------------------------------


def test_the_waits_that_fit_in_a_time_waited_are_counted_to_the_nearest():
    # waits of 5, 10, 20, 40 s end at 5, 15, 35, 75 s
    assert [attempts_after(t, 5) for t in (0, 5, 15, 35, 75)] == [0, 1, 2, 3, 4]
    # a jittered schedule (a quarter either way) still counts the same
    assert [attempts_after(t, 5) for t in (3.75, 6.25, 11.25, 18.75, 26.25, 43.75)] == [
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert attempts_after(-1, 5) == 0
    assert attempts_after(10, 0) == 0


async def test_in_a_turn_a_long_wait_parks_the_item_instead_of_sleeping():
    clock = FakeClock()
    ask = Script(NotYet("running"))
    with polling_turn(Turn(clock.monotonic())), pytest.raises(Parked) as caught:
        await poller(clock).until(ask, what="job 1", goal="finished")
    assert caught.value.delay == 5
    assert (caught.value.what, caught.value.last) == ("job 1", "last status: running")
    assert clock.sleeps == []
    assert ask.calls == 1


async def test_a_later_turn_takes_the_backoff_up_where_the_time_waited_says():
    clock = FakeClock()
    since = clock.monotonic()
    clock.advance(35)  # waited 5, 10 and 20 s in three earlier turns
    with polling_turn(Turn(since)), pytest.raises(Parked) as caught:
        await poller(clock).until(Script(NotYet("running")), what="job 1")
    assert caught.value.delay == 40


async def test_short_waits_are_slept_within_the_turn():
    clock = FakeClock()
    ask = Script(NotYet("pending"), NotYet("pending"), "url")
    with polling_turn(Turn(clock.monotonic())):
        assert await poller(clock, initial=PARK_AFTER / 4).until(ask, what="package") == "url"
    assert clock.sleeps == [PARK_AFTER / 4, PARK_AFTER / 2]


async def test_the_budget_counts_the_waits_of_earlier_turns():
    clock = FakeClock()
    since = clock.monotonic()
    clock.advance(50)
    with polling_turn(Turn(since)), pytest.raises(Parked) as caught:
        await poller(clock, initial=5, cap=300, give_up=60).until(Script(NotYet("x")), what="j")
    assert caught.value.delay == 10  # cut to the deadline, 60 s after `since`
    clock.advance(10)
    with polling_turn(Turn(since)), pytest.raises(PollTimeout, match="after 1m; last status: x"):
        await poller(clock, give_up=60).until(Script(NotYet("x")), what="j")


async def test_an_unknown_status_is_warned_about_once_across_turns_each_with_its_poller():
    clock = FakeClock()
    turn = Turn(clock.monotonic())
    with capture_logs() as logs:
        for _ in range(3):
            with polling_turn(turn), pytest.raises(Parked):
                await poller(clock).until(Script(NotYet("Odd", known=False)), what="job 1")
    assert [e["event"] for e in logs].count("provider.unknown_status") == 1


async def test_an_unknown_status_is_warned_about_once_across_turns():
    clock = FakeClock()
    polls = poller(clock)
    with capture_logs() as logs:
        for _ in range(3):
            with polling_turn(Turn(clock.monotonic())), pytest.raises(Parked):
                await polls.until(Script(NotYet("Frobnicating", known=False)), what="job 1")
    assert [e["event"] for e in logs].count("provider.unknown_status") == 1
