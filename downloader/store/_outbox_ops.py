"""The outbox of hook events: its operations, once for both databases, and the
object that runs them (`Outbox`).

`insert` runs inside the transaction of a transition (see `_item_ops`); the
others are the operations of `Outbox`, each a transaction of its own.  `claim`
skips rows another host holds locked (the dialect's `SKIP LOCKED`), so hosts
sharing a PostgreSQL database deliver different rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from downloader.redact import scrub
from downloader.store._db import Db, Run
from downloader.store._outbox_models import OUTBOX_COLUMNS, OutboxRecord, OutboxRow, outbox_from_row
from downloader.store._rows import maybe_time, to_micros

__all__ = ["StoreOutbox", "insert"]

_UNDELIVERED = "delivered_at IS NULL"
_UNLEASE = "lease_owner = NULL, lease_expires_at = NULL"


def insert(db: Db, rows: Sequence[OutboxRow], now: int) -> None:
    """Add `rows`, due at once; a row already there (same event id) is kept as it is."""
    db.many(
        "INSERT INTO outbox (event_id, item_key, hook, kind, document, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        [(r.event_id, r.item_key, r.hook, r.kind, r.document, now, now) for r in rows],
    )


def _claim(db: Db, owner: str, now: int, until: int, limit: int) -> list[OutboxRecord]:
    if limit <= 0:
        return []
    rows = db.rows(
        "UPDATE outbox SET lease_owner = ?, lease_expires_at = ? WHERE event_id IN ("  # noqa: S608
        f" SELECT event_id FROM outbox WHERE {_UNDELIVERED} AND next_attempt_at <= ?"
        " AND (lease_owner IS NULL OR lease_expires_at <= ?)"
        f" ORDER BY next_attempt_at, created_at, event_id LIMIT ?{db.dialect.skip_locked})"
        f" RETURNING {OUTBOX_COLUMNS}",
        (owner, until, now, now, limit),
    )
    records = [outbox_from_row(row) for row in rows]
    # RETURNING keeps no order
    return sorted(records, key=lambda r: (r.next_attempt_at, r.created_at, r.event_id))


def _next_due(db: Db) -> int | None:
    # an unleased row is due at its time; a leased one when its lease runs out, if later
    row = db.one(
        "SELECT MIN(CASE WHEN lease_owner IS NULL THEN next_attempt_at"  # noqa: S608
        f" ELSE {db.dialect.greatest}(next_attempt_at, lease_expires_at) END)"
        f" FROM outbox WHERE {_UNDELIVERED}"
    )
    return None if row is None or row[0] is None else int(row[0])


def _pending(db: Db, keys: Collection[str] | None) -> list[OutboxRecord]:
    sql = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE {_UNDELIVERED}"  # noqa: S608
    values: tuple[object, ...] = ()
    if keys is not None:
        sql += f" AND {db.dialect.keys_in('item_key')}"
        values = (db.dialect.keys_value(keys),)
    return [outbox_from_row(row) for row in db.rows(sql + " ORDER BY created_at, event_id", values)]


class StoreOutbox:
    """The `Outbox` of a store, run by its `run`."""

    def __init__(self, run: Run) -> None:
        self._run = run

    async def claim(
        self, owner: str, *, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxRecord]:
        at, until = to_micros(now), to_micros(now + lease)
        return await self._run(lambda db: _claim(db, owner, at, until, limit), write=True)

    async def delivered(self, event_id: str, *, now: datetime) -> None:
        sql = f"UPDATE outbox SET delivered_at = ?, {_UNLEASE} WHERE event_id = ?"  # noqa: S608
        sql += f" AND {_UNDELIVERED}"
        at = to_micros(now)
        await self._run(lambda db: db.run(sql, (at, event_id)), write=True, durable=True)

    async def retry_later(
        self, event_id: str, owner: str, *, now: datetime, at: datetime, error: str
    ) -> None:
        sql = (
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"  # noqa: S608
            f" {_UNLEASE} WHERE event_id = ? AND lease_owner = ? AND {_UNDELIVERED}"
        )
        due, error = to_micros(at), scrub(error)  # the last guard before it is stored
        await self._run(lambda db: db.run(sql, (due, error, event_id, owner)), write=True)

    async def release_all(self, owner: str) -> int:
        sql = f"UPDATE outbox SET {_UNLEASE} WHERE lease_owner = ? AND {_UNDELIVERED}"  # noqa: S608
        return await self._run(lambda db: db.run(sql, (owner,)), write=True)

    async def next_due(self) -> datetime | None:
        return maybe_time(await self._run(_next_due, write=False))

    async def pending(self, keys: Collection[str] | None = None) -> list[OutboxRecord]:
        wanted = None if keys is None else list(keys)
        return await self._run(lambda db: _pending(db, wanted), write=False)
