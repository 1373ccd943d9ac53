from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.transfer._plan import (
    MAX_PIECES,
    PIECE_SIZE,
    ContentRange,
    Judgement,
    Segment,
    Verdict,
    contiguous_end,
    judge_response,
    parse_content_range,
    pick_validator,
    plan_segments,
)
from downloader.transfer._policy import Limits, MiB

ETAG = '"v1"'
NEW_ETAG = '"v2"'
DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
NEW_DATE = "Thu, 22 Oct 2015 07:28:00 GMT"


# --- plan_segments ------------------------------------------------------------------------------


def assert_tiles(segments: list[Segment], total: int) -> None:
    """The segments cover [0, total) in order, without gap or overlap, none of them empty."""
    assert segments[0].start == 0
    assert segments[-1].end == total
    for before, after in pairwise(segments):
        assert before.end == after.start
    for segment in segments:
        assert segment.end is not None
        assert segment.end > segment.start
        assert segment.pos == segment.start


def test_a_large_file_is_split_into_equal_contiguous_segments() -> None:
    segments = plan_segments(
        64 * MiB, Limits(segments=4, segment_min_size=64 * MiB), ranges_supported=True
    )
    assert [(s.start, s.end) for s in segments] == [
        (0, 16 * MiB),
        (16 * MiB, 32 * MiB),
        (32 * MiB, 48 * MiB),
        (48 * MiB, 64 * MiB),
    ]


def test_a_file_larger_than_segments_pieces_is_split_into_pieces_of_at_most_piece_size() -> None:
    segments = plan_segments(
        400 * MiB, Limits(segments=4, segment_min_size=64 * MiB), ranges_supported=True
    )
    assert len(segments) == 25
    assert all(s.end is not None and s.end - s.start == PIECE_SIZE for s in segments)
    assert_tiles(segments, 400 * MiB)


def test_the_remainder_goes_one_byte_each_to_the_first_segments() -> None:
    segments = plan_segments(10, Limits(segments=4, segment_min_size=1), ranges_supported=True)
    assert [(s.start, s.end) for s in segments] == [(0, 3), (3, 6), (6, 8), (8, 10)]


def test_a_tiny_file_gets_no_more_segments_than_bytes() -> None:
    segments = plan_segments(3, Limits(segments=8, segment_min_size=0), ranges_supported=True)
    assert [(s.start, s.end) for s in segments] == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize(
    ("total", "limits", "ranges_supported"),
    [
        pytest.param(64 * MiB - 1, Limits(segments=4), True, id="below-segment-min-size"),
        pytest.param(None, Limits(segments=4, segment_min_size=0), True, id="unknown-total"),
        pytest.param(400 * MiB, Limits(segments=4), False, id="no-ranges"),
        pytest.param(400 * MiB, Limits(segments=1), True, id="one-segment-configured"),
        pytest.param(0, Limits(segments=4, segment_min_size=0), True, id="empty-file"),
    ],
)
def test_one_segment_covers_the_whole_file_when_splitting_is_impossible_or_pointless(
    total: int | None, limits: Limits, ranges_supported: bool
) -> None:
    assert plan_segments(total, limits, ranges_supported=ranges_supported) == [Segment(0, total)]


def test_a_file_of_exactly_segment_min_size_is_split() -> None:
    segments = plan_segments(64 * MiB, Limits(segments=4), ranges_supported=True)
    assert len(segments) == 4


