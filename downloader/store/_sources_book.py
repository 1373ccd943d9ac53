"""The store's book of sources, as the rest of the program sees it (`StateStore.sources`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from downloader.items import ItemRef
from downloader.sources import SourceRef
from downloader.store._models import SyncResult
from downloader.store._sources_rows import ListingEnd, SourceRecord

__all__ = ["SourceBook"]


class SourceBook(Protocol):
    """Sources kept across restarts, listed by one process at a time under a lease."""

    async def sync(
        self, sources: Iterable[SourceRef], refs: Iterable[ItemRef], *, now: datetime
    ) -> tuple[SyncResult, list[ItemRef]]:
        """Make `sources` the active sources and `refs` plus what they listed the active
        items, in one transaction; the result of the items' sync and the listed items."""
        ...

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        due_by: datetime | None = None,
    ) -> list[SourceRecord]:
        """Lease up to `limit` active sources due for a listing by `due_by` (default `now`)
        and not being listed by another owner, to `owner`."""
        ...

    async def add_listed(
        self, key: str, owner: str, refs: Iterable[ItemRef], *, now: datetime
    ) -> list[str]:
        """Record that source `key` lists `refs`; the keys it had not listed before.

        A new item starts as waiting; an inactive one becomes active again (a failed
        one stays failed).  Nothing is added for a source that is no longer active,
        and `LeaseLost` is raised when another owner lists it now."""
        ...

    async def renew(self, key: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        """Extend `owner`'s lease on source `key` while it lists it; False if it is lost."""
        ...

    async def finish(self, key: str, owner: str, end: ListingEnd, *, now: datetime) -> None:
        """End `owner`'s listing of `key`: keep its cursor and error, drop the lease."""
        ...

    async def release_all(self, owner: str) -> None: ...

    async def next_due(self, owner: str) -> datetime | None:
        """When the next source not being listed by `owner` is due; None if none is."""
        ...

    async def list_sources(self) -> list[SourceRecord]: ...

    async def listed_by(self, key: str) -> list[str]:
        """The keys of the items source `key` listed, sorted (none for an unknown one)."""
        ...

    async def item_sources(self, key: str | None = None) -> dict[str, str]:
        """Item key -> the key of a source that listed it (the first by key); with
        `key`, of that item only."""
        ...
