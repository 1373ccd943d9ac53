"""The outbox of the SQLite state store: its SQL, and the object that runs it.

`insert` runs inside the transaction of a transition (see `_sqlite_ops`); the
others are the operations of `Outbox`, each in a transaction of its own on the
store's thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from downloader.redact import scrub
from downloader.store._outbox_models import OUTBOX_COLUMNS, OutboxRecord, OutboxRow, outbox_from_row
from downloader.store._rows import maybe_time, to_micros

__all__ = ["SQLiteOutbox", "insert"]

Run = Callable[..., Awaitable[Any]]

_UNDELIVERED = "delivered_at IS NULL"
_SELECT = f"SELECT {OUTBOX_COLUMNS} FROM outbox"  # noqa: S608
_CLAIM = (
    "UPDATE outbox SET lease_owner = ?, lease_expires_at = ? WHERE event_id IN ("  # noqa: S608
    f" SELECT event_id FROM outbox WHERE {_UNDELIVERED} AND next_attempt_at <= ?"
    " AND (lease_owner IS NULL OR lease_expires_at <= ?)"
    " ORDER BY next_attempt_at, created_at, event_id LIMIT ?)"
    f" RETURNING {OUTBOX_COLUMNS}"
)
# an unleased row is due at its time; a leased one when its lease runs out, if later
_NEXT_DUE = (
    "SELECT MIN(CASE WHEN lease_owner IS NULL THEN next_attempt_at"  # noqa: S608
    " ELSE MAX(next_attempt_at, lease_expires_at) END)"
    f" FROM outbox WHERE {_UNDELIVERED}"
)


def insert(conn: sqlite3.Connection, rows: Sequence[OutboxRow], now: int) -> None:
    """Add `rows`, due at once; a row already there (same event id) is kept as it is."""
    conn.executemany(
        "INSERT INTO outbox (event_id, item_key, hook, kind, document, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        [(r.event_id, r.item_key, r.hook, r.kind, r.document, now, now) for r in rows],
    )


def _claim(
    conn: sqlite3.Connection, owner: str, now: int, until: int, limit: int
) -> list[OutboxRecord]:
    rows = conn.execute(_CLAIM, (owner, until, now, now, max(0, limit))).fetchall()
    records = [outbox_from_row(row) for row in rows]
    return sorted(records, key=lambda r: (r.next_attempt_at, r.created_at, r.event_id))


def _delivered(conn: sqlite3.Connection, event_id: str, now: int) -> None:
    conn.execute(
        "UPDATE outbox SET delivered_at = ?, lease_owner = NULL, lease_expires_at = NULL"
        " WHERE event_id = ? AND delivered_at IS NULL",
        (now, event_id),
    )


def _retry_later(conn: sqlite3.Connection, event_id: str, owner: str, at: int, error: str) -> None:
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
        " lease_owner = NULL, lease_expires_at = NULL"
        " WHERE event_id = ? AND lease_owner = ? AND delivered_at IS NULL",
        (at, error, event_id, owner),
    )


def _release_all(conn: sqlite3.Connection, owner: str) -> int:
    return conn.execute(
        "UPDATE outbox SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE lease_owner = ? AND delivered_at IS NULL",
        (owner,),
    ).rowcount


def _next_due(conn: sqlite3.Connection) -> int | None:
    row = conn.execute(_NEXT_DUE).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _pending(conn: sqlite3.Connection, keys: Collection[str] | None) -> list[OutboxRecord]:
    sql = f"{_SELECT} WHERE {_UNDELIVERED}"
    values: tuple[object, ...] = ()
    if keys is not None:
        sql += " AND item_key IN (SELECT value FROM json_each(?))"
        values = (json.dumps(sorted(keys)),)
    return [outbox_from_row(row) for row in conn.execute(sql + " ORDER BY created_at", values)]


class SQLiteOutbox:
    """The `Outbox` of a `SQLiteStore`, run by its `_run`."""

    def __init__(self, run: Run) -> None:
        self._run = run

    async def claim(
        self, owner: str, *, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxRecord]:
        at, until = to_micros(now), to_micros(now + lease)
        result: list[OutboxRecord] = await self._run(
            lambda c: _claim(c, owner, at, until, limit), write=True
        )
        return result

    async def delivered(self, event_id: str, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda c: _delivered(c, event_id, at), write=True, durable=True)

    async def retry_later(
        self, event_id: str, owner: str, *, now: datetime, at: datetime, error: str
    ) -> None:
        due, error = to_micros(at), scrub(error)  # the last guard before it is stored
        await self._run(lambda c: _retry_later(c, event_id, owner, due, error), write=True)

    async def release_all(self, owner: str) -> int:
        count: int = await self._run(lambda c: _release_all(c, owner), write=True)
        return count

    async def next_due(self) -> datetime | None:
        return maybe_time(await self._run(_next_due, write=False))

    async def pending(self, keys: Collection[str] | None = None) -> list[OutboxRecord]:
        wanted = None if keys is None else list(keys)
        result: list[OutboxRecord] = await self._run(lambda c: _pending(c, wanted), write=False)
        return result
