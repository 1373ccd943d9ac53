"""Sources in the PostgreSQL state store: the SQL and the book that runs it.

Syncing the watchlist and adding what a listing found both take the store's
sync lock (a transaction-scoped advisory lock), so an item one host's listing
adds is never made inactive by another host's sync that read the store before
it.  Due sources are claimed with `FOR UPDATE SKIP LOCKED`: two hosts never
list one source at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from downloader.errors import LeaseLost
from downloader.items import ItemRef
from downloader.redact import scrub
from downloader.sources import SourceRef
from downloader.store import _postgres_ops as ops
from downloader.store import _sources_rows as q
from downloader.store._models import SyncResult
from downloader.store._postgres_sync import sync_watchlist
from downloader.store._rows import maybe_time, to_micros
from downloader.store._sources_rows import ListingEnd, SourceRecord, pg, source_from_row

__all__ = ["PostgresSources"]

Runner = Callable[..., Awaitable[Any]]
_SELECT_DUE = pg(q.SELECT_DUE) + " FOR UPDATE SKIP LOCKED"


async def _lock(conn: ops.Conn) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ops.SYNC_LOCK,))


async def sync(
    conn: ops.Conn, sources: Sequence[SourceRef], refs: Sequence[ItemRef], now: int
) -> tuple[SyncResult, list[ItemRef]]:
    await _lock(conn)
    rows = await (await conn.execute(q.SELECT_KNOWN)).fetchall()
    known = {str(k): (bool(a), str(d)) for k, a, d in rows}
    insert, update, off = q.plan_sources(known, sources)
    for ref in insert:
        await conn.execute(pg(q.INSERT_SOURCE), (ref.key, ref.definition(), now, now))
    for ref in update:
        definition = ref.definition()
        await conn.execute(pg(q.UPDATE_SOURCE), (definition, definition, now, ref.key))
    for key in off:
        await conn.execute(pg(q.DEACTIVATE_SOURCE), (now, key))
    listed = [str(k) for (k,) in await (await conn.execute(q.SELECT_LISTED_ACTIVE)).fetchall()]
    explicit = {ref.key for ref in refs}
    wanted = q.wanted_refs(refs, listed)
    result = await sync_watchlist(conn, wanted, now)
    return result, [ref for ref in wanted if ref.key not in explicit]


async def claim(
    conn: ops.Conn, owner: str, due: int, now: int, until: int, limit: int
) -> list[SourceRecord]:
    rows = await (await conn.execute(_SELECT_DUE, (due, now, max(0, limit)))).fetchall()
    keys = [str(k) for (k,) in rows]
    records = []
    for key in keys:
        await conn.execute(pg(q.TAKE_LEASE), (owner, until, key))
        row = await (await conn.execute(pg(q.SELECT_SOURCE), (key,))).fetchone()
        assert row is not None  # locked by the claim above
        records.append(source_from_row(row))
    return records


async def add_listed(
    conn: ops.Conn, key: str, owner: str, refs: Sequence[ItemRef], now: int
) -> list[str]:
    await _lock(conn)
    row = await (await conn.execute(pg(q.SELECT_SOURCE), (key,))).fetchone()
    source = None if row is None else source_from_row(row)
    if source is None or not source.active:
        return []  # removed while it was being listed: nothing of it is added
    if source.lease_owner != owner:
        raise LeaseLost(key, owner, source.lease_owner)
    rows = await (await conn.execute(pg(q.SELECT_ITEMS_OF), (key,))).fetchall()
    known = {str(k) for (k,) in rows}
    added: list[str] = []
    for ref in refs:
        if ref.key in known:
            continue
        known.add(ref.key)
        item = await (await conn.execute(pg(q.SELECT_ITEM), (ref.key,))).fetchone()
        if item is None:
            values = (ref.key, ref.provider, ref.kind, now, now, now)
            await conn.execute(pg(q.INSERT_ITEM), values)
            await ops.add_event(conn, ref.key, now, "added", f"listed by {key}")
        elif not item[0]:
            await conn.execute(pg(q.REACTIVATE_ITEM), (now, ref.key))
            await ops.add_event(conn, ref.key, now, "reactivated", f"listed by {key}")
        await conn.execute(pg(q.INSERT_SOURCE_ITEM), (key, ref.key, now))
        added.append(ref.key)
    return added


class PostgresSources:
    """The sources of a `PostgresStore` (see `SourceBook`)."""

    def __init__(self, run: Runner) -> None:
        self._run = run

    async def sync(
        self, sources: Iterable[SourceRef], refs: Iterable[ItemRef], *, now: datetime
    ) -> tuple[SyncResult, list[ItemRef]]:
        wanted, explicit, at = list(sources), list(refs), to_micros(now)
        result: tuple[SyncResult, list[ItemRef]] = await self._run(
            lambda c: sync(c, wanted, explicit, at)
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
            lambda c: claim(c, owner, at, lease_at, until, limit)
        )
        return records

    async def add_listed(
        self, key: str, owner: str, refs: Iterable[ItemRef], *, now: datetime
    ) -> list[str]:
        found, at = list(refs), to_micros(now)
        added: list[str] = await self._run(lambda c: add_listed(c, key, owner, found, at))
        return added

    async def renew(self, key: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        until = to_micros(now + lease)

        async def op(conn: ops.Conn) -> bool:
            done = await conn.execute(pg(q.RENEW_LEASE), (until, key, owner))
            return done.rowcount == 1

        held: bool = await self._run(op, durable=False)
        return held

    async def finish(self, key: str, owner: str, end: ListingEnd, *, now: datetime) -> None:
        at = to_micros(now)
        interval = int(end.interval.total_seconds() * 1000)
        error = scrub(end.error) if end.error else end.error  # the last guard, as for items
        values = (end.cursor, interval, to_micros(end.next_listing_at), at, error)

        async def op(conn: ops.Conn) -> None:
            await conn.execute(pg(q.FINISH), (*values, end.found, at, key, owner))

        await self._run(op, durable=False)

    async def release_all(self, owner: str) -> None:
        async def op(conn: ops.Conn) -> None:
            await conn.execute(pg(q.RELEASE_ALL), (owner,))

        await self._run(op)

    async def next_due(self, owner: str) -> datetime | None:
        async def op(conn: ops.Conn) -> int | None:
            row = await (await conn.execute(pg(q.SELECT_NEXT_DUE), (owner,))).fetchone()
            return None if row is None or row[0] is None else int(str(row[0]))

        return maybe_time(await self._run(op))

    async def list_sources(self) -> list[SourceRecord]:
        async def op(conn: ops.Conn) -> list[SourceRecord]:
            rows = await (await conn.execute(q.SELECT_SOURCES)).fetchall()
            return [source_from_row(row) for row in rows]

        records: list[SourceRecord] = await self._run(op)
        return records

    async def listed_by(self, key: str) -> list[str]:
        async def op(conn: ops.Conn) -> list[str]:
            rows = await (await conn.execute(pg(q.SELECT_ITEMS_OF), (key,))).fetchall()
            return sorted(str(k) for (k,) in rows)

        keys: list[str] = await self._run(op)
        return keys

    async def item_sources(self, key: str | None = None) -> dict[str, str]:
        async def op(conn: ops.Conn) -> dict[str, str]:
            if key is None:
                rows = await (await conn.execute(q.SELECT_ITEM_SOURCES)).fetchall()
            else:
                found = await conn.execute(pg(q.SELECT_SOURCE_OF), (key,))
                rows = await found.fetchall()
            return {str(i): str(s) for i, s in rows}

        found: dict[str, str] = await self._run(op)
        return found
