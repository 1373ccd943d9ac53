"""The outbox of the PostgreSQL state store: its SQL, and the object that runs it.

`insert` runs inside the transaction of a transition (see `_postgres_ops`);
the others are the operations of `Outbox`, each a transaction of its own.
`claim` skips rows another host holds locked (`SKIP LOCKED`), so hosts sharing
the database deliver different rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from downloader.redact import scrub
from downloader.store._outbox_models import OUTBOX_COLUMNS, OutboxRecord, OutboxRow, outbox_from_row
from downloader.store._rows import maybe_time, to_micros

__all__ = ["PostgresOutbox", "insert"]

Conn = AsyncConnection[tuple[object, ...]]
Run = Callable[..., Awaitable[Any]]

_UNDELIVERED = "delivered_at IS NULL"
_SELECT = f"SELECT {OUTBOX_COLUMNS} FROM outbox"  # noqa: S608
_CLAIM = (
    "UPDATE outbox SET lease_owner = %s, lease_expires_at = %s WHERE event_id IN ("  # noqa: S608
    f" SELECT event_id FROM outbox WHERE {_UNDELIVERED} AND next_attempt_at <= %s"
    " AND (lease_owner IS NULL OR lease_expires_at <= %s)"
    " ORDER BY next_attempt_at, created_at, event_id LIMIT %s FOR UPDATE SKIP LOCKED)"
    f" RETURNING {OUTBOX_COLUMNS}"
)
_NEXT_DUE = (
    "SELECT MIN(CASE WHEN lease_owner IS NULL THEN next_attempt_at"  # noqa: S608
    " ELSE GREATEST(next_attempt_at, lease_expires_at) END)"
    f" FROM outbox WHERE {_UNDELIVERED}"
)


async def insert(conn: Conn, rows: Sequence[OutboxRow], now: int) -> None:
    """Add `rows`, due at once; a row already there (same event id) is kept as it is."""
    if not rows:
        return
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO outbox (event_id, item_key, hook, kind, document, created_at,"
            " next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (event_id) DO NOTHING",
            [(r.event_id, r.item_key, r.hook, r.kind, r.document, now, now) for r in rows],
        )


async def _claim(conn: Conn, owner: str, now: int, until: int, limit: int) -> list[OutboxRecord]:
    if limit <= 0:
        return []
    cursor = await conn.execute(_CLAIM, (owner, until, now, now, limit))
    records = [outbox_from_row(row) for row in await cursor.fetchall()]
    # RETURNING keeps no order
    return sorted(records, key=lambda r: (r.next_attempt_at, r.created_at, r.event_id))


async def _delivered(conn: Conn, event_id: str, now: int) -> None:
    await conn.execute(
        "UPDATE outbox SET delivered_at = %s, lease_owner = NULL, lease_expires_at = NULL"
        " WHERE event_id = %s AND delivered_at IS NULL",
        (now, event_id),
    )


async def _retry_later(conn: Conn, event_id: str, owner: str, at: int, error: str) -> None:
    await conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = %s, last_error = %s,"
        " lease_owner = NULL, lease_expires_at = NULL"
        " WHERE event_id = %s AND lease_owner = %s AND delivered_at IS NULL",
        (at, error, event_id, owner),
    )


async def _release_all(conn: Conn, owner: str) -> int:
    cursor = await conn.execute(
        "UPDATE outbox SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE lease_owner = %s AND delivered_at IS NULL",
        (owner,),
    )
    return cursor.rowcount


async def _next_due(conn: Conn) -> int | None:
    row = await (await conn.execute(_NEXT_DUE)).fetchone()
    return None if row is None or row[0] is None else int(str(row[0]))


async def _pending(conn: Conn, keys: Collection[str] | None) -> list[OutboxRecord]:
    sql = f"{_SELECT} WHERE {_UNDELIVERED}"
    values: tuple[object, ...] = ()
    if keys is not None:
        sql += " AND item_key = ANY(%s)"
        values = (sorted(keys),)
    cursor = await conn.execute(sql + " ORDER BY created_at, event_id", values)
    return [outbox_from_row(row) for row in await cursor.fetchall()]


class PostgresOutbox:
    """The `Outbox` of a `PostgresStore`, run by its `_run`."""

    def __init__(self, run: Run) -> None:
        self._run = run

    async def claim(
        self, owner: str, *, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxRecord]:
        at, until = to_micros(now), to_micros(now + lease)
        result: list[OutboxRecord] = await self._run(
            lambda c: _claim(c, owner, at, until, limit), durable=False
        )
        return result

    async def delivered(self, event_id: str, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda c: _delivered(c, event_id, at))

    async def retry_later(
        self, event_id: str, owner: str, *, now: datetime, at: datetime, error: str
    ) -> None:
        due, error = to_micros(at), scrub(error)  # the last guard before it is stored
        await self._run(lambda c: _retry_later(c, event_id, owner, due, error))

    async def release_all(self, owner: str) -> int:
        count: int = await self._run(lambda c: _release_all(c, owner), durable=False)
        return count

    async def next_due(self) -> datetime | None:
        return maybe_time(await self._run(_next_due))

    async def pending(self, keys: Collection[str] | None = None) -> list[OutboxRecord]:
        wanted = None if keys is None else list(keys)
        result: list[OutboxRecord] = await self._run(lambda c: _pending(c, wanted))
        return result
