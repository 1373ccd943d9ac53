from __future__ import annotations

from datetime import UTC, datetime

import pytest

from downloader.emulator._ranges import (
    ByteRange,
    Unsatisfiable,
    format_http_date,
    is_if_range_satisfied,
    parse_range,
)

MODIFIED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, ByteRange(0, 5)),
        ("BYTES = 2 - 3", 10, ByteRange(2, 4)),
        ("bytes=7-", 10, ByteRange(7, 10)),
        ("bytes=5-100", 10, ByteRange(5, 10)),
        ("bytes=-3", 10, ByteRange(7, 10)),
        ("bytes=-30", 10, ByteRange(0, 10)),
        ("bytes=10-", 10, Unsatisfiable()),
        ("bytes=-0", 10, Unsatisfiable()),
        ("bytes=0-", 0, Unsatisfiable()),
        ("bytes=-5", 0, None),
        ("bytes=4-3", 10, None),
        ("bytes=0-1,3-4", 10, None),
        ("bytes=-", 10, None),
        ("bytes=x-1", 10, None),
        ("lines=0-1", 10, None),
    ],
)
def test_parse_range_table(header, size, expected) -> None:
    assert parse_range(header, size) == expected


def test_content_range_values() -> None:
    assert ByteRange(5, 10).content_range(10) == "bytes 5-9/10"
    assert ByteRange(5, 10).content_range(10, shift=1024) == "bytes 1029-1033/10"
    assert Unsatisfiable().content_range(10) == "bytes */10"


@pytest.mark.parametrize(
    ("if_range", "etag", "expected"),
    [
        (None, '"a"', True),
        ('"a"', '"a"', True),
        ('"b"', '"a"', False),
        ('W/"a"', 'W/"a"', False),
        ('"a"', 'W/"a"', False),
        ('"a"', None, False),
        ("Thu, 01 Jan 2026 12:00:00 GMT", '"a"', True),
        ("Thu, 01 Jan 2026 12:00:01 GMT", '"a"', False),
        ("not a date", '"a"', False),
    ],
)
def test_if_range_compares_strong_etags_and_exact_dates(if_range, etag, expected) -> None:
    assert is_if_range_satisfied(if_range, etag, MODIFIED) is expected


def test_if_range_date_without_last_modified_never_matches() -> None:
    assert not is_if_range_satisfied("Thu, 01 Jan 2026 12:00:00 GMT", None, None)


def test_http_dates_are_imf_fixdates_in_gmt() -> None:
    assert format_http_date(MODIFIED) == "Thu, 01 Jan 2026 12:00:00 GMT"
