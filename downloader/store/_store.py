"""The state store written once, part two: what is kept of an item (package, assets,
history) and the reads `status` makes, as SQL for both databases (see `_dialect`)
and the methods that run it.

`StateStore` is the store as the rest of the program sees it (the backends are
its subclasses, `SQLiteStore` and `PostgresStore`); its life cycle, claims,
leases and transitions are in `_store_turns`.
"""

from __future__ import annotations

from datetime import datetime

from downloader.redact import scrub
from downloader.store import _item_ops as items
from downloader.store._db import Db
from downloader.store._item_ops import add_event, held_item
from downloader.store._lifecycle import ItemState
from downloader.store._models import (
    AssetRecord,
    CensusRow,
    EventRecord,
    ItemRecord,
    ItemSummary,
    PackageRecord,
)
from downloader.store._rows import (
    ASSET_COLUMNS,
    CENSUS_SQL,
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    PACKAGE_COLUMNS,
    SUMMARY_COLUMNS,
    asset_from_row,
    census_row,
    event_from_row,
    item_from_row,
    maybe_micros,
    package_from_row,
    summaries_from_rows,
    to_micros,
)
from downloader.store._store_turns import StoreTurns

__all__ = ["StateStore"]

_SAVE_PACKAGE = (
    "INSERT INTO packages (item_key, download_id, status, url_expires_at, data, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_key) DO UPDATE SET"
    " download_id = excluded.download_id, status = excluded.status,"
    " url_expires_at = excluded.url_expires_at, data = excluded.data,"
    " updated_at = excluded.updated_at"
)
_SAVE_ASSET = (
    "INSERT INTO assets (item_key, asset_key, name, url_hint, size, sha256, state,"
    " bytes_done, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (item_key, asset_key) DO UPDATE SET name = excluded.name,"
    " url_hint = excluded.url_hint, size = excluded.size, sha256 = excluded.sha256,"
    " state = excluded.state, bytes_done = excluded.bytes_done,"
    " updated_at = excluded.updated_at"
)


def _save_package(db: Db, p: PackageRecord, now: int) -> None:
    held_item(db, p.item_key, None)
    url_expires = maybe_micros(p.url_expires_at)
    db.run(_SAVE_PACKAGE, (p.item_key, p.download_id, p.status, url_expires, p.data, now))


def _save_asset(db: Db, a: AssetRecord, now: int) -> None:
    held_item(db, a.item_key, None)  # an unknown item is named, not left to a foreign key
    state = a.state.value
    values = (a.item_key, a.asset_key, a.name, a.url_hint, a.size, a.sha256, state)
    db.run(_SAVE_ASSET, (*values, a.bytes_done, now))


def _record_event(db: Db, item_key: str, kind: str, detail: str, now: int) -> None:
    held_item(db, item_key, None)
    add_event(db, item_key, now, kind, detail)


def _get_package(db: Db, item_key: str) -> PackageRecord | None:
    row = db.one(f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE item_key = ?", (item_key,))  # noqa: S608
    return None if row is None else package_from_row(row)


def _assets(db: Db, item_key: str) -> list[AssetRecord]:
    order = f" ORDER BY asset_key{db.dialect.collate}"
    sql = f"SELECT {ASSET_COLUMNS} FROM assets WHERE item_key = ?{order}"  # noqa: S608
    return [asset_from_row(row) for row in db.rows(sql, (item_key,))]


def _list_items(db: Db, include_inactive: bool) -> list[ItemRecord]:
    where = "" if include_inactive else " WHERE active = 1"
    sql = f"SELECT {ITEM_COLUMNS} FROM items{where} ORDER BY key{db.dialect.collate}"  # noqa: S608
    return [item_from_row(row) for row in db.each(sql)]


def _list_summaries(db: Db, include_inactive: bool) -> list[ItemSummary]:
    # `+active` keeps SQLite off the `items_due` index: walking the key index gives
    # the rows in order already, where that index needs a sort of all of them
    where = "" if include_inactive else " WHERE +active = 1"
    order = f" ORDER BY key{db.dialect.collate}"
    return summaries_from_rows(db.each(f"SELECT {SUMMARY_COLUMNS} FROM items{where}{order}"))  # noqa: S608


def _events(db: Db, key: str) -> list[EventRecord]:
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE item_key = ? ORDER BY id"  # noqa: S608
    return [event_from_row(row) for row in db.rows(sql, (key,))]


def _counts(db: Db) -> dict[ItemState, int]:
    sql = "SELECT state, count(*) FROM items WHERE active = 1 GROUP BY state"
    found = {str(state): int(n) for state, n in db.rows(sql)}
    return {state: found.get(state.value, 0) for state in ItemState}


def _census(db: Db) -> list[CensusRow]:
    return [census_row(row) for row in db.rows(CENSUS_SQL)]


class StateStore(StoreTurns):
    """Items, their packages, assets and history, kept across restarts."""

    async def save_package(self, package: PackageRecord, *, now: datetime) -> None:
        """Insert or replace the package of `package.item_key` (durably)."""
        at = to_micros(now)
        await self._run(lambda db: _save_package(db, package, at), write=True, durable=True)

    async def save_asset(self, asset: AssetRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda db: _save_asset(db, asset, at), write=True)

    async def record_event(self, item_key: str, kind: str, detail: str, *, now: datetime) -> None:
        """Add a line to an item's history (e.g. what a platform answered)."""
        at = to_micros(now)
        detail = scrub(detail)  # the last guard before it is stored, as for errors
        await self._run(
            lambda db: _record_event(db, item_key, kind, detail, at),
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
        return await self._run(lambda db: _get_package(db, item_key), write=False)

    async def assets(self, item_key: str) -> list[AssetRecord]:
        """The item's assets, ordered by `asset_key`."""
        return await self._run(lambda db: _assets(db, item_key), write=False)

    async def list_items(self, *, include_inactive: bool = False) -> list[ItemRecord]:
        listed = await self._run(lambda db: _list_items(db, include_inactive), write=False)
        if include_inactive:
            return self._observers.seen(listed)
        return self._observers.active(listed)

    async def list_summaries(self, *, include_inactive: bool = False) -> list[ItemSummary]:
        """What `status` shows of the items `list_items` gives, in the same order.

        Equal to `summarize(r)` for each of those records, at a fraction of the cost.
        """
        return await self._run(lambda db: _list_summaries(db, include_inactive), write=False)

    async def events(self, key: str) -> list[EventRecord]:
        """The item's history, oldest first."""
        return await self._run(lambda db: _events(db, key), write=False)

    async def counts(self) -> dict[ItemState, int]:
        """How many active items are in each state (every state present, zeros included)."""
        return await self._run(_counts, write=False)

    async def census(self) -> list[CensusRow]:
        """Active items by state and provider: how many, and the oldest state entry."""
        return await self._run(_census, write=False)
