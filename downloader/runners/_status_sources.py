"""What `status -v` says of the watchlist's sources: one line each, after the items.

A source that cannot be listed leaves no item to show its error on; this is where
an operator sees it (`source.list_failed` logs it too).
"""

from __future__ import annotations

from collections.abc import Sequence

from downloader.redact import scrub
from downloader.store._sources_rows import SourceRecord

__all__ = ["render_sources"]


def _when(record: SourceRecord) -> str:
    if record.next_listing_at is None:
        return "next listing: now"
    return f"next listing: {record.next_listing_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def render_sources(records: Sequence[SourceRecord]) -> list[str]:
    """A line per active source: its key, the items it listed, when it is listed next,
    and the last listing's error, if it failed."""
    lines = []
    for record in records:
        if not record.active:
            continue
        noun = "item" if record.items_listed == 1 else "items"
        line = f"source {record.key}: {record.items_listed} {noun} listed, {_when(record)}"
        if record.error:
            # scrubbed again as shown, as an item's error is (`_status._shown`)
            line += f"; last listing failed: {scrub(record.error)}"
        lines.append(line)
    return lines
