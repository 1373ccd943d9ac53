"""The SQL of the PostgreSQL state store, one coroutine per store operation.

Each function takes a connection that the caller has put inside a transaction
(READ COMMITTED) and works with times in microseconds.  Whatever reads an item
to decide on a write locks its row first (`FOR UPDATE`), so the check of the
transition table or of the lease and the write it allows are one step even
with many hosts at once.  `claim` skips rows that another claimer holds locked
(`SKIP LOCKED`) instead of waiting for them, and the lock makes PostgreSQL look
at the newest version of every row it takes: two claimers never get one item.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from psycopg import AsyncConnection

from downloader.errors import LeaseLost, StoreError
from downloader.store._lifecycle import (
    TERMINAL,
    ItemState,
    check_transition,
    is_terminal,
    starts_afresh,
)
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
    SEGMENT_COLUMNS,
    SUMMARY_COLUMNS,
    asset_from_row,
    census_row,
    event_from_row,
    from_micros,
    item_from_row,
    maybe_micros,
    package_from_row,
    summaries_from_rows,
)

Conn = AsyncConnection[tuple[object, ...]]

SYNC_LOCK = 0x444C5354_0002
"""Advisory lock: one watchlist sync at a time across all hosts."""

# Queries hold constant column lists and state names only; values go through `%s`.
_TERMINAL_SQL = ", ".join(f"'{state.value}'" for state in sorted(TERMINAL))
_UNFINISHED = f"active = 1 AND state NOT IN ({_TERMINAL_SQL})"
_ORDER = 'COALESCE(next_attempt_at, 0), created_at, key COLLATE "C"'
_SELECT_ITEMS = f"SELECT {ITEM_COLUMNS} FROM items"  # noqa: S608
_SELECT_SUMMARIES = f"SELECT {SUMMARY_COLUMNS} FROM items"  # noqa: S608
_TRANSITION = (
    "UPDATE items SET state = %s, error = %s, archive_path = COALESCE(%s, archive_path),"  # noqa: S608
    " attempts = CASE WHEN %s = 1 THEN 0 ELSE attempts + %s END,"
    f" next_attempt_at = NULL, state_since = %s, updated_at = %s,"
    " lease_owner = CASE WHEN %s = 1 THEN lease_owner END,"
    " lease_expires_at = CASE WHEN %s = 1 THEN lease_expires_at END"
    f" WHERE key = %s RETURNING {ITEM_COLUMNS}"
)
_SCHEDULE = (
    "UPDATE items SET attempts = attempts + %s, next_attempt_at = %s, error = %s,"  # noqa: S608
    f" updated_at = %s WHERE key = %s RETURNING {ITEM_COLUMNS}"
)
_SET_ACTIVE = "UPDATE items SET active = %s, updated_at = %s WHERE key = %s"


def _claim_query(only: str) -> str:
    """Lease the due items, soonest first; `only` narrows them (or is empty)."""
    return (
        "UPDATE items SET lease_owner = %s, lease_expires_at = %s WHERE key IN ("  # noqa: S608
        f" SELECT key FROM items WHERE {_UNFINISHED}{only}"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
        " AND (lease_owner IS NULL OR lease_expires_at <= %s)"
        f" ORDER BY {_ORDER} LIMIT %s FOR UPDATE SKIP LOCKED)"
        f" RETURNING {ITEM_COLUMNS}"
    )


_CLAIM = _claim_query("")
# only waiting items of some `provider:kind`s (an array), e.g. for a waiting room
_CLAIM_WAITING = _claim_query(
    f" AND state = '{ItemState.WAITING.value}' AND provider || ':' || kind = ANY(%s)"
)
# the soonest moment anything not leased to `owner` is due, in three parts that the
# `items_turns` index answers by reading a row or two, not every waiting item: now (0)
# for an unleased item with no time set; the earliest time of an unleased one; for
# another's lease, when that runs out too (10,000 parked items: 2.9 ms before, 0.2 ms)
_SELECT_NEXT_DUE = (
    "SELECT MIN(due) FROM ("  # noqa: S608
    f" SELECT (SELECT 0 FROM items WHERE {_UNFINISHED}"
    " AND lease_owner IS NULL AND next_attempt_at IS NULL LIMIT 1) AS due"
    " UNION ALL"
    f" SELECT (SELECT next_attempt_at FROM items WHERE {_UNFINISHED}"
    " AND lease_owner IS NULL AND next_attempt_at IS NOT NULL"
    " ORDER BY lease_owner, next_attempt_at LIMIT 1)"
    " UNION ALL"
    " SELECT MIN(GREATEST(COALESCE(next_attempt_at, 0), lease_expires_at))"
    f" FROM items WHERE {_UNFINISHED} AND lease_owner IS NOT NULL AND lease_owner <> %s"
    ") AS parts"
)
_SELECT_HELD_ELSEWHERE = (
    f"SELECT 1 FROM items WHERE {_UNFINISHED}"  # noqa: S608
    " AND lease_owner IS NOT NULL AND lease_owner <> %s LIMIT 1"
)
_SELECT_PACKAGE = f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE item_key = %s"  # noqa: S608
_SELECT_ASSETS = (
    f"SELECT {ASSET_COLUMNS} FROM assets WHERE item_key = %s"  # noqa: S608
    ' ORDER BY asset_key COLLATE "C"'
)
_SELECT_SEGMENTS = (
    f"SELECT asset_key, {SEGMENT_COLUMNS} FROM segments"  # noqa: S608
    ' WHERE item_key = %s ORDER BY asset_key COLLATE "C", range_start'
)
_SELECT_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE item_key = %s ORDER BY id"  # noqa: S608


async def fetch_item(conn: Conn, key: str, *, lock: bool = False) -> ItemRecord | None:
    sql = _SELECT_ITEMS + " WHERE key = %s" + (" FOR UPDATE" if lock else "")
    row = await (await conn.execute(sql, (key,))).fetchone()
    return None if row is None else item_from_row(row)


async def held_item(conn: Conn, key: str, owner: str | None) -> ItemRecord:
    """The item `key`, locked, checked to exist and, if `owner` is given, to be `owner`'s."""
    item = await fetch_item(conn, key, lock=True)
    if item is None:
        raise StoreError(f"no item {key!r} in the state store")
    if owner is not None and item.lease_owner != owner:
        raise LeaseLost(key, owner, item.lease_owner)
    return item


