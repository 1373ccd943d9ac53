"""The store's operations on what is kept of an item: package, assets, history, and
the reads `status` makes.  Written once for both databases (see `_dialect`), as
blocking functions of a `Db` already inside a transaction."""

from __future__ import annotations

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
)

__all__ = [
    "assets",
    "census",
    "counts",
    "events",
    "get_package",
    "list_items",
    "list_summaries",
    "record_event",
    "save_asset",
    "save_package",
]

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


def save_package(db: Db, p: PackageRecord, now: int) -> None:
    held_item(db, p.item_key, None)
    url_expires = maybe_micros(p.url_expires_at)
    db.run(_SAVE_PACKAGE, (p.item_key, p.download_id, p.status, url_expires, p.data, now))


def save_asset(db: Db, a: AssetRecord, now: int) -> None:
    held_item(db, a.item_key, None)  # an unknown item is named, not left to a foreign key
    state = a.state.value
    values = (a.item_key, a.asset_key, a.name, a.url_hint, a.size, a.sha256, state)
    db.run(_SAVE_ASSET, (*values, a.bytes_done, now))


def record_event(db: Db, item_key: str, kind: str, detail: str, now: int) -> None:
    held_item(db, item_key, None)
    add_event(db, item_key, now, kind, detail)


def get_package(db: Db, item_key: str) -> PackageRecord | None:
    row = db.one(f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE item_key = ?", (item_key,))  # noqa: S608
    return None if row is None else package_from_row(row)


def assets(db: Db, item_key: str) -> list[AssetRecord]:
    order = f" ORDER BY asset_key{db.dialect.collate}"
    sql = f"SELECT {ASSET_COLUMNS} FROM assets WHERE item_key = ?{order}"  # noqa: S608
    return [asset_from_row(row) for row in db.rows(sql, (item_key,))]


def list_items(db: Db, include_inactive: bool) -> list[ItemRecord]:
    where = "" if include_inactive else " WHERE active = 1"
    sql = f"SELECT {ITEM_COLUMNS} FROM items{where} ORDER BY key{db.dialect.collate}"  # noqa: S608
    return [item_from_row(row) for row in db.rows(sql)]


def list_summaries(db: Db, include_inactive: bool) -> list[ItemSummary]:
    # `+active` keeps SQLite off the `items_due` index: walking the key index gives
    # the rows in order already, where that index needs a sort of all of them
    where = "" if include_inactive else " WHERE +active = 1"
    order = f" ORDER BY key{db.dialect.collate}"
    return summaries_from_rows(db.rows(f"SELECT {SUMMARY_COLUMNS} FROM items{where}{order}"))  # noqa: S608


def events(db: Db, key: str) -> list[EventRecord]:
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE item_key = ? ORDER BY id"  # noqa: S608
    return [event_from_row(row) for row in db.rows(sql, (key,))]


def counts(db: Db) -> dict[ItemState, int]:
    sql = "SELECT state, count(*) FROM items WHERE active = 1 GROUP BY state"
    found = {str(state): int(n) for state, n in db.rows(sql)}
    return {state: found.get(state.value, 0) for state in ItemState}


def census(db: Db) -> list[CensusRow]:
    return [census_row(row) for row in db.rows(CENSUS_SQL)]
