"""The state store written once, part one: its life cycle and an item's turn.

Work is handed out by *claiming*: `claim` gives a worker the items that are due,
with a lease (owner and expiry) that the worker renews while it works and
drops when it is done.  An item whose lease has expired may be claimed by
anyone, so a worker that died is replaced without anyone deciding so.  Every
write that concerns one item may name its `owner`; the write is then refused
with `LeaseLost` when somebody else holds the item, which fences off a worker
that was too slow to renew.

Each operation (`_item_ops`, `_sync_ops`) runs in a transaction of its own on
the backend's worker thread: a backend (`SQLiteStore`, `PostgresStore`) only
opens and closes its database and supplies `_run`.  Here each operation says
whether it writes and whether it must be forced to disk: state changes,
packages and events are; leases, byte counts and asset offsets are not, as
after a power loss they are at worst a little behind, which only costs a
re-fetch.  An error's or an event's text is scrubbed of secrets here, before it
reaches either database.  All times are timezone-aware UTC and come from the
caller (the injected clock), never from the store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Self, TypeVar

from downloader.items import ItemRef
from downloader.redact import scrub
from downloader.store import _item_ops as items
from downloader.store._db import Op
from downloader.store._lifecycle import ItemState
from downloader.store._models import ItemRecord, SyncResult
from downloader.store._observers import Observers, StoreObserver
from downloader.store._outbox_models import OutboxRow, scrub_rows
from downloader.store._outbox_ops import StoreOutbox
from downloader.store._rows import maybe_time, to_micros
from downloader.store._source_ops import SourceBook
from downloader.store._sync_ops import sync_watchlist

__all__ = ["StoreTurns"]

T = TypeVar("T")


class StoreTurns:
    """The store's lifecycle and an item's turn: claims, leases, transitions (see the
    module's docstring); `StateStore` adds the records and the reads."""

    def __init__(self) -> None:
        self.outbox = StoreOutbox(self._run)
        """The hook events waiting for delivery."""
        self._observers = Observers()

    def subscribe(self, observer: StoreObserver) -> None:
        """Tell `observer` of every item record handed out from now on, and of every
        byte count recorded (`_observers`)."""
        self._observers.add(observer)

    async def open(self) -> None:
        """Connect, refuse a database that is not ours, and bring its schema up to date."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the connection; safe to call twice."""
        raise NotImplementedError

    async def _run(self, op: Op[T], *, write: bool, durable: bool = False) -> T:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def sources(self) -> SourceBook:
        """The sources of the watchlist and what each listed (`SourceBook`)."""
        return SourceBook(self._run)

    # -- the watchlist and claiming -----------------------------------------------------

    async def sync_watchlist(self, refs: Iterable[ItemRef], *, now: datetime) -> SyncResult:
        """Make the active items exactly `refs`.

        New items start as waiting; items no longer listed become inactive (never
        deleted, whatever their state); listed items that were inactive become
        active again, and a failed one starts over as waiting.
        """
        listed, at = list(refs), to_micros(now)
        return await self._run(lambda db: sync_watchlist(db, listed, at), write=True, durable=True)

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        waiting: Collection[str] | None = None,
    ) -> list[ItemRecord]:
        """Lease up to `limit` due items to `owner` until `now + lease`.

        Due: active, not terminal, `next_attempt_at` unset or not after `now`, and
        no lease or an expired one.  Soonest due first.  With `waiting`, only the due
        items in state `waiting` whose `provider:kind` (e.g. `pixxel:job`) is one of
        those given.
        """
        at, until = to_micros(now), to_micros(now + lease)
        kinds = None if waiting is None else list(waiting)
        claimed = await self._run(
            lambda db: items.claim(db, owner, at, until, limit, kinds), write=True
        )
        return self._observers.seen(claimed, claimed=True)

    async def renew(
        self, owner: str, keys: Sequence[str], *, now: datetime, lease: timedelta
    ) -> frozenset[str]:
        """Extend `owner`'s leases on `keys`; returns the keys still held (the others are lost)."""
        until, wanted = to_micros(now + lease), list(keys)
        return await self._run(lambda db: items.renew(db, owner, wanted, until), write=True)

    async def release(self, owner: str, key: str) -> None:
        """Drop `owner`'s lease on `key`; nothing happens if somebody else holds it."""
        await self._run(lambda db: items.release(db, owner, key), write=True)

    async def release_all(self, owner: str) -> int:
        """Drop every lease held by `owner` (at start-up, after a crash); returns how many."""
        return await self._run(lambda db: items.release(db, owner, None), write=True)

    async def next_due(self, owner: str) -> datetime | None:
        """When the next item not leased by `owner` can be claimed; None if none ever can.

        A time in the past means now.  Lets a runner sleep instead of polling.
        """
        return maybe_time(await self._run(lambda db: items.next_due(db, owner), write=False))

    async def held_elsewhere(self, owner: str) -> bool:
        """Whether some unfinished item is leased to another owner than `owner` (its
        lease run out or not): work that may end without anything here hearing of it."""
        return await self._run(lambda db: items.held_elsewhere(db, owner), write=False)

    # -- one item's progress ------------------------------------------------------------

    async def transition(
        self,
        key: str,
        target: ItemState,
        *,
        now: datetime,
        owner: str | None = None,
        error: str | None = None,
        archive_path: str | None = None,
        counts: bool = False,
        outbox: Sequence[OutboxRow] = (),
    ) -> ItemRecord:
        """Move `key` to `target` if the transition table allows it, and record an event.

        Atomic: on `IllegalTransition` (or `LeaseLost`, or an unknown key:
        `StoreError`) nothing changes.  Sets `error` (None clears it), sets
        `archive_path` when given, clears `next_attempt_at`; `attempts` is reset
        only when a failed item starts over (`starts_afresh`); `counts` adds the
        failed try that ends the item's budget.  A terminal target also drops
        the lease.  The `outbox` rows (the hooks' events of this move) are
        inserted in the same transaction: they exist exactly when the move does.
        """
        target, at, rows = ItemState(target), to_micros(now), scrub_rows(outbox)
        error = scrub(error) if error else error  # the last guard before it is stored
        record = await self._run(
            lambda db: items.transition(
                db, key, target, at, owner, error, archive_path, int(counts), rows
            ),
            write=True,
            durable=True,
        )
        return self._observers.one(record)

    async def schedule(
        self,
        key: str,
        next_attempt_at: datetime,
        *,
        now: datetime,
        owner: str | None = None,
        error: str | None = None,
        counts: bool = True,
    ) -> ItemRecord:
        """Try the current step again at `next_attempt_at`; with `counts`, as one more
        failed try (`attempts`, against the `[retry]` budget).

        `error` is the retryable problem that caused the delay (recorded as an
        event when counted, and shown by `status`), None for a plain "not ready
        yet" (which clears an earlier one).  A wait that is no failure (a parked
        poll, a full disk) passes `counts=False`.  The lease is kept; `release` it
        when done.  Refused for terminal items.
        """
        due, at = to_micros(next_attempt_at), to_micros(now)
        error = scrub(error) if error else error  # the last guard before it is stored
        # a retry after an error is an event the user reads; a parked poll is only a
        # time, which a power loss at worst brings forward
        record = await self._run(
            lambda db: items.schedule(db, key, due, at, owner, error, counts),
            write=True,
            durable=error is not None,
        )
        return self._observers.one(record)

    async def set_progress(
        self,
        key: str,
        bytes_done: int,
        bytes_total: int | None,
        *,
        now: datetime,
        owner: str | None = None,
    ) -> None:
        """Record how many bytes of the item are on disk (cheap; not forced to disk)."""
        at = to_micros(now)
        await self._run(
            lambda db: items.set_progress(db, key, bytes_done, bytes_total, at, owner), write=True
        )
        self._observers.progress(key, bytes_done, bytes_total)