async def add_event(conn: Conn, key: str, now: int, kind: str, detail: str) -> None:
    await conn.execute(
        "INSERT INTO events (item_key, at, kind, detail) VALUES (%s, %s, %s, %s)",
        (key, now, kind, detail),
    )


async def claim(
    conn: Conn,
    owner: str,
    now: int,
    until: int,
    limit: int,
    waiting: Collection[str] | None = None,
) -> list[ItemRecord]:
    if limit <= 0:
        return []
    if waiting is None:
        cursor = await conn.execute(_CLAIM, (owner, until, now, now, limit))
    else:
        kinds = sorted(waiting)
        cursor = await conn.execute(_CLAIM_WAITING, (owner, until, kinds, now, now, limit))
    items = [item_from_row(row) for row in await cursor.fetchall()]
    # RETURNING keeps no order: give the soonest due first, as the SELECT chose them
    return sorted(items, key=lambda i: (maybe_micros(i.next_attempt_at) or 0, i.created_at, i.key))


async def renew(conn: Conn, owner: str, keys: Sequence[str], until: int) -> frozenset[str]:
    cursor = await conn.execute(
        "UPDATE items SET lease_expires_at = %s WHERE key = ANY(%s) AND lease_owner = %s"
        " RETURNING key",
        (until, list(keys), owner),
    )
    return frozenset(str(row[0]) for row in await cursor.fetchall())


async def release(conn: Conn, owner: str, key: str | None) -> int:
    """Drop `owner`'s lease on `key`, or on everything when `key` is None."""
    sql = "UPDATE items SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = %s"
    if key is None:
        return (await conn.execute(sql, (owner,))).rowcount
    return (await conn.execute(sql + " AND key = %s", (owner, key))).rowcount


async def next_due(conn: Conn, owner: str) -> int | None:
    row = await (await conn.execute(_SELECT_NEXT_DUE, (owner,))).fetchone()
    return None if row is None or row[0] is None else int(str(row[0]))


async def held_elsewhere(conn: Conn, owner: str) -> bool:
    cursor = await conn.execute(_SELECT_HELD_ELSEWHERE, (owner,))
    return await cursor.fetchone() is not None


async def transition(
    conn: Conn,
    key: str,
    target: ItemState,
    now: int,
    owner: str | None,
    error: str | None,
    archive_path: str | None,
    counts: int = 0,
) -> ItemRecord:
    item = await held_item(conn, key, owner)
    check_transition(item.state, target)
    keep_lease = 0 if is_terminal(target) else 1
    fresh = 1 if starts_afresh(item.state, target) else 0
    cursor = await conn.execute(
        _TRANSITION,
        (target.value, error, archive_path, fresh, counts, now, now, keep_lease, keep_lease, key),
    )
    detail = f"{item.state} -> {target}" + (f": {error}" if error else "")
    await add_event(conn, key, now, "transition", detail)
    return item_from_row(_one(await cursor.fetchone()))


