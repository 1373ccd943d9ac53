"""A state store that tells a progress board every item record it hands out.

Whatever the process reads or writes of an item goes through its store, so the
board learns of each change as it happens, at the cost of a dictionary update,
and the display never asks the database again.  Everything else is passed through.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Self

from downloader.items import ItemRef
from downloader.runners._board import ProgressBoard
from downloader.store import ItemRecord, ItemState, StateStore
from downloader.store._models import (
    AssetRecord,
    CensusRow,
    EventRecord,
    ItemSummary,
    PackageRecord,
    SyncResult,
)


class BoardedStore:
    """`store`, with every item record it returns shown to `board` (a `StateStore`)."""

    def __init__(
        self, store: StateStore, board: ProgressBoard, monotonic: Callable[[], float]
    ) -> None:
        self._store, self._board, self._monotonic = store, board, monotonic

    def _seen(self, records: list[ItemRecord], *, claimed: bool = False) -> list[ItemRecord]:
        self._board.seen(records, self._monotonic(), claimed=claimed)
        return records

    async def open(self) -> None:
        await self._store.open()

    async def close(self) -> None:
        await self._store.close()

    async def __aenter__(self) -> Self:
        await self._store.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._store.__aexit__(*exc_info)

    async def sync_watchlist(self, refs: Iterable[ItemRef], *, now: datetime) -> SyncResult:
        return await self._store.sync_watchlist(refs, now=now)

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        waiting: Collection[str] | None = None,
    ) -> list[ItemRecord]:
        claimed = await self._store.claim(owner, now=now, lease=lease, limit=limit, waiting=waiting)
        return self._seen(claimed, claimed=True)

    async def renew(
        self, owner: str, keys: Sequence[str], *, now: datetime, lease: timedelta
    ) -> frozenset[str]:
        return await self._store.renew(owner, keys, now=now, lease=lease)

    async def release(self, owner: str, key: str) -> None:
        await self._store.release(owner, key)

    async def release_all(self, owner: str) -> int:
        return await self._store.release_all(owner)

    async def next_due(self, owner: str) -> datetime | None:
        return await self._store.next_due(owner)

    async def held_elsewhere(self, owner: str) -> bool:
        return await self._store.held_elsewhere(owner)

    async def transition(
        self,
        key: str,
        target: ItemState,
        *,
        now: datetime,
        owner: str | None = None,
        error: str | None = None,
        archive_path: str | None = None,
        counts: bool = False,
    ) -> ItemRecord:
        record = await self._store.transition(
            key,
            target,
            now=now,
            owner=owner,
            error=error,
            archive_path=archive_path,
            counts=counts,
        )
        return self._seen([record])[0]

    async def schedule(
        self,
        key: str,
        next_attempt_at: datetime,
        *,
        now: datetime,
        owner: str | None = None,
        error: str | None = None,
        counts: bool = True,
    ) -> ItemRecord:
        record = await self._store.schedule(
            key, next_attempt_at, now=now, owner=owner, error=error, counts=counts
        )
        return self._seen([record])[0]

    async def set_progress(
        self,
        key: str,
        bytes_done: int,
        bytes_total: int | None,
        *,
        now: datetime,
        owner: str | None = None,
    ) -> None:
        await self._store.set_progress(key, bytes_done, bytes_total, now=now, owner=owner)
        self._board.progress(key, bytes_done, bytes_total, self._monotonic())

    async def save_package(self, package: PackageRecord, *, now: datetime) -> None:
        await self._store.save_package(package, now=now)

    async def get_package(self, item_key: str) -> PackageRecord | None:
        return await self._store.get_package(item_key)

    async def save_asset(self, asset: AssetRecord, *, now: datetime) -> None:
        await self._store.save_asset(asset, now=now)

    async def assets(self, item_key: str) -> list[AssetRecord]:
        return await self._store.assets(item_key)

    async def record_event(self, item_key: str, kind: str, detail: str, *, now: datetime) -> None:
        await self._store.record_event(item_key, kind, detail, now=now)

    async def get(self, key: str) -> ItemRecord | None:
        record = await self._store.get(key)
        if record is not None:
            self._seen([record])
        return record

    async def list_items(self, *, include_inactive: bool = False) -> list[ItemRecord]:
        records = await self._store.list_items(include_inactive=include_inactive)
        if not include_inactive:  # the active set: items gone from it are no longer shown
            for key in self._board.items.keys() - {r.key for r in records}:
                del self._board.items[key]
        return self._seen(records)

    async def list_summaries(self, *, include_inactive: bool = False) -> list[ItemSummary]:
        return await self._store.list_summaries(include_inactive=include_inactive)

    async def events(self, key: str) -> list[EventRecord]:
        return await self._store.events(key)

    async def counts(self) -> dict[ItemState, int]:
        return await self._store.counts()

    async def census(self) -> list[CensusRow]:
        return await self._store.census()