@given(
    total=st.integers(min_value=1, max_value=10**13),
    count=st.integers(min_value=1, max_value=64),
    min_size=st.integers(min_value=0, max_value=10**13),
    ranges_supported=st.booleans(),
)
def test_plan_segments_always_tiles_the_file(
    total: int, count: int, min_size: int, ranges_supported: bool
) -> None:
    segments = plan_segments(
        total, Limits(segments=count, segment_min_size=min_size), ranges_supported=ranges_supported
    )
    assert_tiles(segments, total)
    sizes = [s.end - s.start for s in segments if s.end is not None]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)
    if ranges_supported and total >= max(min_size, 1) and count > 1:
        pieces = min(-(-total // PIECE_SIZE), MAX_PIECES)
        assert len(segments) == min(max(count, pieces), total)
    else:
        assert len(segments) == 1


# --- Segment and contiguous_end -----------------------------------------------------------------


def test_a_new_segment_starts_its_cursor_at_its_start() -> None:
    segment = Segment(100, 200)
    assert segment.pos == 100
    assert segment.remaining == 100
    assert not segment.done
    assert segment.range_header() == "bytes=100-199"


def test_the_range_header_asks_only_for_what_is_not_on_disk() -> None:
    segment = Segment(100, 200, pos=150)
    assert segment.range_header() == "bytes=150-199"
    assert segment.remaining == 50


def test_a_segment_is_done_when_its_cursor_reaches_its_end() -> None:
    segment = Segment(0, 10, pos=10)
    assert segment.done
    assert segment.remaining == 0


def test_a_segment_of_unknown_end_asks_for_everything_and_is_never_done() -> None:
    segment = Segment(0, None, pos=500)
    assert segment.range_header() == "bytes=500-"
    assert segment.remaining is None
    assert not segment.done


def test_contiguous_end_stops_at_the_first_unfinished_segment() -> None:
    segments = [Segment(0, 10, pos=10), Segment(10, 20, pos=14), Segment(20, 30, pos=30)]
    assert contiguous_end(segments) == 14


def test_contiguous_end_of_an_untouched_plan_is_zero() -> None:
    segments = plan_segments(30, Limits(segments=3, segment_min_size=0), ranges_supported=True)
    assert contiguous_end(segments) == 0


def test_contiguous_end_ignores_later_progress_past_a_hole() -> None:
    segments = [Segment(0, 10, pos=3), Segment(10, 20, pos=20)]
    assert contiguous_end(segments) == 3


def test_contiguous_end_of_a_finished_plan_is_the_total() -> None:
    segments = [Segment(0, 10, pos=10), Segment(10, 20, pos=20)]
    assert contiguous_end(segments) == 20


def test_contiguous_end_of_an_open_ended_stream_is_its_cursor() -> None:
    assert contiguous_end([Segment(0, None, pos=1234)]) == 1234


@given(
    total=st.integers(min_value=1, max_value=10**6),
    count=st.integers(min_value=1, max_value=16),
    data=st.data(),
)
def test_contiguous_end_never_passes_a_byte_that_is_not_on_disk(
    total: int, count: int, data: st.DataObject
) -> None:
    segments = plan_segments(
        total, Limits(segments=count, segment_min_size=0), ranges_supported=True
    )
    for segment in segments:
        assert segment.end is not None
        segment.pos = data.draw(st.integers(min_value=segment.start, max_value=segment.end))
    end = contiguous_end(segments)
    assert 0 <= end <= total
    # every byte before `end` is on disk ...
    for segment in segments:
        assert segment.end is not None
        if segment.start < end:
            assert segment.pos >= min(end, segment.end)
    # ... and the byte at `end`, if any, is not
    holder = [s for s in segments if s.end is not None and s.start <= end < s.end]
    assert end == total or holder[0].pos == end


# --- parse_content_range ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 0-99/100", ContentRange(0, 99, 100)),
        ("bytes 100-199/1000", ContentRange(100, 199, 1000)),
        ("bytes 0-0/1", ContentRange(0, 0, 1)),
        ("bytes 5-9/*", ContentRange(5, 9, None)),
        ("BYTES 1-2/3", ContentRange(1, 2, 3)),
        ("  bytes   7-8/9  ", ContentRange(7, 8, 9)),
    ],
)
def test_parse_content_range_reads_valid_headers(value: str, expected: ContentRange) -> None:
    assert parse_content_range(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "bytes 0-99",
        "bytes */100",
        "bytes 0-99/",
        "bytes=0-99/100",
        "items 0-99/100",
        "bytes -1-5/10",
        "bytes 0--5/10",
        "bytes a-b/c",
        "bytes 0-99/100 extra",
        "bytes 0-99/100, bytes 100-199/200",
        "bytes 0-99/-100",
        "bytes 0x10-0x20/100",
    ],
)
def test_parse_content_range_rejects_malformed_headers(value: str | None) -> None:
    assert parse_content_range(value) is None


