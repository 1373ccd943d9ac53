"""The store's operations on an item's turn: claims and leases, transitions, progress.

Written once for both databases (see `_dialect`), as blocking functions of a
`Db` already inside a transaction, with times in microseconds.  Whatever reads
an item to decide on a write reads it with the dialect's row lock, so the check
of the transition table or of the lease and the write it allows are one step:
on SQLite the transaction's `BEGIN IMMEDIATE` holds the database, on PostgreSQL
`FOR UPDATE` holds the row.  A claim skips rows another claimer holds locked
(`SKIP LOCKED`) instead of waiting for them: two claimers never get one item.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from downloader.errors import LeaseLost, StoreError
from downloader.store import _outbox_ops
from downloader.store._db import Db, Row
from downloader.store._lifecycle import ItemState, check_transition, is_terminal, starts_afresh
from downloader.store._models import ItemRecord
from downloader.store._outbox_models import OutboxRow
from downloader.store._rows import ITEM_COLUMNS, from_micros, item_from_row

__all__ = [
    "add_event",
    "claim",
    "fetch_item",
    "held_elsewhere",
    "held_item",
    "next_due",
    "release",
    "renew",
    "schedule",
    "set_progress",
    "transition",
]

_SELECT_ITEM = f"SELECT {ITEM_COLUMNS} FROM items WHERE key = ?"  # noqa: S608
# the changed row comes back from the UPDATE itself, with no second read
_TRANSITION = (
    "UPDATE items SET state = ?, error = ?, archive_path = COALESCE(?, archive_path),"  # noqa: S608
    " attempts = CASE WHEN ? = 1 THEN 0 ELSE attempts + ? END,"
    " next_attempt_at = NULL, state_since = ?, updated_at = ?,"
    " lease_owner = CASE WHEN ? = 1 THEN lease_owner END,"
    " lease_expires_at = CASE WHEN ? = 1 THEN lease_expires_at END"
    f" WHERE key = ? RETURNING {ITEM_COLUMNS}"
)
_SCHEDULE = (
    "UPDATE items SET attempts = attempts + ?, next_attempt_at = ?, error = ?,"  # noqa: S608
    f" updated_at = ? WHERE key = ? RETURNING {ITEM_COLUMNS}"
)
_PROGRESS = "UPDATE items SET bytes_done = ?, bytes_total = ?, updated_at = ? WHERE key = ?"
_RELEASE = "UPDATE items SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?"


def _next_due_sql(db: Db) -> str:
    # the soonest moment anything not leased to `owner` is due, in three parts that
    # the `items_turns` index answers by reading a row or two, not every waiting
    # item: now (0) for an unleased item with no time set; the earliest time of an
    # unleased one; for another's lease, when that runs out too
    turns = db.dialect.turns
    return (
        "SELECT MIN(due) FROM ("  # noqa: S608
        f" SELECT (SELECT 0 FROM {turns}"
        " AND lease_owner IS NULL AND next_attempt_at IS NULL LIMIT 1) AS due"
        " UNION ALL"
        f" SELECT (SELECT next_attempt_at FROM {turns}"
        " AND lease_owner IS NULL AND next_attempt_at IS NOT NULL"
        " ORDER BY lease_owner, next_attempt_at LIMIT 1)"
        " UNION ALL"
        f" SELECT MIN({db.dialect.greatest}(COALESCE(next_attempt_at, 0), lease_expires_at))"
        f" FROM {turns} AND lease_owner IS NOT NULL AND lease_owner <> ?"
        ") AS parts"
    )


def fetch_item(db: Db, key: str, *, lock: bool = False) -> ItemRecord | None:
    row = db.one(_SELECT_ITEM + (db.dialect.row_lock if lock else ""), (key,))
    return None if row is None else item_from_row(row)


def held_item(db: Db, key: str, owner: str | None) -> ItemRecord:
    """The item `key`, locked, checked to exist and, if `owner` is given, to be `owner`'s."""
    item = fetch_item(db, key, lock=True)
    if item is None:
        raise StoreError(f"no item {key!r} in the state store")
    if owner is not None and item.lease_owner != owner:
        raise LeaseLost(key, owner, item.lease_owner)
    return item


def add_event(db: Db, key: str, now: int, kind: str, detail: str) -> None:
    db.run(
        "INSERT INTO events (item_key, at, kind, detail) VALUES (?, ?, ?, ?)",
        (key, now, kind, detail),
    )


