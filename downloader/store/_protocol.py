"""The state store as the rest of the program sees it.

Work is handed out by *claiming*: `claim` gives a worker the items that are due,
with a lease (owner and expiry) that the worker renews while it works and
drops when it is done.  An item whose lease has expired may be claimed by
anyone, so a worker that died is replaced without anyone deciding so.  Every
write that concerns one item may name its `owner`; the write is then refused
with `LeaseLost` when somebody else holds the item, which fences off a worker
that was too slow to renew.  The embedded SQLite backend implements this for
one host; a shared database backend does the same across hosts.

All methods are coroutines; all times are timezone-aware UTC and come from the
caller (the injected clock), never from the store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, Self

from downloader.items import ItemRef
from downloader.store._lifecycle import ItemState
from downloader.store._models import (
    AssetRecord,
    CensusRow,
    EventRecord,
    ItemRecord,
    ItemSummary,
    PackageRecord,
    SyncResult,
)
from downloader.store._observers import StoreObserver
from downloader.store._outbox import Outbox
from downloader.store._outbox_models import OutboxRow
from downloader.store._sources_book import SourceBook

__all__ = ["StateStore"]


class StateStore(Protocol):
    """Items, their packages, assets and history, kept across restarts."""

    async def open(self) -> None:
        """Connect, refuse a database that is not ours, and bring its schema up to date."""
        ...

    async def close(self) -> None:
        """Release the connection; safe to call twice."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    def subscribe(self, observer: StoreObserver) -> None:
        """Tell `observer` of every item record handed out from now on, and of every
        byte count recorded (`_observers`)."""
        ...

    @property
    def outbox(self) -> Outbox:
        """The hook events waiting for delivery (`transition` adds them)."""
        ...

    # -- the watchlist ------------------------------------------------------------------

    async def sync_watchlist(self, refs: Iterable[ItemRef], *, now: datetime) -> SyncResult:
        """Make the active items exactly `refs`.

        New items start as waiting; items no longer listed become inactive (never
        deleted, whatever their state); listed items that were inactive become
        active again, and a failed one starts over as waiting.
        """
        ...

    def sources(self) -> SourceBook:
        """The sources of the watchlist and what each listed (`_sources_book`)."""
        ...

    # -- claiming work ------------------------------------------------------------------

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
        ...

    async def renew(
        self, owner: str, keys: Sequence[str], *, now: datetime, lease: timedelta
    ) -> frozenset[str]:
        """Extend `owner`'s leases on `keys`; returns the keys still held (the others are lost)."""
        ...

    async def release(self, owner: str, key: str) -> None:
        """Drop `owner`'s lease on `key`; nothing happens if somebody else holds it."""
        ...

    async def release_all(self, owner: str) -> int:
        """Drop every lease held by `owner` (at start-up, after a crash); returns how many."""
        ...

    async def next_due(self, owner: str) -> datetime | None:
        """When the next item not leased by `owner` can be claimed; None if none ever can.

        A time in the past means now.  Lets a runner sleep instead of polling.
        """
        ...

    async def held_elsewhere(self, owner: str) -> bool:
        """Whether some unfinished item is leased to another owner than `owner` (its
        lease run out or not): work that may end without anything here hearing of it."""
        ...

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
        ...

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
        ...

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
        ...

    async def save_package(self, package: PackageRecord, *, now: datetime) -> None:
        """Insert or replace the package of `package.item_key` (durably)."""
        ...

    async def get_package(self, item_key: str) -> PackageRecord | None: ...

    async def save_asset(self, asset: AssetRecord, *, now: datetime) -> None:
        """Insert or replace one asset and all of its segment offsets.

        Save offsets only after the bytes they describe were flushed to disk.
        """
        ...

    async def assets(self, item_key: str) -> list[AssetRecord]:
        """The item's assets, ordered by `asset_key`."""
        ...

    async def record_event(self, item_key: str, kind: str, detail: str, *, now: datetime) -> None:
        """Add a line to an item's history (e.g. what a platform answered)."""
        ...

    # -- reading (works while another process writes) -----------------------------------

    async def get(self, key: str) -> ItemRecord | None: ...

    async def list_items(self, *, include_inactive: bool = False) -> list[ItemRecord]:
        """Items ordered by key; only those in the watchlist unless `include_inactive`."""
        ...

    async def list_summaries(self, *, include_inactive: bool = False) -> list[ItemSummary]:
        """What `status` shows of the items `list_items` gives, in the same order.

        Equal to `summarize(r)` for each of those records, at a fraction of the cost.
        """
        ...

    async def events(self, key: str) -> list[EventRecord]:
        """The item's history, oldest first."""
        ...

    async def counts(self) -> dict[ItemState, int]:
        """How many active items are in each state (every state present, zeros included)."""
        ...

    async def census(self) -> list[CensusRow]:
        """Active items by state and provider: how many, and the oldest state entry."""
        ...
