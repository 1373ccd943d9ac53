"""What the state store keeps: items, packages, assets, events.

Plain frozen values, the same for every backend.  Times are timezone-aware
UTC `datetime`s.  Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple
from urllib.parse import urlsplit

from downloader.store._lifecycle import ItemState

__all__ = [
    "REPAIRED",
    "AssetRecord",
    "AssetState",
    "EventRecord",
    "ItemRecord",
    "ItemSummary",
    "PackageRecord",
    "SyncResult",
]


@dataclass(frozen=True)
class ItemRecord:
    """One watchlist item as the store knows it."""

    key: str
    """`provider:kind:id[/id...]`, the item's identity everywhere."""
    provider: str
    kind: str
    state: ItemState
    active: bool
    """Still in the watchlist.  Removed entries are kept (inactive), never deleted."""
    error: str | None
    """Why the item failed, or the last retryable problem; None when all is well."""
    archive_path: str | None
    """Where the bag is, once archived."""
    bytes_done: int
    bytes_total: int | None
    attempts: int
    """Tries of the current step since the item entered its state (see `schedule`)."""
    next_attempt_at: datetime | None
    """Not claimed before this time; None means as soon as possible."""
    lease_owner: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    state_since: datetime
    """When the item entered its current state (for `poll.give_up_after`)."""


class ItemSummary(NamedTuple):
    """What `downloader status` shows of an item: the fields of its line, no more.

    A tuple rather than an `ItemRecord`, and times as the store keeps them
    (microseconds since the Unix epoch, UTC) rather than `datetime`s: status
    makes one per item, and on a store of 100,000 items building full records
    costs more than everything else it does together.  `summarize` gives the
    summary of a full record.
    """

    key: str
    provider: str
    kind: str
    state: ItemState
    bytes_done: int
    bytes_total: int | None
    error: str | None
    archive_path: str | None
    updated_micros: int
    """`ItemRecord.updated_at` in microseconds since the epoch."""
    lease_owner: str | None
    lease_expires_micros: int | None
    """`ItemRecord.lease_expires_at` in microseconds since the epoch."""
    attempts: int = 0
    """`ItemRecord.attempts`: failed tries so far."""
    next_attempt_micros: int | None = None
    """`ItemRecord.next_attempt_at` in microseconds since the epoch."""


@dataclass(frozen=True)
class PackageRecord:
    """What a platform told us about the package (download) of an item.

    Saved right after the platform answered, before anything else happens, so
    that a restart polls the same package instead of asking for a new one.
    """

    item_key: str
    download_id: str | None
    """The platform's id of the package (e.g. a Pixxel catalog download id)."""
    status: str | None = None
    """The platform's last word on the package, as it wrote it."""
    url_expires_at: datetime | None = None
    """When the package's links stop working, if the platform says."""
    data: str = "{}"
    """Provider-specific bookkeeping, a JSON text the store does not look into."""


class AssetState(StrEnum):
    """Where one file of an item is."""

    PENDING = "pending"
    DOWNLOADING = "downloading"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class AssetRecord:
    """One file of an item."""

    item_key: str
    asset_key: str
    """Stable within the item (the platform's file id, or its path in the package)."""
    name: str
    """The sanitised file name inside the bag's `data/`."""
    url_hint: str | None = None
    """Where it comes from, redacted: never a query, fragment or user info."""
    size: int | None = None
    sha256: str | None = None
    state: AssetState = AssetState.PENDING
    bytes_done: int = 0

    def __post_init__(self) -> None:
        if self.url_hint is not None:
            parts = urlsplit(self.url_hint)
            # A signed URL's query is a credential; the store is read by `status`.
            if parts.query or parts.fragment or parts.username or parts.password:
                raise ValueError("url_hint must be redacted: no query, fragment or user info")


@dataclass(frozen=True)
class EventRecord:
    """One line of an item's history: a transition, a watchlist change, a retry."""

    item_key: str
    at: datetime
    kind: str
    """`added`, `removed`, `reactivated`, `transition`, `retry`, or one a caller chose
    (`REPAIRED`)."""
    detail: str


REPAIRED = "repaired"
"""The kind of event each repair of a damaged file leaves (what was fetched again)."""


@dataclass(frozen=True)
class SyncResult:
    """What reconciling the store with the watchlist changed, as sorted keys."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    """Marked inactive; their rows and archived data stay."""
    reactivated: tuple[str, ...] = ()
    """Back in the watchlist; failed ones start over as waiting."""
    redefined: tuple[str, ...] = ()
    """Listed under the same key with another definition (`ItemRef.definition`): their
    recorded package and assets are dropped, failed ones start over as waiting, and
    archived ones keep their bag."""
    refused: tuple[tuple[str, str], ...] = ()
    """(key, reason) of listed items not added: the bag of each would lie inside
    another item's bag or hold one (see `archive.nesting_refusals`)."""


class CensusRow(NamedTuple):
    """How many active items of one provider are in one state, and since when the
    longest-waiting of them has been in it (for the metrics)."""

    state: ItemState
    provider: str
    items: int
    oldest_since: datetime
