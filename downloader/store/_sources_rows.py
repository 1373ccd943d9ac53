"""Sources in the state store: the record, its columns, and the SQL both backends share.

Pure.  The statements are written with `?` placeholders (SQLite's); the
PostgreSQL backend turns them into `%s` with `pg`.  A source's row keeps its
definition (JSON, `SourceRef.definition`), its cursor (what the platform can be
asked for from the next listing on), when it is listed next, the lease of the
host listing it, and the last listing's error; `source_items` keeps which items
each source listed, so no item is added twice and `status` can name the source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from downloader.items import ItemRef
from downloader.sources import SourceRef
from downloader.store._rows import maybe_time

__all__ = [
    "SOURCE_COLUMNS",
    "ListingEnd",
    "SourceRecord",
    "pg",
    "plan_sources",
    "source_from_row",
    "wanted_refs",
]

SOURCE_COLUMNS = (
    "key, definition, active, cursor, interval_ms, next_listing_at, lease_owner, "
    "lease_expires_at, listed_at, items_listed, error"
)


@dataclass(frozen=True)
class SourceRecord:
    """What the store knows of one source."""

    key: str
    definition: str
    active: bool
    cursor: str | None
    interval: timedelta | None
    """The wait before the listing after the last one (see `sources.next_interval`)."""
    next_listing_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    listed_at: datetime | None
    items_listed: int
    error: str | None

    @property
    def ref(self) -> SourceRef:
        return SourceRef.from_definition(self.definition)


@dataclass(frozen=True)
class ListingEnd:
    """How a listing ended: what to keep of it and when to list again."""

    next_listing_at: datetime
    interval: timedelta
    cursor: str | None
    """None keeps the cursor the source had."""
    error: str | None = None
    found: int = 0


def source_from_row(row: Sequence[Any]) -> SourceRecord:
    """A `SourceRecord` from a row in `SOURCE_COLUMNS` order."""
    return SourceRecord(
        key=str(row[0]),
        definition=str(row[1]),
        active=bool(row[2]),
        cursor=row[3],
        interval=None if row[4] is None else timedelta(milliseconds=int(row[4])),
        next_listing_at=maybe_time(row[5]),
        lease_owner=row[6],
        lease_expires_at=maybe_time(row[7]),
        listed_at=maybe_time(row[8]),
        items_listed=int(row[9]),
        error=row[10],
    )


def plan_sources(
    known: Mapping[str, tuple[bool, str]], wanted: Sequence[SourceRef]
) -> tuple[list[SourceRef], list[SourceRef], list[str]]:
    """What to change so that exactly `wanted` is active: (insert, update, deactivate).

    `known` maps key -> (active, definition).  A source whose definition changed
    (a new `since`) or that comes back is updated; one no longer wanted is made
    inactive, never deleted: what it listed stays known for a later re-add.
    """
    by_key = {ref.key: ref for ref in wanted}
    insert = [ref for key, ref in by_key.items() if key not in known]
    update = [
        ref
        for key, ref in by_key.items()
        if key in known and (not known[key][0] or known[key][1] != ref.definition())
    ]
    off = sorted(key for key, (active, _) in known.items() if active and key not in by_key)
    return insert, update, off


def wanted_refs(explicit: Iterable[ItemRef], listed: Iterable[str]) -> list[ItemRef]:
    """The items to keep active: the watchlist's own, and those its sources listed
    (an item named both ways is one item, with its own entry's details)."""
    refs = {ref.key: ref for ref in explicit}
    for key in listed:
        if key not in refs:
            ref = ItemRef.parse(key)
            refs[ref.key] = ref
    return list(refs.values())


def pg(statement: str) -> str:
    """`statement` with PostgreSQL's placeholders."""
    return statement.replace("?", "%s")


INSERT_SOURCE = (
    "INSERT INTO sources (key, definition, active, created_at, updated_at) VALUES (?, ?, 1, ?, ?)"
)
# a changed definition (another `since`) lists again from the start, at once
UPDATE_SOURCE = (
    "UPDATE sources SET definition = ?, active = 1, cursor = CASE WHEN definition = ?"
    " THEN cursor END, next_listing_at = NULL, interval_ms = NULL, updated_at = ? WHERE key = ?"
)
DEACTIVATE_SOURCE = "UPDATE sources SET active = 0, updated_at = ? WHERE key = ?"
SELECT_KNOWN = "SELECT key, active, definition FROM sources"
SELECT_LISTED_ACTIVE = (
    "SELECT DISTINCT si.item_key FROM source_items si"
    " JOIN sources s ON s.key = si.source_key WHERE s.active = 1"
)
SELECT_DUE = (
    "SELECT key FROM sources WHERE active = 1"
    " AND (next_listing_at IS NULL OR next_listing_at <= ?)"
    " AND (lease_owner IS NULL OR lease_expires_at <= ?)"
    " ORDER BY COALESCE(next_listing_at, 0), key LIMIT ?"
)
RENEW_LEASE = "UPDATE sources SET lease_expires_at = ? WHERE key = ? AND lease_owner = ?"
TAKE_LEASE = "UPDATE sources SET lease_owner = ?, lease_expires_at = ? WHERE key = ?"
SELECT_SOURCE = f"SELECT {SOURCE_COLUMNS} FROM sources WHERE key = ?"  # noqa: S608
SELECT_SOURCES = f"SELECT {SOURCE_COLUMNS} FROM sources ORDER BY key"  # noqa: S608
SELECT_ITEMS_OF = "SELECT item_key FROM source_items WHERE source_key = ?"
SELECT_ITEM = "SELECT active FROM items WHERE key = ?"
INSERT_ITEM = (
    "INSERT INTO items (key, provider, kind, state, active, created_at, updated_at,"
    " state_since) VALUES (?, ?, ?, 'waiting', 1, ?, ?, ?)"
)
REACTIVATE_ITEM = "UPDATE items SET active = 1, updated_at = ? WHERE key = ?"
INSERT_SOURCE_ITEM = "INSERT INTO source_items (source_key, item_key, listed_at) VALUES (?, ?, ?)"
FINISH = (
    "UPDATE sources SET cursor = COALESCE(?, cursor), interval_ms = ?, next_listing_at = ?,"
    " listed_at = ?, error = ?, items_listed = items_listed + ?, updated_at = ?,"
    " lease_owner = NULL, lease_expires_at = NULL WHERE key = ? AND lease_owner = ?"
)
RELEASE_ALL = "UPDATE sources SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?"
# the soonest moment a source not listed by `owner` right now can be listed
SELECT_NEXT_DUE = (
    "SELECT MIN(CASE WHEN lease_owner IS NULL THEN COALESCE(next_listing_at, 0)"
    " ELSE lease_expires_at END) FROM sources WHERE active = 1"
    " AND (lease_owner IS NULL OR lease_owner <> ?)"
)
SELECT_ITEM_SOURCES = "SELECT item_key, MIN(source_key) FROM source_items GROUP BY item_key"
SELECT_SOURCE_OF = (
    "SELECT item_key, MIN(source_key) FROM source_items WHERE item_key = ? GROUP BY item_key"
)
