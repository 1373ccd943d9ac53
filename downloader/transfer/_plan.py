"""Segment planning and resume decisions: the pure core of the transfer engine.

Theory of operation
-------------------
A file is fetched as one or more *segments*, contiguous byte ranges `[start, end)`
that together cover the file in order.  Each segment has a cursor `pos`: every
byte before it is on disk.  Segments are written in place at their offsets, so
there is no merge pass, and a checkpoint of the cursors is all a restart needs.

The first request of a fresh transfer asks for `bytes=0-`.  Its answer decides
the plan: a 206 with a total tells us ranges work, so a large file is split and
the first response keeps streaming segment 0; a 200 means one stream.

Every later request asks for `bytes=pos-(end-1)` with `If-Range: <validator>`
(strong ETag, else Last-Modified).  Only a 206 whose Content-Range starts at
`pos` and matches the known total may be written.  A 200 means the object
changed or the server ignores ranges: either way the bytes on disk cannot be
stitched to it, so the transfer restarts from zero.  No byte of a non-2xx
answer is ever written.

This module imports no network, event-loop, database or file-system code.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from downloader.transfer._policy import Limits


@dataclass
class Segment:
    """A byte range `[start, end)` of the file and the cursor of what is on disk."""

    start: int
    end: int | None  # None: total unknown, read until the body ends
    pos: int = -1

    def __post_init__(self) -> None:
        if self.pos < 0:
            self.pos = self.start

    @property
    def done(self) -> bool:
        return self.end is not None and self.pos >= self.end

    @property
    def remaining(self) -> int | None:
        return None if self.end is None else self.end - self.pos

    def range_header(self) -> str:
        if self.end is None:
            return f"bytes={self.pos}-"
        return f"bytes={self.pos}-{self.end - 1}"


PIECE_SIZE = 16 * 1024 * 1024
"""Largest segment of a split file.  A file is split into many such pieces, fetched
`Limits.segments` at a time in file order, so that the contiguous prefix on disk
(which the hasher follows) grows steadily and hashing overlaps the download; with
one large range per connection most of the file would be hashed after the last byte."""
MAX_PIECES = 1024
"""Beyond this many, pieces grow instead (a huge file keeps a small checkpoint)."""


def plan_segments(total: int | None, limits: Limits, *, ranges_supported: bool) -> list[Segment]:
    """Split a file into segments; small files, unknown sizes or no ranges give one.

    A split file gets `limits.segments` segments, or more when they would be larger
    than `PIECE_SIZE` (up to `MAX_PIECES`); all of equal size (within one byte), the
    larger ones first.
    """
    if total is None or not ranges_supported:
        return [Segment(0, total)]
    if total < max(limits.segment_min_size, 1) or limits.segments <= 1:
        return [Segment(0, total)]
    pieces = min(-(-total // PIECE_SIZE), MAX_PIECES)
    count = min(max(limits.segments, pieces), total)
    base, extra = divmod(total, count)
    segments = []
    start = 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        segments.append(Segment(start, start + size))
        start += size
    return segments


def contiguous_end(segments: list[Segment]) -> int:
    """The end of the prefix of the file that is entirely on disk."""
    for segment in segments:
        if not segment.done:
            return segment.pos
    last = segments[-1]
    return last.pos


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int  # inclusive, as in the header
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    """`bytes a-b/total` (or `/*`); None when absent or malformed."""
    if not value:
        return None
    match = _CONTENT_RANGE.match(value)
    if match is None:
        return None
    start, end = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if end < start or (total is not None and end >= total):
        return None
    return ContentRange(start, end, total)


def pick_validator(etag: str | None, last_modified: str | None) -> str | None:
    """What `If-Range` may carry: a strong ETag, else a valid Last-Modified date."""
    if etag:
        etag = etag.strip()
        if etag.startswith('"') and etag.endswith('"') and len(etag) >= 2:
            return etag
    if last_modified:
        try:
            parsedate_to_datetime(last_modified)
        except (TypeError, ValueError, IndexError):
            return None
        return last_modified.strip()
    return None


class Verdict(enum.StrEnum):
    WRITE = "write"  # stream the body to disk at `offset`
    RESTART = "restart"  # the bytes on disk cannot be continued: start from zero
    RETRY = "retry"  # transient server error: back off and ask again
    REFRESH_URL = "refresh_url"  # the signed URL is no longer accepted
    REDIRECT = "redirect"
    FAIL = "fail"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    offset: int = 0
    length: int | None = None  # body bytes expected, when known
    total: int | None = None
    validator: str | None = None
    ranges_supported: bool = False
    reason: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def judge_response(
    status: int,
    *,
    content_range: str | None,
    content_length: str | None,
    etag: str | None,
    last_modified: str | None,
    asked: Segment,
    known_total: int | None,
    known_validator: str | None,
    fresh: bool,
) -> Judgement:
    """Decide what a response to a request for `asked` means.

    `fresh` is true for the first request of a transfer (nothing on disk yet, no
    validator known); then a 200 simply starts a single stream.
    """
    validator = pick_validator(etag, last_modified)
    length = _int_or_none(content_length)
    if status in (301, 302, 303, 307, 308):
        return Judgement(Verdict.REDIRECT)
    if status == 206:
        cr = parse_content_range(content_range)
        if cr is None:
            return Judgement(Verdict.RETRY, reason=f"206 with bad Content-Range {content_range!r}")
        if cr.start != asked.pos:
            return Judgement(
                Verdict.RETRY,
                reason=f"206 for bytes {cr.start}- when bytes {asked.pos}- were asked",
            )
        if known_total is not None and cr.total is not None and cr.total != known_total:
            return Judgement(Verdict.RESTART, reason="object size changed")
        if not fresh and known_validator and validator and validator != known_validator:
            return Judgement(Verdict.RESTART, reason="validator changed")
        span = cr.end - cr.start + 1
        if length is not None and length != span:
            return Judgement(
                Verdict.RETRY,
                reason=f"Content-Length {length} disagrees with Content-Range {content_range}",
            )
        return Judgement(
            Verdict.WRITE,
            offset=cr.start,
            length=span,
            total=cr.total if cr.total is not None else known_total,
            validator=validator or known_validator,
            ranges_supported=True,
        )
    if status == 200:
        if fresh or (asked.start == 0 and asked.pos == 0 and known_total is None):
            return Judgement(
                Verdict.WRITE,
                offset=0,
                length=length,
                total=length,
                validator=validator,
                ranges_supported=False,
            )
        if validator is not None and validator == known_validator:
            reason = "server ignored the Range request"
        elif validator is not None and known_validator is not None:
            reason = "object changed (new validator)"
        else:
            reason = "full body instead of the range asked for (object changed or ranges ignored)"
        return Judgement(Verdict.RESTART, reason=reason, validator=validator)
    if status == 416:
        if fresh and content_range is not None and content_range.strip() == "bytes */0":
            # `bytes=0-` cannot be satisfied by an empty object: it is simply empty
            return Judgement(
                Verdict.WRITE,
                offset=0,
                length=0,
                total=0,
                validator=validator,
                ranges_supported=True,
            )
        return Judgement(Verdict.RESTART, reason="range not satisfiable: object shrank or changed")
    return Judgement(Verdict.FAIL, reason=f"HTTP {status}")


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None