def claim(
    db: Db, owner: str, now: int, until: int, limit: int, waiting: Collection[str] | None
) -> list[ItemRecord]:
    if limit <= 0:
        return []
    keys = [str(key) for (key,) in db.rows(*db.dialect.due(now, limit, waiting))]
    if not keys:
        return []
    rows = db.rows(
        "UPDATE items SET lease_owner = ?, lease_expires_at = ?"  # noqa: S608
        f" WHERE {db.dialect.keys_in('key')} RETURNING {ITEM_COLUMNS}",
        (owner, until, db.dialect.keys_value(keys)),
    )
    # RETURNING keeps no order: the soonest due first, as the query chose them
    taken = {str(row[0]): item_from_row(row) for row in rows}
    return [taken[key] for key in keys if key in taken]


def renew(db: Db, owner: str, keys: Sequence[str], until: int) -> frozenset[str]:
    # one statement for them all: thousands of waiting items are renewed together,
    # every third of a lease
    rows = db.rows(
        "UPDATE items SET lease_expires_at = ? WHERE lease_owner = ?"  # noqa: S608
        f" AND {db.dialect.keys_in('key')} RETURNING key",
        (until, owner, db.dialect.keys_value(keys)),
    )
    return frozenset(str(key) for (key,) in rows)


def release(db: Db, owner: str, key: str | None) -> int:
    """Drop `owner`'s lease on `key`, or on everything when `key` is None."""
    if key is None:
        return db.run(_RELEASE, (owner,))
    return db.run(_RELEASE + " AND key = ?", (owner, key))


def next_due(db: Db, owner: str) -> int | None:
    row = db.one(_next_due_sql(db), (owner,))
    return None if row is None or row[0] is None else int(row[0])


def held_elsewhere(db: Db, owner: str) -> bool:
    sql = f"SELECT 1 FROM {db.dialect.turns} AND lease_owner IS NOT NULL"  # noqa: S608
    sql += " AND lease_owner <> ?"
    return db.one(sql + " LIMIT 1", (owner,)) is not None


def transition(
    db: Db,
    key: str,
    target: ItemState,
    now: int,
    owner: str | None,
    error: str | None,
    archive_path: str | None,
    counts: int = 0,
    outbox: Sequence[OutboxRow] = (),
) -> ItemRecord:
    item = held_item(db, key, owner)
    check_transition(item.state, target)
    keep_lease = 0 if is_terminal(target) else 1
    fresh = 1 if starts_afresh(item.state, target) else 0
    rows = db.rows(
        _TRANSITION,
        (target.value, error, archive_path, fresh, counts, now, now, keep_lease, keep_lease, key),
    )
    detail = f"{item.state} -> {target}" + (f": {error}" if error else "")
    add_event(db, key, now, "transition", detail)
    _outbox_ops.insert(db, outbox, now)  # the hooks' events stand or fall with the move
    return item_from_row(_locked(rows))


def schedule(
    db: Db, key: str, at: int, now: int, owner: str | None, error: str | None, counts: bool
) -> ItemRecord:
    item = held_item(db, key, owner)
    if is_terminal(item.state):
        raise StoreError(f"{key} is {item.state}; there is no step to try again")
    rows = db.rows(_SCHEDULE, (int(counts), at, error, now, key))
    if error and counts:
        when = from_micros(at).isoformat()
        add_event(db, key, now, "retry", f"attempt {item.attempts + 1}: {error}; next {when}")
    return item_from_row(_locked(rows))


def set_progress(
    db: Db, key: str, done: int, total: int | None, now: int, owner: str | None
) -> None:
    # one statement while the lease holds; only a miss reads the item, to say why
    if owner is None:
        changed = db.run(_PROGRESS, (done, total, now, key))
    else:
        changed = db.run(_PROGRESS + " AND lease_owner = ?", (done, total, now, key, owner))
    if not changed:
        held_item(db, key, owner)  # raises: no such item, or the lease is another's
        raise StoreError(f"the progress of {key!r} was not recorded")


def _locked(rows: list[Row]) -> Row:
    # a RETURNING is read to its end: SQLite finishes the statement only then
    if not rows:  # the row is locked by this transaction; it cannot have gone
        raise StoreError("an item vanished inside its own transaction")
    return rows[0]