def test_parse_content_range_rejects_an_end_before_the_start() -> None:
    assert parse_content_range("bytes 10-9/100") is None


@pytest.mark.parametrize("value", ["bytes 0-100/100", "bytes 50-150/100", "bytes 0-0/0"])
def test_parse_content_range_rejects_an_end_at_or_past_the_total(value: str) -> None:
    assert parse_content_range(value) is None


@given(
    start=st.integers(min_value=0, max_value=10**15),
    length=st.integers(min_value=1, max_value=10**15),
    tail=st.integers(min_value=0, max_value=10**15),
    known=st.booleans(),
)
def test_parse_content_range_reads_back_every_valid_header(
    start: int, length: int, tail: int, known: bool
) -> None:
    end = start + length - 1
    total = end + 1 + tail if known else None
    header = f"bytes {start}-{end}/{'*' if total is None else total}"
    assert parse_content_range(header) == ContentRange(start, end, total)


@given(st.text())
def test_parse_content_range_never_raises(value: str) -> None:
    result = parse_content_range(value)
    assert result is None or result.start <= result.end


# --- pick_validator -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "last_modified", "expected"),
    [
        pytest.param(ETAG, DATE, ETAG, id="strong-etag-wins"),
        pytest.param(ETAG, None, ETAG, id="strong-etag-alone"),
        pytest.param(f"  {ETAG} ", None, ETAG, id="strong-etag-trimmed"),
        pytest.param('""', None, '""', id="empty-strong-etag"),
        pytest.param('W/"v1"', DATE, DATE, id="weak-etag-falls-back-to-date"),
        pytest.param('W/"v1"', None, None, id="weak-etag-alone"),
        pytest.param("v1", DATE, DATE, id="unquoted-etag-falls-back-to-date"),
        pytest.param('"', DATE, DATE, id="lone-quote-falls-back-to-date"),
        pytest.param("", DATE, DATE, id="empty-etag"),
        pytest.param(None, DATE, DATE, id="date-alone"),
        pytest.param(None, f" {DATE} ", DATE, id="date-trimmed"),
        pytest.param(None, "yesterday", None, id="bad-date"),
        pytest.param('W/"v1"', "not a date", None, id="weak-etag-and-bad-date"),
        pytest.param(None, "", None, id="empty-date"),
        pytest.param(None, None, None, id="nothing"),
    ],
)
def test_pick_validator(etag: str | None, last_modified: str | None, expected: str | None) -> None:
    assert pick_validator(etag, last_modified) == expected


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_pick_validator_never_raises_and_never_picks_a_weak_etag(
    etag: str | None, last_modified: str | None
) -> None:
    validator = pick_validator(etag, last_modified)
    assert validator is None or not validator.startswith("W/")


# --- judge_response: the resume decision table --------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One response as `judge_response` sees it, and what the engine asked and knew."""

    status: int
    content_range: str | None = None
    content_length: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    asked: Segment = field(default_factory=lambda: Segment(0, None))
    known_total: int | None = None
    known_validator: str | None = None
    fresh: bool = True


def judge(answer: Answer) -> Judgement:
    return judge_response(
        answer.status,
        content_range=answer.content_range,
        content_length=answer.content_length,
        etag=answer.etag,
        last_modified=answer.last_modified,
        asked=answer.asked,
        known_total=answer.known_total,
        known_validator=answer.known_validator,
        fresh=answer.fresh,
    )


def resume(status: int, **changes: Any) -> Answer:
    """A request for bytes 400-999 of a known 1000-byte object whose ETag is `ETAG`."""
    values: dict[str, Any] = {
        "asked": Segment(0, 1000, pos=400),
        "known_total": 1000,
        "known_validator": ETAG,
        "fresh": False,
        "etag": ETAG,
    }
    values.update(changes)
    return Answer(status, **values)


RESUMED_206 = {"content_range": "bytes 400-999/1000", "content_length": "600"}

