"""A stream's life as a pure state machine: events in, actions out, no event loop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.errors import (
    HTTPStatusError,
    NetworkError,
    ObjectChanged,
    ProtocolViolation,
    StallTimeout,
    URLExpired,
)
from downloader.transfer._events import (
    Answered,
    Ask,
    BodyEnded,
    Event,
    Failed,
    Finished,
    Over,
    Renew,
    Renewed,
    Sleep,
    Stream,
    Waited,
    Wrote,
)
from downloader.transfer._life import EDGES, Known, LifeError, Phase, StreamLife
from downloader.transfer._plan import Segment
from downloader.transfer._policy import RetryPolicy

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(attempts=3, backoff_base=1.0, backoff_cap=8.0)
ETAG = '"v1"'


def probe(*, signed: bool = False) -> StreamLife:
    return StreamLife(
        Segment(0, None), Known(signed=signed), POLICY, lambda: NOW, lambda: 0.5, fresh=True
    )


def segment(
    start: int = 100, end: int = 200, pos: int | None = None, *, ranges: bool = True
) -> StreamLife:
    known = Known(total=1000, validator=ETAG, ranges_supported=ranges)
    cursor = start if pos is None else pos
    return StreamLife(Segment(start, end, cursor), known, POLICY, lambda: NOW, lambda: 0.5)


def test_the_probe_asks_for_everything_without_a_validator() -> None:
    assert probe().first() == Ask("bytes=0-", None)


def test_a_206_to_the_probe_streams_and_tells_the_object() -> None:
    life = probe()
    life.first()
    action = life.step(Answered(206, "bytes 0-999/1000", "1000", ETAG))
    assert isinstance(action, Stream)
    judged = action.judgement
    assert (judged.total, judged.validator, judged.ranges_supported) == (1000, ETAG, True)
    assert life.phase is Phase.STREAMING


def test_a_200_to_the_probe_streams_one_body_without_ranges() -> None:
    action = probe().step(Answered(200, content_length="10"))
    assert isinstance(action, Stream)
    assert (action.judgement.total, action.judgement.ranges_supported) == (10, False)


def test_a_416_to_the_probe_is_an_empty_object_or_fails() -> None:
    empty = probe().step(Answered(416, "bytes */0"))
    assert isinstance(empty, Stream)
    assert empty.judgement.total == 0
    life = probe()
    refused = life.step(Answered(416, "bytes */1000"))
    assert isinstance(refused, Over)
    assert not refused.restart
    assert isinstance(refused.error, HTTPStatusError)
    assert "empty object" in str(refused.error)
    assert life.phase is Phase.OVER


def test_a_206_that_breaks_the_rules_is_retried_after_a_backoff() -> None:
    life = probe()
    action = life.step(Answered(206, "bytes 5-9/10"))
    assert action == Sleep(0.5)  # full jitter: half of the first ceiling (1 s)
    assert life.step(Waited()) == Ask("bytes=0-", None)


def test_a_retry_after_is_waited_for_and_the_budget_runs_out() -> None:
    life = probe()
    assert life.step(Answered(503, retry_after="7")) == Sleep(7.0)
    life.step(Waited())
    assert life.step(Answered(429)) == Sleep(1.0)  # 0.5 x the second ceiling
    life.step(Waited())
    assert life.step(Answered(500)) == Sleep(2.0)
    life.step(Waited())
    last = life.step(Answered(500, detail="oops"))
    assert isinstance(last, Over)
    assert isinstance(last.error, HTTPStatusError)
    assert last.error.status == 500
    assert "oops" in str(last.error)


def test_a_final_status_gives_up_at_once() -> None:
    action = probe().step(Answered(404))
    assert isinstance(action, Over)
    assert isinstance(action.error, HTTPStatusError)
    assert not action.error.retryable


def test_a_refused_signed_url_is_renewed_and_asked_again() -> None:
    life = probe(signed=True)
    assert life.step(Answered(403, detail="Request has expired")) == Renew(
        403, "Request has expired"
    )
    assert life.phase is Phase.RENEWING
    assert life.step(Renewed(True)) == Ask("bytes=0-", None)


def test_a_signed_url_that_may_not_be_renewed_again_gives_up_as_expired() -> None:
    life = probe(signed=True)
    life.step(Answered(410, detail="gone"))
    action = life.step(Renewed(False))
    assert isinstance(action, Over)
    assert isinstance(action.error, URLExpired)
    assert (action.error.status, action.error.detail) == (410, "gone")


def test_a_403_on_a_plain_url_is_final() -> None:
    action = probe().step(Answered(403))
    assert isinstance(action, Over)
    assert isinstance(action.error, HTTPStatusError)


def test_a_resume_asks_for_its_range_with_the_validator() -> None:
    assert segment(100, 200, 150).first() == Ask("bytes=150-199", ETAG)


@pytest.mark.parametrize(
    "answer",
    [
        Answered(200, content_length="1000", etag=ETAG),  # ranges ignored
        Answered(200, content_length="1000", etag='"v2"'),  # the object changed
        Answered(206, "bytes 150-199/1000", "50", '"v2"'),  # a new validator
        Answered(206, "bytes 150-199/2000", "50", ETAG),  # a new size
        Answered(416, "bytes */100"),
    ],
)
def test_an_answer_that_cannot_continue_the_bytes_starts_over(answer: Answered) -> None:
    life = segment(100, 200, 150)
    life.first()
    action = life.step(answer)
    assert isinstance(action, Over)
    assert action.restart
    assert isinstance(action.error, ObjectChanged)
    assert life.phase is Phase.OVER


def test_a_segment_streams_to_its_end_and_is_done() -> None:
    life = segment(100, 200, 150)
    life.first()
    action = life.step(Answered(206, "bytes 150-199/1000", "50", ETAG))
    assert isinstance(action, Stream)
    assert action.judgement.offset == 150
    assert life.step(Wrote(30)) is None
    assert life.step(Wrote(20)) is None
    assert life.step(BodyEnded()) == Finished()
    assert life.segment.done


def test_a_body_that_ends_short_is_retried_where_it_ended_and_progress_resets_the_budget() -> None:
    life = segment(0, 100)
    life.first()
    for _ in range(POLICY.attempts + 2):  # more failures than the budget, each with progress
        life.step(Answered(206, f"bytes {life.segment.pos}-99/1000", etag=ETAG))
        life.step(Wrote(10))
        assert isinstance(life.step(BodyEnded()), Sleep)
        assert life.step(Waited()) == Ask(f"bytes={life.segment.pos}-99", ETAG)
    assert life.budget.attempts == 1


def test_a_body_of_unknown_length_ends_the_file_where_it_ends() -> None:
    life = probe()
    life.step(Answered(200))
    life.step(Wrote(42))
    assert life.step(BodyEnded()) == Finished()
    assert (life.segment.end, life.known.total) == (42, 42)


def test_a_host_never_reached_is_left_to_the_items_schedule_until_a_byte_came() -> None:
    down = NetworkError("refused", reached=False)
    assert probe().step(Failed(down)) == Over(down)
    life = segment(0, 100)
    life.first()
    life.step(Answered(206, "bytes 0-99/1000", etag=ETAG))
    life.step(Wrote(10))
    assert isinstance(life.step(Failed(StallTimeout(60))), Sleep)
    life.step(Waited())
    assert isinstance(life.step(Failed(down)), Sleep)  # it did answer before


def test_a_retryable_failure_without_ranges_starts_over() -> None:
    life = segment(0, 1000, ranges=False)
    life.first()
    life.step(Answered(206, "bytes 0-999/1000", etag=ETAG))
    action = life.step(Failed(ProtocolViolation("cut")))
    assert isinstance(action, Over)
    assert action.restart
    assert str(action.error) == "cut; server does not support ranges"


def test_an_event_the_phase_does_not_take_is_refused() -> None:
    life = probe()
    with pytest.raises(LifeError, match="Wrote while asking"):
        life.step(Wrote(1))
    life.step(Answered(404))
    with pytest.raises(LifeError, match="Waited while over"):
        life.step(Waited())


EVENTS = st.sampled_from(
    [
        Answered(206, "bytes 100-199/1000", "100", ETAG),
        Answered(200, content_length="1000", etag=ETAG),
        Answered(503),
        Answered(403),
        Answered(404),
        Wrote(10),
        BodyEnded(),
        Failed(StallTimeout(1)),
        Failed(NetworkError("reset")),
        Waited(),
        Renewed(True),
        Renewed(False),
    ]
)


@given(st.lists(EVENTS, max_size=30), st.booleans())
def test_every_step_follows_the_table(events: list[Event], signed: bool) -> None:
    life = segment(100, 200)
    life.known.signed = signed
    life.first()
    for event in events:
        before = life.phase
        allowed = EDGES.get((before, type(event)))
        if allowed is None:
            with pytest.raises(LifeError):
                life.step(event)
            continue
        life.step(event)
        assert life.phase in allowed
        assert life.segment.start <= life.segment.pos
