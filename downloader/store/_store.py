"""The `StateStore` written once: each operation of `_item_ops`, `_record_ops` and
`_sync_ops` put into a transaction of its own by the backend's runner.

A backend (`SQLiteStore`, `PostgresStore`) only opens and closes its database
and supplies `_run`, which runs a blocking operation of a `Db` on a worker
thread.  Here each operation says whether it writes and whether it must be
forced to disk: state changes, packages and events are; leases, byte counts
and asset offsets are not, as after a power loss they are at worst a little
behind, which only costs a re-fetch.  Values are made safe to store here too:
an error or an event's text is scrubbed of secrets before it reaches either
database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Self, TypeVar

from downloader.items import ItemRef
from downloader.redact import scrub
from downloader.store import _item_ops as items
from downloader.store import _record_ops as records
from downloader.store._db import Op
from downloader.store._lifecycle import ItemState
from downloader.store._models import (
    AssetRecord,
    CensusRow,
    EventRecord,
    ItemRecord,
    ItemSummary,
    PackageRecord,
    SyncResult,
)
from downloader.store._observers import Observers, StoreObserver
from downloader.store._outbox_models import OutboxRow, scrub_rows
from downloader.store._outbox_ops import StoreOutbox
from downloader.store._rows import maybe_time, to_micros
from downloader.store._source_ops import StoreSources
from downloader.store._sync_ops import sync_watchlist

__all__ = ["Store"]

T = TypeVar("T")


class Store:
    """A `StateStore` over a backend's `_run` (see the module's docstring)."""

    def __init__(self) -> None:
        self.outbox = StoreOutbox(self._run)
        """The hook events waiting for delivery."""
        self._observers = Observers()

    def subscribe(self, observer: StoreObserver) -> None:
        """Tell `observer` of every item record handed out from now on (`_observers`)."""
        self._observers.add(observer)

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def _run(self, op: Op[T], *, write: bool, durable: bool = False) -> T:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def sources(self) -> StoreSources:
        return StoreSources(self._run)

    # -- the watchlist and claiming -----------------------------------------------------

    async def sync_watchlist(self, refs: Iterable[ItemRef], *, now: datetime) -> SyncResult:
        listed, at = list(refs), to_micros(now)
        return await self._run(lambda db: sync_watchlist(db, listed, at), write=True, durable=True)

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        waiting: Collection[str] | None = None,
    ) -> list[ItemRecord]:
        at, until = to_micros(now), to_micros(now + lease)
        kinds = None if waiting is None else list(waiting)
        claimed = await self._run(
            lambda db: items.claim(db, owner, at, until, limit, kinds), write=True
        )
        return self._observers.seen(claimed, claimed=True)

    async def renew(
        self, owner: str, keys: Sequence[str], *, now: datetime, lease: timedelta
    ) -> frozenset[str]:
        until, wanted = to_micros(now + lease), list(keys)
        return await self._run(lambda db: items.renew(db, owner, wanted, until), write=True)

    async def release(self, owner: str, key: str) -> None:
        await self._run(lambda db: items.release(db, owner, key), write=True)

    async def release_all(self, owner: str) -> int:
        return await self._run(lambda db: items.release(db, owner, None), write=True)

    async def next_due(self, owner: str) -> datetime | None:
        return maybe_time(await self._run(lambda db: items.next_due(db, owner), write=False))

    async def held_elsewhere(self, owner: str) -> bool:
        return await self._run(lambda db: items.held_elsewhere(db, owner), write=False)

    # -- one item's progress ------------------------------------------------------------

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
        outbox: Sequence[OutboxRow] = (),
    ) -> ItemRecord:
        target, at, rows = ItemState(target), to_micros(now), scrub_rows(outbox)
        error = scrub(error) if error else error  # the last guard before it is stored
        record = await self._run(
            lambda db: items.transition(
                db, key, target, at, owner, error, archive_path, int(counts), rows
            ),
            write=True,
            durable=True,
        )
        return self._observers.one(record)

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
        due, at = to_micros(next_attempt_at), to_micros(now)
        error = scrub(error) if error else error  # the last guard before it is stored
        # a retry after an error is an event the user reads; a parked poll is only a
        # time, which a power loss at worst brings forward
        record = await self._run(
            lambda db: items.schedule(db, key, due, at, owner, error, counts),
            write=True,
            durable=error is not None,
        )
        return self._observers.one(record)

    async def set_progress(
        self,
        key: str,
        bytes_done: int,
        bytes_total: int | None,
        *,
        now: datetime,
        owner: str | None = None,
    ) -> None:
        at = to_micros(now)
        await self._run(
            lambda db: items.set_progress(db, key, bytes_done, bytes_total, at, owner), write=True
        )
        self._observers.progress(key, bytes_done, bytes_total)

    async def save_package(self, package: PackageRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda db: records.save_package(db, package, at), write=True, durable=True)

    async def save_asset(self, asset: AssetRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda db: records.save_asset(db, asset, at), write=True)

    async def record_event(self, item_key: str, kind: str, detail: str, *, now: datetime) -> None:
        at = to_micros(now)
        detail = scrub(detail)  # the last guard before it is stored, as for errors
        await self._run(
            lambda db: records.record_event(db, item_key, kind, detail, at),
            write=True,
            durable=True,
        )

    # -- reading ------------------------------------------------------------------------

    async def get(self, key: str) -> ItemRecord | None:
        record = await self._run(lambda db: items.fetch_item(db, key), write=False)
        return None if record is None else self._observers.one(record)

    async def get_package(self, item_key: str) -> PackageRecord | None:
        return await self._run(lambda db: records.get_package(db, item_key), write=False)

    async def assets(self, item_key: str) -> list[AssetRecord]:
        return await self._run(lambda db: records.assets(db, item_key), write=False)

    async def list_items(self, *, include_inactive: bool = False) -> list[ItemRecord]:
        listed = await self._run(lambda db: records.list_items(db, include_inactive), write=False)
        if include_inactive:
            return self._observers.seen(listed)
        return self._observers.active(listed)

    async def list_summaries(self, *, include_inactive: bool = False) -> list[ItemSummary]:
        return await self._run(lambda db: records.list_summaries(db, include_inactive), write=False)

    async def events(self, key: str) -> list[EventRecord]:
        return await self._run(lambda db: records.events(db, key), write=False)

    async def counts(self) -> dict[ItemState, int]:
        return await self._run(records.counts, write=False)

    async def census(self) -> list[CensusRow]:
        return await self._run(records.census, write=False)
