"""The embedded state store: one SQLite file in WAL mode.

Theory of operation.  One connection per store, owned by one thread
(`_sqlite_thread`): the event loop never waits on the disk, and the connection
never sees two threads at once.  Calls that arrive while the thread is busy
are committed together, each in its own savepoint, so one COMMIT serves many
of them.  A cancelled caller still waits for its answer, so a transaction
always runs to its COMMIT or ROLLBACK.

Every write runs inside a `BEGIN IMMEDIATE` transaction: it takes the
database's write lock before it reads, so the check of the transition table
and the update it allows happen as one step even with several processes on
the file.
Readers (`downloader status` while the daemon runs) use their own connection;
in WAL mode they read the last committed state and neither wait for a writer
nor hold one up.  A writer that finds the lock taken waits up to
`busy_timeout` seconds, then fails with `StoreError`.

What is forced to disk and when is described in `_sqlite_open`.  Leases, byte
counts and asset offsets are written without forcing the WAL to disk: after a
power loss they are at worst a little behind, which only costs a re-fetch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from os import PathLike, fspath
from typing import Self, TypeVar

from downloader.errors import StoreError
from downloader.items import ItemRef
from downloader.redact import scrub
from downloader.store import _sqlite_ops as ops
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
from downloader.store._rows import maybe_time, to_micros
from downloader.store._sqlite_open import connect
from downloader.store._sqlite_sync import sync_watchlist
from downloader.store._sqlite_thread import SQLiteThread

__all__ = ["SQLiteStore"]

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], T]


class SQLiteStore:
    """A `StateStore` in one SQLite file (or in memory, for tests)."""

    def __init__(self, path: str | PathLike[str], *, busy_timeout: float = 10.0) -> None:
        self.path: str = fspath(path)
        self.busy_timeout = busy_timeout
        self._thread: SQLiteThread | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def open(self) -> None:
        if self._thread is not None:
            return
        thread = SQLiteThread(
            lambda: connect(self.path, busy_timeout=self.busy_timeout), name=self.path
        )
        await thread.start()
        self._thread = thread

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.stop()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- running SQL --------------------------------------------------------------------

    async def _run(self, op: Op[T], *, write: bool, durable: bool = False) -> T:
        thread = self._thread
        if thread is None:
            raise StoreError(f"state store {self.path} is not open")
        return await thread.run(op, write=write, durable=durable)

    # -- the watchlist and claiming -----------------------------------------------------

    async def sync_watchlist(self, refs: Iterable[ItemRef], *, now: datetime) -> SyncResult:
        listed = list(refs)
        at = to_micros(now)
        return await self._run(lambda c: sync_watchlist(c, listed, at), write=True, durable=True)

    async def claim(
        self,
        owner: str,
        *,
        now: datetime,
        lease: timedelta,
        limit: int,
        waiting: Collection[str] | None = None,
    ) -> list[ItemRecord]:
        at, until = to_micros(now), to_micros(now + lease)

        def op(conn: sqlite3.Connection) -> list[ItemRecord]:
            keys = ops.claim(conn, owner, at, until, limit, waiting)
            return [ops.held_item(conn, key, owner) for key in keys]

        return await self._run(op, write=True)

    async def renew(
        self, owner: str, keys: Sequence[str], *, now: datetime, lease: timedelta
    ) -> frozenset[str]:
        until, wanted = to_micros(now + lease), list(keys)
        return await self._run(lambda c: ops.renew(c, owner, wanted, until), write=True)

    async def release(self, owner: str, key: str) -> None:
        await self._run(lambda c: ops.release(c, owner, key), write=True)

    async def release_all(self, owner: str) -> int:
        return await self._run(lambda c: ops.release(c, owner, None), write=True)

    async def next_due(self, owner: str) -> datetime | None:
        return maybe_time(await self._run(lambda c: ops.next_due(c, owner), write=False))

    async def held_elsewhere(self, owner: str) -> bool:
        return await self._run(lambda c: ops.held_elsewhere(c, owner), write=False)

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
    ) -> ItemRecord:
        target, at = ItemState(target), to_micros(now)
        error = scrub(error) if error else error  # the last guard before it is stored
        return await self._run(
            lambda c: ops.transition(c, key, target, at, owner, error, archive_path, int(counts)),
            write=True,
            durable=True,
        )

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
        due, at = to_micros(next_attempt_at), to_micros(now)
        error = scrub(error) if error else error  # the last guard before it is stored
        # a retry after an error is an event the user reads; a parked poll is only a
        # time, which a power loss at worst brings forward
        return await self._run(
            lambda c: ops.schedule(c, key, due, at, owner, error, counts),
            write=True,
            durable=error is not None,
        )

    async def set_progress(
        self,
        key: str,
        bytes_done: int,
        bytes_total: int | None,
        *,
        now: datetime,
        owner: str | None = None,
    ) -> None:
        at = to_micros(now)
        await self._run(
            lambda c: ops.set_progress(c, key, bytes_done, bytes_total, at, owner), write=True
        )

    async def save_package(self, package: PackageRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda c: ops.save_package(c, package, at), write=True, durable=True)

    async def save_asset(self, asset: AssetRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda c: ops.save_asset(c, asset, at), write=True)

    async def record_event(self, item_key: str, kind: str, detail: str, *, now: datetime) -> None:
        at = to_micros(now)
        detail = scrub(detail)  # the last guard before it is stored, as for errors

        def op(conn: sqlite3.Connection) -> None:
            ops.held_item(conn, item_key, None)
            ops.add_event(conn, item_key, at, kind, detail)

        await self._run(op, write=True, durable=True)

    # -- reading ------------------------------------------------------------------------

    async def get(self, key: str) -> ItemRecord | None:
        return await self._run(lambda c: ops.fetch_item(c, key), write=False)

    async def get_package(self, item_key: str) -> PackageRecord | None:
        return await self._run(lambda c: ops.get_package(c, item_key), write=False)

    async def assets(self, item_key: str) -> list[AssetRecord]:
        return await self._run(lambda c: ops.assets(c, item_key), write=False)

    async def list_items(self, *, include_inactive: bool = False) -> list[ItemRecord]:
        return await self._run(lambda c: ops.list_items(c, include_inactive), write=False)

    async def list_summaries(self, *, include_inactive: bool = False) -> list[ItemSummary]:
        return await self._run(lambda c: ops.list_summaries(c, include_inactive), write=False)

    async def events(self, key: str) -> list[EventRecord]:
        return await self._run(lambda c: ops.events(c, key), write=False)

    async def counts(self) -> dict[ItemState, int]:
        return await self._run(ops.counts, write=False)

    async def census(self) -> list[CensusRow]:
        return await self._run(ops.census, write=False)
