"""Sources in the state store: their operations, once for both databases, and the
book that runs them (`SourceBook`), as the rest of the program sees them.

Syncing the watchlist and adding what a listing found both take the sync lock
(`Db.lock_sync`; SQLite's `BEGIN IMMEDIATE` is one already), so an item one
host's listing adds is never made inactive by another host's sync that read
the store before it.  Due sources are claimed with the dialect's `SKIP LOCKED`:
two hosts never list one source at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from downloader.errors import LeaseLost
from downloader.items import ItemRef
from downloader.redact import scrub
from downloader.sources import SourceRef
from downloader.store import _sources_rows as q
from downloader.store._db import Db, Run
from downloader.store._item_ops import add_event
from downloader.store._models import SyncResult
from downloader.store._rows import maybe_time, to_micros
from downloader.store._sources_rows import ListingEnd, SourceRecord, source_from_row
from downloader.store._sync_ops import sync_watchlist

__all__ = ["SourceBook"]


def sync(
    db: Db, sources: Sequence[SourceRef], refs: Sequence[ItemRef], now: int
) -> tuple[SyncResult, list[ItemRef]]:
    db.lock_sync()
    known = {str(k): (bool(a), str(d)) for k, a, d in db.rows(q.SELECT_KNOWN)}
    insert, update, off = q.plan_sources(known, sources)
    for ref in insert:
        db.run(q.INSERT_SOURCE, (ref.key, ref.definition(), now, now))
    for ref in update:
        definition = ref.definition()
        db.run(q.UPDATE_SOURCE, (definition, definition, now, ref.key))
    for key in off:
        db.run(q.DEACTIVATE_SOURCE, (now, key))
    listed = [str(key) for (key,) in db.rows(q.SELECT_LISTED_ACTIVE)]
    explicit = {ref.key for ref in refs}
    wanted = q.wanted_refs(refs, listed)
    result = sync_watchlist(db, wanted, now)
    return result, [ref for ref in wanted if ref.key not in explicit]


def claim(db: Db, owner: str, due: int, now: int, until: int, limit: int) -> list[SourceRecord]:
    rows = db.rows(q.SELECT_DUE + db.dialect.skip_locked, (due, now, max(0, limit)))
    keys = [str(k) for (k,) in rows]
    db.many(q.TAKE_LEASE, [(owner, until, key) for key in keys])
    return [source_from_row(_found(db.one(q.SELECT_SOURCE, (key,)))) for key in keys]


def add_listed(db: Db, key: str, owner: str, refs: Sequence[ItemRef], now: int) -> list[str]:
    db.lock_sync()
    row = db.one(q.SELECT_SOURCE, (key,))
    source = None if row is None else source_from_row(row)
    if source is None or not source.active:
        return []  # removed while it was being listed: nothing of it is added
    if source.lease_owner != owner:
        raise LeaseLost(key, owner, source.lease_owner)
    known = {str(k) for (k,) in db.rows(q.SELECT_ITEMS_OF, (key,))}
    added: list[str] = []
    for ref in refs:
        if ref.key in known:
            continue
        known.add(ref.key)
        item = db.one(q.SELECT_ITEM, (ref.key,))
        if item is None:
            db.run(q.INSERT_ITEM, (ref.key, ref.provider, ref.kind, now, now, now))
            add_event(db, ref.key, now, "added", f"listed by {key}")
        elif not item[0]:
            db.run(q.REACTIVATE_ITEM, (now, ref.key))
            add_event(db, ref.key, now, "reactivated", f"listed by {key}")
        db.run(q.INSERT_SOURCE_ITEM, (key, ref.key, now))
        added.append(ref.key)
    return added


def finish(db: Db, key: str, owner: str, end: ListingEnd, now: int) -> None:
    interval = int(end.interval.total_seconds() * 1000)
    error = scrub(end.error) if end.error else end.error  # the last guard, as for items
    values = (end.cursor, interval, to_micros(end.next_listing_at), now, error)
    db.run(q.FINISH, (*values, end.found, now, key, owner))


def next_due(db: Db, owner: str) -> int | None:
    row = db.one(q.SELECT_NEXT_DUE, (owner,))
    return None if row is None or row[0] is None else int(row[0])


def item_sources(db: Db, key: str | None) -> dict[str, str]:
    rows = db.rows(*((q.SELECT_ITEM_SOURCES,) if key is None else (q.SELECT_SOURCE_OF, (key,))))
    return {str(i): str(s) for i, s in rows}


def _found(row: tuple[object, ...] | None) -> tuple[object, ...]:
    assert row is not None  # locked by the claim that found it
    return row


class SourceBook:
    """Sources kept across restarts, listed by one process at a time under a lease
    (`StateStore.sources`), run by the store's `run`."""

    def __init__(self, run: Run) -> None:
        self._run = run

    async def sync(
        self, sources: Iterable[SourceRef], refs: Iterable[ItemRef], *, now: datetime
    ) -> tuple[SyncResult, list[ItemRef]]:
        """Make `sources` the active sources and `refs` plus what they listed the active
        items, in one transaction; the result of the items' sync and the listed items."""
        wanted, explicit, at = list(sources), list(refs), to_micros(now)
        return await self._run(lambda db: sync(db, wanted, explicit, at), write=True, durable=True)

    async def claim(
        self,
        owner: str,
        *,
        limit: int,
        now: datetime,
        lease: timedelta,
        due_by: datetime | None = None,
    ) -> list[SourceRecord]:
        """Lease up to `limit` active sources due for a listing by `due_by` (default `now`)
        and not being listed by another owner, to `owner`."""
        at, until, lease_at = to_micros(due_by or now), to_micros(now + lease), to_micros(now)
        return await self._run(lambda db: claim(db, owner, at, lease_at, until, limit), write=True)

    async def add_listed(
        self, key: str, owner: str, refs: Iterable[ItemRef], *, now: datetime
    ) -> list[str]:
        """Record that source `key` lists `refs`; the keys it had not listed before.

        A new item starts as waiting; an inactive one becomes active again (a failed
        one stays failed).  Nothing is added for a source that is no longer active,
        and `LeaseLost` is raised when another owner lists it now."""
        found, at = list(refs), to_micros(now)
        return await self._run(
            lambda db: add_listed(db, key, owner, found, at), write=True, durable=True
        )

    async def renew(self, key: str, owner: str, *, now: datetime, lease: timedelta) -> bool:
        """Extend `owner`'s lease on source `key` while it lists it; False if it is lost."""
        until = to_micros(now + lease)
        changed = await self._run(lambda db: db.run(q.RENEW_LEASE, (until, key, owner)), write=True)
        return changed == 1

    async def finish(self, key: str, owner: str, end: ListingEnd, *, now: datetime) -> None:
        """End `owner`'s listing of `key`: keep its cursor and error, drop the lease."""
        at = to_micros(now)
        # like a lease, at worst a little behind after a power loss: a listing again
        await self._run(lambda db: finish(db, key, owner, end, at), write=True)

    async def release_all(self, owner: str) -> None:
        await self._run(lambda db: db.run(q.RELEASE_ALL, (owner,)), write=True)

    async def next_due(self, owner: str) -> datetime | None:
        """When the next source not being listed by `owner` is due; None if none is."""
        return maybe_time(await self._run(lambda db: next_due(db, owner), write=False))

    async def list_sources(self) -> list[SourceRecord]:
        rows = await self._run(lambda db: db.rows(q.SELECT_SOURCES), write=False)
        return [source_from_row(row) for row in rows]

    async def listed_by(self, key: str) -> list[str]:
        """The keys of the items source `key` listed, sorted (none for an unknown one)."""
        rows = await self._run(lambda db: db.rows(q.SELECT_ITEMS_OF, (key,)), write=False)
        return sorted(str(k) for (k,) in rows)

    async def item_sources(self, key: str | None = None) -> dict[str, str]:
        """Item key -> the key of a source that listed it (the first by key); with
        `key`, of that item only."""
        return await self._run(lambda db: item_sources(db, key), write=False)