DECISIONS = [
    pytest.param(
        Answer(206, content_range="bytes 0-999/1000", content_length="1000", etag=ETAG),
        {
            "verdict": Verdict.WRITE,
            "offset": 0,
            "length": 1000,
            "total": 1000,
            "validator": ETAG,
            "ranges_supported": True,
        },
        id="fresh-206-plans-ranges",
    ),
    pytest.param(
        Answer(206, content_range="bytes 0-999/*", last_modified=DATE),
        {"verdict": Verdict.WRITE, "total": None, "validator": DATE, "ranges_supported": True},
        id="fresh-206-of-unknown-total",
    ),
    pytest.param(
        Answer(206, content_range="bytes 0-99/1000", etag=NEW_ETAG, known_validator=ETAG),
        {"verdict": Verdict.WRITE, "length": 100, "total": 1000, "validator": NEW_ETAG},
        id="fresh-206-takes-the-validator-it-finds",
    ),
    pytest.param(
        Answer(200, content_length="1000", etag=ETAG),
        {
            "verdict": Verdict.WRITE,
            "offset": 0,
            "length": 1000,
            "total": 1000,
            "validator": ETAG,
            "ranges_supported": False,
        },
        id="fresh-200-is-one-stream",
    ),
    pytest.param(
        Answer(200),
        {"verdict": Verdict.WRITE, "offset": 0, "length": None, "total": None, "validator": None},
        id="fresh-200-without-length",
    ),
    pytest.param(
        Answer(200, content_length="12", fresh=False),
        {"verdict": Verdict.WRITE, "offset": 0, "length": 12, "ranges_supported": False},
        id="repeated-first-request-200-still-streams",
    ),
    pytest.param(
        resume(206, **RESUMED_206),
        {
            "verdict": Verdict.WRITE,
            "offset": 400,
            "length": 600,
            "total": 1000,
            "validator": ETAG,
            "ranges_supported": True,
        },
        id="resume-206-matching",
    ),
    pytest.param(
        resume(206, etag=None, **RESUMED_206),
        {"verdict": Verdict.WRITE, "offset": 400, "validator": ETAG},
        id="resume-206-without-validator-keeps-the-known-one",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-999/*", content_length="600"),
        {"verdict": Verdict.WRITE, "offset": 400, "total": 1000},
        id="resume-206-of-unknown-total-keeps-the-known-total",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-599/1000", content_length="200"),
        {"verdict": Verdict.WRITE, "offset": 400, "length": 200},
        id="resume-206-shorter-than-asked",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-999/1000", asked=Segment(0, 500, pos=400)),
        {"verdict": Verdict.WRITE, "offset": 400, "length": 600},
        id="resume-206-longer-than-asked",
    ),
    pytest.param(
        resume(206, content_range="bytes 0-999/1000", content_length="1000"),
        {"verdict": Verdict.RETRY},
        id="resume-206-starting-elsewhere",
    ),
    pytest.param(
        resume(206, content_range="bytes 500-999/1000", content_length="500"),
        {"verdict": Verdict.RETRY},
        id="resume-206-starting-later",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-1199/1200", content_length="800"),
        {"verdict": Verdict.RESTART},
        id="resume-206-different-total",
    ),
    pytest.param(
        resume(206, etag=NEW_ETAG, **RESUMED_206),
        {"verdict": Verdict.RESTART},
        id="resume-206-new-etag",
    ),
    pytest.param(
        resume(206, etag=None, last_modified=NEW_DATE, known_validator=DATE, **RESUMED_206),
        {"verdict": Verdict.RESTART},
        id="resume-206-new-last-modified",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-999/1000", content_length="599"),
        {"verdict": Verdict.RETRY},
        id="resume-206-content-length-disagrees",
    ),
    pytest.param(
        Answer(206, content_range="bytes 0-999/1000", content_length="1001"),
        {"verdict": Verdict.RETRY},
        id="fresh-206-content-length-disagrees",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-999/1000", content_length="many"),
        {"verdict": Verdict.WRITE, "length": 600},
        id="resume-206-garbage-content-length-trusts-content-range",
    ),
    pytest.param(
        resume(206, content_length="600"),
        {"verdict": Verdict.RETRY},
        id="resume-206-missing-content-range",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-999", content_length="600"),
        {"verdict": Verdict.RETRY},
        id="resume-206-garbage-content-range",
    ),
    pytest.param(
        resume(206, content_range="bytes 400-1000/1000"),
        {"verdict": Verdict.RETRY},
        id="resume-206-content-range-past-total",
    ),
    pytest.param(
        Answer(206),
        {"verdict": Verdict.RETRY},
        id="fresh-206-missing-content-range",
    ),
    pytest.param(
        resume(200, content_length="1000"),
        {
            "verdict": Verdict.RESTART,
            "validator": ETAG,
            "reason": "server ignored the Range request",
        },
        id="resume-200-same-validator",
    ),
    pytest.param(
        resume(200, etag=NEW_ETAG, content_length="1000"),
        {
            "verdict": Verdict.RESTART,
            "validator": NEW_ETAG,
            "reason": "object changed (new validator)",
        },
        id="resume-200-new-validator",
    ),
    pytest.param(
        resume(200, etag=None, content_length="1000"),
        {"verdict": Verdict.RESTART, "validator": None},
        id="resume-200-without-validator",
    ),
    pytest.param(
        resume(200, asked=Segment(0, 1000, pos=0), content_length="1000"),
        {"verdict": Verdict.RESTART},
        id="retry-of-segment-0-of-a-known-total-200",
    ),
    pytest.param(resume(416), {"verdict": Verdict.RESTART}, id="resume-416"),
    pytest.param(Answer(416), {"verdict": Verdict.RESTART}, id="fresh-416"),
    *[
        pytest.param(
            resume(status, **RESUMED_206), {"verdict": Verdict.REDIRECT}, id=f"redirect-{status}"
        )
        for status in (301, 302, 303, 307, 308)
    ],
    *[
        pytest.param(resume(status), {"verdict": Verdict.FAIL}, id=f"error-{status}")
        for status in (400, 401, 403, 404, 410, 429, 500, 502, 503, 504)
    ],
    *[
        pytest.param(Answer(status), {"verdict": Verdict.FAIL}, id=f"unexpected-{status}")
        for status in (204, 304, 300)
    ],
]


@pytest.mark.parametrize(("answer", "expected"), DECISIONS)
def test_judge_response_decision_table(answer: Answer, expected: dict[str, Any]) -> None:
    judgement = judge(answer)
    actual = {name: getattr(judgement, name) for name in expected}
    assert actual == expected
    if judgement.verdict is not Verdict.WRITE:
        assert judgement.offset == 0
        assert not judgement.ranges_supported


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        pytest.param(resume(206, content_range="junk"), "'junk'", id="bad-content-range"),
        pytest.param(
            resume(206, content_range="bytes 0-999/1000"), "400", id="wrong-start-names-the-ask"
        ),
        pytest.param(
            resume(206, content_range="bytes 400-1199/1200"), "size changed", id="size-changed"
        ),
        pytest.param(resume(206, etag=NEW_ETAG, **RESUMED_206), "validator", id="etag-changed"),
        pytest.param(
            resume(206, content_range="bytes 400-999/1000", content_length="1"),
            "Content-Length 1",
            id="length-disagrees",
        ),
        pytest.param(resume(416), "not satisfiable", id="416"),
        pytest.param(resume(503), "HTTP 503", id="503"),
    ],
)
def test_judge_response_explains_every_refusal(answer: Answer, words: str) -> None:
    assert words in judge(answer).reason


@given(
    status=st.integers(min_value=100, max_value=599),
    content_range=st.one_of(st.none(), st.text(max_size=40)),
    content_length=st.one_of(st.none(), st.text(max_size=12)),
    etag=st.one_of(st.none(), st.text(max_size=12)),
    fresh=st.booleans(),
)
def test_judge_response_writes_only_2xx_bodies_and_only_at_the_cursor(
    status: int,
    content_range: str | None,
    content_length: str | None,
    etag: str | None,
    fresh: bool,
) -> None:
    asked = Segment(0, 1000, pos=0 if fresh else 400)
    judgement = judge(
        Answer(
            status,
            content_range=content_range,
            content_length=content_length,
            etag=etag,
            asked=asked,
            known_total=None if fresh else 1000,
            known_validator=None if fresh else ETAG,
            fresh=fresh,
        )
    )
    if judgement.verdict is Verdict.WRITE:
        assert status in (200, 206)
        assert judgement.offset == asked.pos
