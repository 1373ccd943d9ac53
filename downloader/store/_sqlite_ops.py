"""The SQL of the SQLite state store, one blocking function per store operation.

Each function takes a connection that the caller has already put inside a
transaction (`BEGIN IMMEDIATE` for writes, so the read-check-write of a
transition cannot interleave with another writer) and works with times in
microseconds.  `SQLiteStore` runs them in a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence

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

# Queries are put together from constant column lists and state names only;
# every value goes through a `?` parameter.
_TERMINAL_SQL = ", ".join(f"'{state.value}'" for state in sorted(TERMINAL))
_UNFINISHED = f"active = 1 AND state NOT IN ({_TERMINAL_SQL})"
_SELECT_ITEMS = f"SELECT {ITEM_COLUMNS} FROM items"  # noqa: S608
# Both questions of the scheduler come in parts that the `items_turns` index answers
# without reading the items that are not due: unleased with no time set (due now),
# unleased and due by now, and those under a lease (another process's) that ran out;
# the first two read in the index's order and stop at `limit`, however many are due.
# The index is named: without statistics SQLite would walk every active item instead.
_TURNS = f"items INDEXED BY items_turns WHERE {_UNFINISHED}"


def _due_query(only: str) -> str:
    """The due keys, soonest first; `only` narrows every part (or is empty)."""
    turns = f"{_TURNS}{only}"
    return (
        "SELECT key FROM ("  # noqa: S608
        f" SELECT * FROM (SELECT key, 0 AS due, created_at FROM {turns}"
        " AND lease_owner IS NULL AND next_attempt_at IS NULL"
        " ORDER BY created_at, key LIMIT ?)"
        " UNION ALL"
        f" SELECT * FROM (SELECT key, next_attempt_at, created_at FROM {turns}"
        " AND lease_owner IS NULL AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at, created_at, key LIMIT ?)"
        " UNION ALL"
        f" SELECT key, COALESCE(next_attempt_at, 0), created_at FROM {turns}"
        " AND lease_owner IS NOT NULL AND lease_expires_at <= ?"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        ") ORDER BY due, created_at, key LIMIT ?"
    )


_SELECT_DUE = _due_query("")
# only waiting items of some `provider:kind`s (a JSON array), e.g. for a waiting room
_SELECT_DUE_WAITING = _due_query(
    f" AND state = '{ItemState.WAITING.value}'"  # noqa: S608 - a constant state name
    " AND provider || ':' || kind IN (SELECT value FROM json_each(?))"
)
# the soonest moment anything not leased to `owner` is due: now (0) for an unleased
# item with no time set, else its time; under another's lease, when that runs out too
_SELECT_NEXT_DUE = (
    "SELECT MIN(due) FROM ("  # noqa: S608
    f" SELECT (SELECT 0 FROM {_TURNS}"
    " AND lease_owner IS NULL AND next_attempt_at IS NULL LIMIT 1) AS due"
    " UNION ALL"
    f" SELECT MIN(next_attempt_at) FROM {_TURNS}"
    " AND lease_owner IS NULL AND next_attempt_at IS NOT NULL"
    " UNION ALL"
    " SELECT MIN(MAX(COALESCE(next_attempt_at, 0), lease_expires_at))"
    f" FROM {_TURNS} AND lease_owner IS NOT NULL AND lease_owner <> ?"
    ")"
)
_SELECT_HELD_ELSEWHERE = (
    f"SELECT 1 FROM {_TURNS} AND lease_owner IS NOT NULL AND lease_owner <> ? LIMIT 1"  # noqa: S608
)
_SELECT_SUMMARIES = f"SELECT {SUMMARY_COLUMNS} FROM items"  # noqa: S608
# the changed row comes back from the UPDATE itself, with no second read
_TRANSITION = (
    "UPDATE items SET state = ?, error = ?, archive_path = COALESCE(?, archive_path),"  # noqa: S608
    " attempts = CASE WHEN ? = 1 THEN 0 ELSE attempts + ? END,"
    f" next_attempt_at = NULL, state_since = ?, updated_at = ?,"
    " lease_owner = CASE WHEN ? = 1 THEN lease_owner END,"
    " lease_expires_at = CASE WHEN ? = 1 THEN lease_expires_at END"
    f" WHERE key = ? RETURNING {ITEM_COLUMNS}"
)
_SCHEDULE = (
    "UPDATE items SET attempts = attempts + ?, next_attempt_at = ?, error = ?,"  # noqa: S608
    f" updated_at = ? WHERE key = ? RETURNING {ITEM_COLUMNS}"
)
_SELECT_PACKAGE = f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE item_key = ?"  # noqa: S608
_SELECT_ASSETS = (
    f"SELECT {ASSET_COLUMNS} FROM assets"  # noqa: S608
    " WHERE item_key = ? ORDER BY asset_key"
)
_SELECT_SEGMENTS = (
    f"SELECT asset_key, {SEGMENT_COLUMNS} FROM segments"  # noqa: S608
    " WHERE item_key = ? ORDER BY asset_key, range_start"
)
_SELECT_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE item_key = ? ORDER BY id"  # noqa: S608


def fetch_item(conn: sqlite3.Connection, key: str) -> ItemRecord | None:
    row = conn.execute(_SELECT_ITEMS + " WHERE key = ?", (key,)).fetchone()
    return None if row is None else item_from_row(row)


def held_item(conn: sqlite3.Connection, key: str, owner: str | None) -> ItemRecord:
    """The item `key`, checked to exist and, if `owner` is given, to be leased to `owner`."""
    item = fetch_item(conn, key)
    if item is None:
        raise StoreError(f"no item {key!r} in the state store")
    if owner is not None and item.lease_owner != owner:
        raise LeaseLost(key, owner, item.lease_owner)
    return item


def add_event(conn: sqlite3.Connection, key: str, now: int, kind: str, detail: str) -> None:
    conn.execute(
        "INSERT INTO events (item_key, at, kind, detail) VALUES (?, ?, ?, ?)",
        (key, now, kind, detail),
    )


def claim(
    conn: sqlite3.Connection,
    owner: str,
    now: int,
    until: int,
    limit: int,
    waiting: Collection[str] | None = None,
) -> list[str]:
    n = max(0, limit)
    if waiting is None:
        keys = [key for (key,) in conn.execute(_SELECT_DUE, (n, now, n, now, now, n))]
    else:
        kinds = json.dumps(sorted(waiting))
        values = (kinds, n, kinds, now, n, kinds, now, now, n)
        keys = [key for (key,) in conn.execute(_SELECT_DUE_WAITING, values)]
    conn.executemany(
        "UPDATE items SET lease_owner = ?, lease_expires_at = ? WHERE key = ?",
        [(owner, until, key) for key in keys],
    )
    return keys


def renew(conn: sqlite3.Connection, owner: str, keys: Sequence[str], until: int) -> frozenset[str]:
    # one statement for them all (the keys as a JSON array): thousands of waiting items
    # are renewed together, every third of a lease
    rows = conn.execute(
        "UPDATE items SET lease_expires_at = ? WHERE lease_owner = ?"
        " AND key IN (SELECT value FROM json_each(?)) RETURNING key",
        (until, owner, json.dumps(list(keys))),
    ).fetchall()
    return frozenset(str(key) for (key,) in rows)


def release(conn: sqlite3.Connection, owner: str, key: str | None) -> int:
    """Drop `owner`'s lease on `key`, or on everything when `key` is None."""
    sql = "UPDATE items SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?"
    if key is None:
        return conn.execute(sql, (owner,)).rowcount
    return conn.execute(f"{sql} AND key = ?", (owner, key)).rowcount


