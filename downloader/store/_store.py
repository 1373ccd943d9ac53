"""The state store written once, part two: what is kept of an item, and the reads.

`StateStore` is the store as the rest of the program sees it (the backends are
its subclasses, `SQLiteStore` and `PostgresStore`); its life cycle, claims,
leases and transitions are in `_store_turns`.
"""

from __future__ import annotations

from datetime import datetime

from downloader.redact import scrub
from downloader.store import _item_ops as items
from downloader.store import _record_ops as records
from downloader.store._lifecycle import ItemState
from downloader.store._models import (
    AssetRecord,
    CensusRow,
    EventRecord,
    ItemRecord,
    ItemSummary,
    PackageRecord,
)
from downloader.store._rows import to_micros
from downloader.store._store_turns import StoreTurns

__all__ = ["StateStore"]


class StateStore(StoreTurns):
    """Items, their packages, assets and history, kept across restarts."""

    async def save_package(self, package: PackageRecord, *, now: datetime) -> None:
        """Insert or replace the package of `package.item_key` (durably)."""
        at = to_micros(now)
        await self._run(lambda db: records.save_package(db, package, at), write=True, durable=True)

    async def save_asset(self, asset: AssetRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda db: records.save_asset(db, asset, at), write=True)

    async def record_event(self, item_key: str, kind: str, detail: str, *, now: datetime) -> None:
        """Add a line to an item's history (e.g. what a platform answered)."""
        at = to_micros(now)
        detail = scrub(detail)  # the last guard before it is stored, as for errors
        await self._run(
            lambda db: records.record_event(db, item_key, kind, detail, at),
            write=True,
            durable=True,
        )

    # -- reading ------------------------------------------------------------------------

    async def get(self, key: str) -> ItemRecord | None:
        """Items ordered by key; only those in the watchlist unless `include_inactive`."""
        record = await self._run(lambda db: items.fetch_item(db, key), write=False)
        return None if record is None else self._observers.one(record)

    async def get_package(self, item_key: str) -> PackageRecord | None:
        """Insert or replace one asset and all of its segment offsets.

        Save offsets only after the bytes they describe were flushed to disk.
        """
        return await self._run(lambda db: records.get_package(db, item_key), write=False)

    async def assets(self, item_key: str) -> list[AssetRecord]:
        """The item's assets, ordered by `asset_key`."""
        return await self._run(lambda db: records.assets(db, item_key), write=False)

    async def list_items(self, *, include_inactive: bool = False) -> list[ItemRecord]:
        listed = await self._run(lambda db: records.list_items(db, include_inactive), write=False)
        if include_inactive:
            return self._observers.seen(listed)
        return self._observers.active(listed)

    async def list_summaries(self, *, include_inactive: bool = False) -> list[ItemSummary]:
        """What `status` shows of the items `list_items` gives, in the same order.

        Equal to `summarize(r)` for each of those records, at a fraction of the cost.
        """
        return await self._run(lambda db: records.list_summaries(db, include_inactive), write=False)

    async def events(self, key: str) -> list[EventRecord]:
        """The item's history, oldest first."""
        return await self._run(lambda db: records.events(db, key), write=False)

    async def counts(self) -> dict[ItemState, int]:
        """How many active items are in each state (every state present, zeros included)."""
        return await self._run(records.counts, write=False)

    async def census(self) -> list[CensusRow]:
        """Active items by state and provider: how many, and the oldest state entry."""
        return await self._run(records.census, write=False)
