"""What a file host answers to `Range` and `If-Range`: pure decisions, no I/O.

Belongs here: parsing of the request headers that select part of a representation,
and HTTP date formatting.  Never import aiohttp or anything that touches a socket.

Only single byte ranges are honoured.  A malformed `Range` or one naming several
ranges is ignored (the whole representation is sent with 200), which RFC 9110
allows and which is what most object stores do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ByteRange:
    """The satisfiable part `[start, end)` of a representation."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, total: int, shift: int = 0) -> str:
        """The `Content-Range` value, optionally shifted by `shift` bytes (a fault)."""
        return f"bytes {self.start + shift}-{self.end - 1 + shift}/{total}"


@dataclass(frozen=True)
class Unsatisfiable:
    """A well-formed range that selects nothing: answer 416."""

    def content_range(self, total: int) -> str:
        return f"bytes */{total}"


def parse_range(header: str | None, size: int) -> ByteRange | Unsatisfiable | None:
    """The range `header` selects from `size` bytes; None means "send it all with 200"."""
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None  # malformed, another unit, or several ranges
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return Unsatisfiable()
        if size == 0:
            return None  # nothing to select from; the empty 200 is the honest answer
        return ByteRange(max(0, size - suffix), size)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid range-spec: RFC 9110 says ignore the header
    if start >= size:
        return Unsatisfiable()
    end = size if not last else min(size, int(last) + 1)
    return ByteRange(start, end)


def is_if_range_satisfied(
    if_range: str | None, etag: str | None, last_modified: datetime | None
) -> bool:
    """Whether a `Range` may be honoured given the request's `If-Range`.

    An entity tag must match strongly (weak tags never match); a date must equal
    `Last-Modified` exactly, to the second.
    """
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return (
            etag is not None
            and not etag.startswith("W/")
            and not value.startswith("W/")
            and value == etag
        )
    if last_modified is None:
        return False
    try:
        asked = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    if asked.tzinfo is None:
        asked = asked.replace(tzinfo=UTC)
    return asked == last_modified.replace(microsecond=0)


def format_http_date(moment: datetime) -> str:
    """`moment` as an IMF-fixdate, e.g. `Thu, 01 Jan 2026 12:00:00 GMT`."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)