def next_due(conn: sqlite3.Connection, owner: str) -> int | None:
    row = conn.execute(_SELECT_NEXT_DUE, (owner,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def held_elsewhere(conn: sqlite3.Connection, owner: str) -> bool:
    return conn.execute(_SELECT_HELD_ELSEWHERE, (owner,)).fetchone() is not None


def transition(
    conn: sqlite3.Connection,
    key: str,
    target: ItemState,
    now: int,
    owner: str | None,
    error: str | None,
    archive_path: str | None,
    counts: int = 0,
) -> ItemRecord:
    item = held_item(conn, key, owner)
    check_transition(item.state, target)
    keep_lease = 0 if is_terminal(target) else 1
    fresh = 1 if starts_afresh(item.state, target) else 0
    rows = conn.execute(
        _TRANSITION,
        (target.value, error, archive_path, fresh, counts, now, now, keep_lease, keep_lease, key),
    ).fetchall()
    detail = f"{item.state} -> {target}" + (f": {error}" if error else "")
    add_event(conn, key, now, "transition", detail)
    return item_from_row(rows[0])


def schedule(
    conn: sqlite3.Connection,
    key: str,
    at: int,
    now: int,
    owner: str | None,
    error: str | None,
    counts: bool = True,
) -> ItemRecord:
    item = held_item(conn, key, owner)
    if is_terminal(item.state):
        raise StoreError(f"{key} is {item.state}; there is no step to try again")
    rows = conn.execute(_SCHEDULE, (int(counts), at, error, now, key)).fetchall()
    if error and counts:
        when = from_micros(at).isoformat()
        add_event(conn, key, now, "retry", f"attempt {item.attempts + 1}: {error}; next {when}")
    return item_from_row(rows[0])


def set_progress(
    conn: sqlite3.Connection,
    key: str,
    done: int,
    total: int | None,
    now: int,
    owner: str | None,
) -> None:
    # one statement while the lease holds; only a miss reads the item, to say why
    sql = "UPDATE items SET bytes_done = ?, bytes_total = ?, updated_at = ? WHERE key = ?"
    if owner is None:
        changed = conn.execute(sql, (done, total, now, key)).rowcount
    else:
        changed = conn.execute(
            sql + " AND lease_owner = ?", (done, total, now, key, owner)
        ).rowcount
    if not changed:
        held_item(conn, key, owner)  # raises: no such item, or the lease is another's
        raise StoreError(f"the progress of {key!r} was not recorded")


def save_package(conn: sqlite3.Connection, package: PackageRecord, now: int) -> None:
    held_item(conn, package.item_key, None)
    conn.execute(
        "INSERT INTO packages (item_key, download_id, status, url_expires_at, data, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_key) DO UPDATE SET"
        " download_id = excluded.download_id, status = excluded.status,"
        " url_expires_at = excluded.url_expires_at, data = excluded.data,"
        " updated_at = excluded.updated_at",
        (
            package.item_key,
            package.download_id,
            package.status,
            maybe_micros(package.url_expires_at),
            package.data,
            now,
        ),
    )


def save_asset(conn: sqlite3.Connection, asset: AssetRecord, now: int) -> None:
    try:
        _insert_asset(conn, asset, now)
    except sqlite3.IntegrityError:
        # the foreign key refused it: say which item is missing, rather than SQLite's words
        held_item(conn, asset.item_key, None)
        raise
    conn.execute(
        "DELETE FROM segments WHERE item_key = ? AND asset_key = ?",
        (asset.item_key, asset.asset_key),
    )
    conn.executemany(
        "INSERT INTO segments (item_key, asset_key, range_start, range_end, pos)"
        " VALUES (?, ?, ?, ?, ?)",
        [(asset.item_key, asset.asset_key, s.start, s.end, s.pos) for s in asset.segments],
    )


def _insert_asset(conn: sqlite3.Connection, asset: AssetRecord, now: int) -> None:
    conn.execute(
        "INSERT INTO assets (item_key, asset_key, name, url_hint, size, sha256, state,"
        " bytes_done, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (item_key, asset_key) DO UPDATE SET name = excluded.name,"
        " url_hint = excluded.url_hint, size = excluded.size, sha256 = excluded.sha256,"
        " state = excluded.state, bytes_done = excluded.bytes_done,"
        " updated_at = excluded.updated_at",
        (
            asset.item_key,
            asset.asset_key,
            asset.name,
            asset.url_hint,
            asset.size,
            asset.sha256,
            asset.state.value,
            asset.bytes_done,
            now,
        ),
    )


def get_package(conn: sqlite3.Connection, item_key: str) -> PackageRecord | None:
    row = conn.execute(_SELECT_PACKAGE, (item_key,)).fetchone()
    return None if row is None else package_from_row(row)


def assets(conn: sqlite3.Connection, item_key: str) -> list[AssetRecord]:
    segments: dict[str, list[tuple[int, int | None, int]]] = {}
    for asset_key, start, end, pos in conn.execute(_SELECT_SEGMENTS, (item_key,)):
        segments.setdefault(asset_key, []).append((start, end, pos))
    return [
        asset_from_row(row, segments.get(row[1], []))
        for row in conn.execute(_SELECT_ASSETS, (item_key,))
    ]


def list_items(conn: sqlite3.Connection, include_inactive: bool) -> list[ItemRecord]:
    where = "" if include_inactive else " WHERE active = 1"
    return [item_from_row(row) for row in conn.execute(_SELECT_ITEMS + where + " ORDER BY key")]


def list_summaries(conn: sqlite3.Connection, include_inactive: bool) -> list[ItemSummary]:
    # `+active` keeps SQLite off the `items_due` index: walking the key index gives
    # the rows in order already, where that index needs a sort of all of them
    where = "" if include_inactive else " WHERE +active = 1"
    return summaries_from_rows(conn.execute(_SELECT_SUMMARIES + where + " ORDER BY key"))


def events(conn: sqlite3.Connection, key: str) -> list[EventRecord]:
    return [event_from_row(row) for row in conn.execute(_SELECT_EVENTS, (key,))]


def counts(conn: sqlite3.Connection) -> dict[ItemState, int]:
    sql = "SELECT state, count(*) FROM items WHERE active = 1 GROUP BY state"
    found = {state: int(n) for state, n in conn.execute(sql)}
    return {state: found.get(state.value, 0) for state in ItemState}


def census(conn: sqlite3.Connection) -> list[CensusRow]:
    return [census_row(row) for row in conn.execute(CENSUS_SQL)]
