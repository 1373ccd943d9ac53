"""Repairing a fetched file whose bytes failed a check: what to fetch again. Pure.

Belongs here: whether a repair may still be tried (the budget), which bytes it asks
for (a ZIP member's span, or the whole file), the `Range` header, and whether an
answer to that range may be written in place.  Never imported here: aiohttp, anyio,
file I/O; `_refetch` moves the bytes and the pipeline decides what failed.

A bit flipped in transit damages one member of a ZIP; its local header and data are
all that must be fetched again, with `If-Range` on the validator of the bytes on
disk, so that a changed object is never spliced into the old one.  Where that cannot
be done (no validator, no ranges, no known span) the whole file is fetched again;
so is a file whose digest or size was wrong, as nothing says where the fault lies.
"""

from __future__ import annotations

from dataclasses import dataclass

from downloader.transfer._plan import parse_content_range

__all__ = ["Repair", "is_span_answer", "plan_repair"]


@dataclass(frozen=True)
class Repair:
    """One repair: the bytes `[start, end)` again, or (`ranged` False) the whole file."""

    start: int
    end: int
    ranged: bool

    @property
    def length(self) -> int:
        return self.end - self.start

    def range_header(self) -> str:
        return f"bytes={self.start}-{self.end - 1}"


def plan_repair(
    *,
    size: int,
    span: tuple[int, int] | None,
    validator: str | None,
    ranges_supported: bool,
    used: int,
    budget: int,
) -> Repair | None:
    """The next repair of a file of `size` bytes, or None when `used` repairs have
    spent the `budget`.  `span` is where the bad bytes lie, None when not known."""
    if used >= budget:
        return None
    whole = Repair(0, size, ranged=False)
    if span is None or validator is None or not ranges_supported:
        return whole
    start, end = span
    if not 0 <= start < end <= size or end - start == size:
        return whole
    return Repair(start, end, ranged=True)


def is_span_answer(
    repair: Repair,
    *,
    status: int,
    content_range: str | None,
    size: int,
    validator: str | None,
    answered: str | None,
) -> bool:
    """Whether an answer to `repair`'s range is exactly those bytes of the same object.

    `validator` is the one the request carried in `If-Range`, `answered` the one the
    answer names (None when it names none).  Anything else (a 200: no ranges or a
    changed object; another range; another size or validator) is not written: the
    whole file is fetched again instead.
    """
    if status != 206 or (answered is not None and answered != validator):
        return False
    got = parse_content_range(content_range)
    if got is None or got.total != size:
        return False
    return got.start == repair.start and got.end == repair.end - 1
