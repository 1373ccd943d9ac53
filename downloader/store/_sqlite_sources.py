"""Sources in the SQLite state store: the blocking SQL and the book that runs it.

Every write runs in the store's `BEGIN IMMEDIATE` transaction, so syncing the
watchlist and adding what a listing found never interleave: an item a listing
adds is never made inactive by a sync that read the store before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from downloader.errors import LeaseLost
from downloader.items import ItemRef
from downloader.redact import scrub
from downloader.sources import SourceRef
from downloader.store import _sources_rows as q
from downloader.store import _sqlite_ops as ops
from downloader.store._models import SyncResult
from downloader.store._rows import maybe_time, to_micros
from downloader.store._sources_rows import ListingEnd, SourceRecord, source_from_row
from downloader.store._sqlite_sync import sync_watchlist

__all__ = ["SQLiteSources"]

T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]


def sync(
    conn: sqlite3.Connection, sources: Sequence[SourceRef], refs: Sequence[ItemRef], now: int
) -> tuple[SyncResult, list[ItemRef]]:
    known = {str(k): (bool(a), str(d)) for k, a, d in conn.execute(q.SELECT_KNOWN)}
    insert, update, off = q.plan_sources(known, sources)
    for ref in insert:
        conn.execute(q.INSERT_SOURCE, (ref.key, ref.definition(), now, now))
    for ref in update:
        definition = ref.definition()
        conn.execute(q.UPDATE_SOURCE, (definition, definition, now, ref.key))
    for key in off:
        conn.execute(q.DEACTIVATE_SOURCE, (now, key))
    listed = [str(key) for (key,) in conn.execute(q.SELECT_LISTED_ACTIVE)]
    explicit = {ref.key for ref in refs}
    wanted = q.wanted_refs(refs, listed)
    result = sync_watchlist(conn, wanted, now)
    return result, [ref for ref in wanted if ref.key not in explicit]


def claim(
    conn: sqlite3.Connection, owner: str, due: int, now: int, until: int, limit: int
) -> list[SourceRecord]:
    keys = [str(k) for (k,) in conn.execute(q.SELECT_DUE, (due, now, max(0, limit)))]
    conn.executemany(q.TAKE_LEASE, [(owner, until, key) for key in keys])
    return [source_from_row(conn.execute(q.SELECT_SOURCE, (key,)).fetchone()) for key in keys]


def add_listed(
    conn: sqlite3.Connection, key: str, owner: str, refs: Sequence[ItemRef], now: int
) -> list[str]:
    row = conn.execute(q.SELECT_SOURCE, (key,)).fetchone()
    source = None if row is None else source_from_row(row)
    if source is None or not source.active:
        return []  # removed while it was being listed: nothing of it is added
    if source.lease_owner != owner:
        raise LeaseLost(key, owner, source.lease_owner)
    known = {str(k) for (k,) in conn.execute(q.SELECT_ITEMS_OF, (key,))}
    added: list[str] = []
    for ref in refs:
        if ref.key in known:
            continue
        known.add(ref.key)
        item = conn.execute(q.SELECT_ITEM, (ref.key,)).fetchone()
        if item is None:
            conn.execute(q.INSERT_ITEM, (ref.key, ref.provider, ref.kind, now, now, now))
            ops.add_event(conn, ref.key, now, "added", f"listed by {key}")
        elif not item[0]:
            conn.execute(q.REACTIVATE_ITEM, (now, ref.key))
            ops.add_event(conn, ref.key, now, "reactivated", f"listed by {key}")
        conn.execute(q.INSERT_SOURCE_ITEM, (key, ref.key, now))
        added.append(ref.key)
    return added


def finish(conn: sqlite3.Connection, key: str, owner: str, end: ListingEnd, now: int) -> None:
    interval = int(end.interval.total_seconds() * 1000)
    error = scrub(end.error) if end.error else end.error  # the last guard, as for items
    values = (end.cursor, interval, to_micros(end.next_listing_at), now, error)
    conn.execute(q.FINISH, (*values, end.found, now, key, owner))


class SQLiteSources:
    """The sources of a `SQLiteStore` (see `SourceBook`)."""

    def __init__(self, run: Runner) -> None:
        self._run = run

    async def sync(
        self, sources: Iterable[SourceRef], refs: Iterable[ItemRef], *, now: datetime
    ) -> tuple[SyncResult, list[ItemRef]]:
        wanted, explicit, at = list(sources), list(refs), to_micros(now)
        result: tuple[SyncResult, list[ItemRef]] = await self._run(
            lambda c: sync(c, wanted, explicit, at), write=True, durable=True
        )
        return result

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        due_by: datetime | None = None,
    ) -> list[SourceRecord]:
        at, until = to_micros(due_by or now), to_micros(now + lease)
        lease_at = to_micros(now)
        records: list[SourceRecord] = await self._run(
            lambda c: claim(c, owner, at, lease_at, until, limit), write=True
        )
        return records

    async def add_listed(
        self, key: str, owner: str, refs: Iterable[ItemRef], *, now: datetime
    ) -> list[str]:
        found, at = list(refs), to_micros(now)
        added: list[str] = await self._run(
            lambda c: add_listed(c, key, owner, found, at), write=True, durable=True
        )
        return added

    async def renew(self, key: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        until = to_micros(now + lease)

        def op(conn: sqlite3.Connection) -> bool:
            return conn.execute(q.RENEW_LEASE, (until, key, owner)).rowcount == 1

        held: bool = await self._run(op, write=True)
        return held

    async def finish(self, key: str, owner: str, end: ListingEnd, *, now: datetime) -> None:
        at = to_micros(now)
        # like a lease, at worst a little behind after a power loss: a listing again
        await self._run(lambda c: finish(c, key, owner, end, at), write=True)

    async def release_all(self, owner: str) -> None:
        await self._run(lambda c: c.execute(q.RELEASE_ALL, (owner,)), write=True)

    async def next_due(self, owner: str) -> datetime | None:
        def op(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(q.SELECT_NEXT_DUE, (owner,)).fetchone()
            return None if row is None or row[0] is None else int(row[0])

        return maybe_time(await self._run(op, write=False))

    async def list_sources(self) -> list[SourceRecord]:
        def op(conn: sqlite3.Connection) -> list[SourceRecord]:
            return [source_from_row(row) for row in conn.execute(q.SELECT_SOURCES)]

        records: list[SourceRecord] = await self._run(op, write=False)
        return records

    async def listed_by(self, key: str) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            return sorted(str(k) for (k,) in conn.execute(q.SELECT_ITEMS_OF, (key,)))

        keys: list[str] = await self._run(op, write=False)
        return keys

    async def item_sources(self, key: str | None = None) -> dict[str, str]:
        def op(conn: sqlite3.Connection) -> dict[str, str]:
            rows = conn.execute(
                *((q.SELECT_ITEM_SOURCES,) if key is None else (q.SELECT_SOURCE_OF, (key,)))
            )
            return {str(i): str(s) for i, s in rows}

        found: dict[str, str] = await self._run(op, write=False)
        return found
