"""The course of a whole transfer: plan, records, restarts, refetches, what is kept, and
whether the bytes are the file; pure decisions, no event loop."""

from __future__ import annotations

import hashlib

import pytest

from downloader.errors import (
    DigestMismatch,
    EncodedBody,
    ErrorBody,
    HTTPStatusError,
    NetworkError,
    ObjectChanged,
    SizeMismatch,
    StallTimeout,
    TransferError,
    UnsafeRedirect,
    URLExpired,
)
from downloader.transfer._course import (
    SAVE_EVERY,
    Course,
    Next,
    Record,
    Recorder,
    is_whole_body,
    late_algorithms,
    needs_follower,
    plan_transfer,
    room_needed,
    verify,
)
from downloader.transfer._plan import Judgement, Segment, Verdict
from downloader.transfer._policy import GiB, KiB, Limits, MiB, RetryPolicy


def judged(total: int | None, *, ranges: bool = True) -> Judgement:
    return Judgement(Verdict.WRITE, total=total, validator='"v"', ranges_supported=ranges)


def test_a_large_file_with_ranges_is_split_and_its_cursors_saved() -> None:
    plan = plan_transfer(judged(1 * GiB), Limits(segments=4, segment_min_size=64 * MiB))
    assert len(plan.segments) == 64  # pieces of 16 MiB
    assert (plan.keeps_checkpoint, plan.is_small) == (True, False)
    assert plan.save_every == 4 * MiB  # 1/256 of the file


@pytest.mark.parametrize(
    ("total", "ranges", "pieces", "keeps", "small"),
    [
        (1 * GiB, False, 1, True, False),  # no ranges: one stream
        (None, True, 1, True, False),  # size unknown: one stream, cursors kept
        (SAVE_EVERY - 1, True, 1, False, False),  # cheaper to fetch again than to save
        (256 * KiB, True, 1, False, True),  # hashed on the loop
    ],
)
def test_what_the_first_answer_plans(
    total: int | None, ranges: bool, pieces: int, keeps: bool, small: bool
) -> None:
    plan = plan_transfer(judged(total, ranges=ranges), Limits())
    assert (len(plan.segments), plan.keeps_checkpoint, plan.is_small) == (pieces, keeps, small)
    assert plan.save_every == SAVE_EVERY or total is not None


def test_written_bytes_call_for_a_save_then_a_checkpoint_by_bytes_and_by_time() -> None:
    recorder = Recorder(save_every=2 * MiB, checkpoint_every=8 * MiB, checkpoint_interval=0.5)
    assert recorder.wrote(1 * MiB, now=0.01) is None
    assert recorder.wrote(1 * MiB, now=0.02) is Record.SAVE
    recorder.saved(0.02)
    assert recorder.wrote(1 * MiB, now=0.08) is Record.SAVE  # 60 ms since the last save
    recorder.saved(0.08)
    assert recorder.wrote(5 * MiB, now=0.09) is Record.SYNC  # 8 MiB since the checkpoint
    recorder.synced(0.09)
    assert recorder.wrote(1, now=0.10) is None
    assert recorder.wrote(1, now=0.60) is Record.SYNC  # half a second since the checkpoint


def test_restarts_are_counted_and_end_as_object_changed() -> None:
    course = Course(RetryPolicy(restarts=2))
    assert course.after_restart("validator changed", None) == (Next.START_OVER, None)
    assert course.after_restart("validator changed", None) == (Next.START_OVER, None)
    step, error = course.after_restart("object size changed", "http://h/f")
    assert step is Next.END
    assert isinstance(error, ObjectChanged)
    assert str(error) == "gave up after 3 restarts: object size changed"


def test_a_failed_verification_refetches_within_its_budget() -> None:
    course = Course(RetryPolicy(verify_attempts=2))
    wrong = SizeMismatch(10, 9)
    assert course.after(wrong) is Next.REFETCH
    assert course.after(wrong) is Next.REFETCH
    assert course.after(wrong) is Next.END
    assert course.refetches == [str(wrong)] * 2


@pytest.mark.parametrize(
    "error",
    [
        EncodedBody("gzip", SizeMismatch(10, 9)),
        ErrorBody("x", status=200, content_type=None, excerpt=""),
    ],
)
def test_a_coded_body_or_an_error_page_is_not_fetched_again(error: TransferError) -> None:
    course = Course(RetryPolicy())
    assert course.after(error) is Next.END
    assert course.refetches == []
    assert not Course.keeps_files(error)


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        (StallTimeout(60), True),
        (NetworkError("reset"), True),
        (HTTPStatusError(503, retryable=True), True),
        (URLExpired(403), True),  # a fresh URL goes on from the bytes on disk
        (HTTPStatusError(404), False),
        (UnsafeRedirect("file:///etc/passwd"), False),
        (ObjectChanged("gave up"), False),
        (DigestMismatch("sha256", "a", "b", source="caller"), False),
    ],
)
def test_which_failures_keep_the_work_files_for_a_resume(error: TransferError, kept: bool) -> None:
    assert Course.keeps_files(error) is kept


def test_renewals_without_a_byte_in_between_are_limited() -> None:
    course = Course(RetryPolicy(url_refreshes=2))
    assert [course.may_renew() for _ in range(3)] == [True, True, False]
    course.wrote()
    assert course.may_renew()


def test_the_bytes_are_the_file_only_when_every_size_and_digest_agrees() -> None:
    data = b"hello"
    actual = {"sha256": hashlib.sha256(data).digest(), "md5": hashlib.md5(data).digest()}
    good = [("sha256", hashlib.sha256(data).hexdigest(), "caller")]
    good.append(("md5", hashlib.md5(data).hexdigest(), "Content-MD5"))

    def check(**kw: object) -> object:
        args: dict[str, object] = {
            "told": (5, None),
            "hashed": 5,
            "expected": good,
            "actual": actual,
            "url": None,
        }
        args.update(kw)
        return verify(5, **args)  # type: ignore[arg-type]

    assert check() is None
    told = check(told=(5, 6))
    assert isinstance(told, SizeMismatch)
    assert (told.expected, told.actual) == (6, 5)
    assert isinstance(check(hashed=4), SizeMismatch)
    wrong = check(expected=[("md5", "00" * 16, "Content-MD5")])
    assert isinstance(wrong, DigestMismatch)
    assert "Content-MD5" in str(wrong)


def test_digests_offered_after_the_first_answer_are_hashed_in_one_more_pass() -> None:
    expected = [("sha256", "a", "caller"), ("crc32c", "b", "x-goog-hash")]
    assert late_algorithms(expected, {"sha256", "md5"}) == {"crc32c"}


def test_the_room_a_file_still_needs_and_who_hashes_its_bytes() -> None:
    fresh = [Segment(0, 100), Segment(100, 200)]
    resumed = [Segment(0, 200, 50)]
    assert room_needed(200, fresh) == 200
    assert room_needed(200, resumed) == 150
    assert room_needed(None, resumed) is None
    assert needs_follower(fresh)  # the second segment's bytes land before the prefix
    assert needs_follower(resumed)  # the bytes on disk were never handed over
    assert not needs_follower([Segment(0, 200)])


@pytest.mark.parametrize(
    ("offset", "length", "total", "whole"),
    [(0, 10, 10, True), (0, 5, 10, False), (5, 5, 10, False), (0, None, None, True)],
)
def test_body_digests_count_only_for_a_body_that_is_the_whole_file(
    offset: int, length: int | None, total: int | None, whole: bool
) -> None:
    judgement = Judgement(Verdict.WRITE, offset=offset, length=length, total=total)
    assert is_whole_body(judgement, total) is whole