async def schedule(
    conn: Conn,
    key: str,
    at: int,
    now: int,
    owner: str | None,
    error: str | None,
    counts: bool = True,
) -> ItemRecord:
    item = await held_item(conn, key, owner)
    if is_terminal(item.state):
        raise StoreError(f"{key} is {item.state}; there is no step to try again")
    cursor = await conn.execute(
        _SCHEDULE,
        (int(counts), at, error, now, key),
    )
    if error and counts:
        when = from_micros(at).isoformat()
        detail = f"attempt {item.attempts + 1}: {error}; next {when}"
        await add_event(conn, key, now, "retry", detail)
    return item_from_row(_one(await cursor.fetchone()))


async def set_progress(
    conn: Conn, key: str, done: int, total: int | None, now: int, owner: str | None
) -> None:
    await held_item(conn, key, owner)
    await conn.execute(
        "UPDATE items SET bytes_done = %s, bytes_total = %s, updated_at = %s WHERE key = %s",
        (done, total, now, key),
    )


async def save_package(conn: Conn, package: PackageRecord, now: int) -> None:
    await held_item(conn, package.item_key, None)
    await conn.execute(
        "INSERT INTO packages (item_key, download_id, status, url_expires_at, data, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (item_key) DO UPDATE SET"
        " download_id = excluded.download_id, status = excluded.status,"
        " url_expires_at = excluded.url_expires_at, data = excluded.data,"
        " updated_at = excluded.updated_at",
        (*_package_values(package), now),
    )


async def save_asset(conn: Conn, asset: AssetRecord, now: int) -> None:
    await held_item(conn, asset.item_key, None)
    await conn.execute(
        "INSERT INTO assets (item_key, asset_key, name, url_hint, size, sha256, state,"
        " bytes_done, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (item_key, asset_key) DO UPDATE SET name = excluded.name,"
        " url_hint = excluded.url_hint, size = excluded.size, sha256 = excluded.sha256,"
        " state = excluded.state, bytes_done = excluded.bytes_done,"
        " updated_at = excluded.updated_at",
        (*_asset_values(asset), now),
    )
    await conn.execute(
        "DELETE FROM segments WHERE item_key = %s AND asset_key = %s",
        (asset.item_key, asset.asset_key),
    )
    if asset.segments:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO segments (item_key, asset_key, range_start, range_end, pos)"
                " VALUES (%s, %s, %s, %s, %s)",
                [(asset.item_key, asset.asset_key, s.start, s.end, s.pos) for s in asset.segments],
            )


async def get_package(conn: Conn, item_key: str) -> PackageRecord | None:
    row = await (await conn.execute(_SELECT_PACKAGE, (item_key,))).fetchone()
    return None if row is None else package_from_row(row)


async def assets(conn: Conn, item_key: str) -> list[AssetRecord]:
    segments: dict[str, list[tuple[object, ...]]] = {}
    for row in await (await conn.execute(_SELECT_SEGMENTS, (item_key,))).fetchall():
        segments.setdefault(str(row[0]), []).append(row[1:])
    rows = await (await conn.execute(_SELECT_ASSETS, (item_key,))).fetchall()
    return [asset_from_row(row, segments.get(str(row[1]), [])) for row in rows]


async def list_items(conn: Conn, include_inactive: bool) -> list[ItemRecord]:
    where = "" if include_inactive else " WHERE active = 1"
    cursor = await conn.execute(_SELECT_ITEMS + where + ' ORDER BY key COLLATE "C"')
    return [item_from_row(row) for row in await cursor.fetchall()]


async def list_summaries(conn: Conn, include_inactive: bool) -> list[ItemSummary]:
    where = "" if include_inactive else " WHERE active = 1"
    cursor = await conn.execute(_SELECT_SUMMARIES + where + ' ORDER BY key COLLATE "C"')
    return summaries_from_rows(await cursor.fetchall())


async def events(conn: Conn, key: str) -> list[EventRecord]:
    cursor = await conn.execute(_SELECT_EVENTS, (key,))
    return [event_from_row(row) for row in await cursor.fetchall()]


async def counts(conn: Conn) -> dict[ItemState, int]:
    sql = "SELECT state, count(*) FROM items WHERE active = 1 GROUP BY state"
    found = {str(state): int(str(n)) for state, n in await (await conn.execute(sql)).fetchall()}
    return {state: found.get(state.value, 0) for state in ItemState}


def _asset_values(a: AssetRecord) -> tuple[object, ...]:
    state = a.state.value
    return (a.item_key, a.asset_key, a.name, a.url_hint, a.size, a.sha256, state, a.bytes_done)


def _package_values(p: PackageRecord) -> tuple[object, ...]:
    return (p.item_key, p.download_id, p.status, maybe_micros(p.url_expires_at), p.data)


def _one(row: tuple[object, ...] | None) -> tuple[object, ...]:
    if row is None:  # the row is locked by this transaction; it cannot have gone
        raise StoreError("an item vanished inside its own transaction")
    return row


async def census(conn: Conn) -> list[CensusRow]:
    rows = await (await conn.execute(CENSUS_SQL)).fetchall()
    return [census_row(row) for row in rows]
