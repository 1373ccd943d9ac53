"""The shared state store: one PostgreSQL database for several hosts.

Theory of operation.  A small pool of connections (psycopg 3, `psycopg_pool`)
serves the store's coroutines; each operation is one transaction on one
connection, READ COMMITTED, with the rows it decides on locked (see
`_postgres_ops`).  Work is shared by leases: `claim` takes due rows with
`FOR UPDATE SKIP LOCKED`, so any number of hosts claim at once and never get
the same item, and every write that names an owner is fenced by the lease.

A transaction always runs to its COMMIT or ROLLBACK: a cancelled caller waits
for it (shielded), but never longer than `timeout` seconds, after which the
operation fails with `StoreError`.  A deadlock or serialization failure that
PostgreSQL reports is retried a few times.  The pool checks a connection
before handing it out and replaces one that broke, so a database restart
costs the operations that were running at that moment, not the store.

Durability: state changes, packages and events are committed with the
server's `synchronous_commit`; leases, byte counts and asset offsets are
committed with `synchronous_commit = off`, which at worst loses the last
fraction of a second of them when the server crashes: a re-fetch, no harm.

The URL may hold a password: messages show `describe(url)` only, any text
from the driver is scrubbed of the password before it goes into an error, and
the password is registered with the log redactor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Self, TypeVar

import anyio
import psycopg
import psycopg.errors
from psycopg_pool import AsyncConnectionPool

from downloader import redact
from downloader.errors import StoreError
from downloader.items import ItemRef
from downloader.redact import REDACTOR
from downloader.store import _postgres_ops as ops
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
from downloader.store._postgres_open import describe, prepare, scrub, secrets_of
from downloader.store._postgres_sync import sync_watchlist
from downloader.store._rows import maybe_time, to_micros

__all__ = ["PostgresStore"]

T = TypeVar("T")
Op = Callable[[ops.Conn], Awaitable[T]]

_RETRIES = 5
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class PostgresStore:
    """A `StateStore` in a PostgreSQL database, shared by any number of hosts."""

    def __init__(self, url: str, *, timeout: float = 30.0, pool_size: int = 4) -> None:
        self._url = url
        self.where = describe(url)
        self.timeout = timeout
        self.pool_size = pool_size
        self._secrets = secrets_of(url)
        REDACTOR.add(self._secrets)  # should the password ever reach a log event
        self._pool: AsyncConnectionPool[ops.Conn] | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            with anyio.fail_after(self.timeout):
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=max(1, int(self.timeout))
                ) as first:
                    await prepare(first, self.where)
        except TimeoutError:
            raise StoreError(
                f"state database {self.where}: no answer within {self.timeout:g}s"
            ) from None
        except psycopg.Error as exc:
            raise self._error(exc, "cannot open it: ") from None
        pool: AsyncConnectionPool[ops.Conn] = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=max(1, self.pool_size),
            open=False,
            kwargs={"autocommit": True},
            check=AsyncConnectionPool.check_connection,
            timeout=self.timeout,
            name="downloader-state",
        )
        await pool.open()
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await pool.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- running SQL --------------------------------------------------------------------

    def _error(self, exc: BaseException, doing: str = "") -> StoreError:
        text = scrub(str(exc).strip() or type(exc).__name__, self._secrets)
        return StoreError(f"state database {self.where}: {doing}{text}")

    async def _run(self, op: Op[T], *, durable: bool = True) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"state store {self.where} is not open")
        try:
            with anyio.CancelScope(shield=True), anyio.fail_after(self.timeout):
                result = await self._attempts(pool, op, durable)
        except TimeoutError:
            raise StoreError(
                f"state database {self.where}: no answer within {self.timeout:g}s"
            ) from None
        except psycopg.Error as exc:  # the pool's PoolTimeout is one too
            raise self._error(exc) from None
        return result

    async def _attempts(self, pool: AsyncConnectionPool[ops.Conn], op: Op[T], durable: bool) -> T:
        for attempt in range(_RETRIES):
            try:
                async with pool.connection() as conn, conn.transaction():
                    if not durable:
                        await conn.execute("SET LOCAL synchronous_commit = off")
                    return await op(conn)
            except _RETRYABLE:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the watchlist and claiming -----------------------------------------------------

    async def sync_watchlist(self, refs: Iterable[ItemRef], *, now: datetime) -> SyncResult:
        listed, at = list(refs), to_micros(now)
        return await self._run(lambda c: sync_watchlist(c, listed, at))

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
        return await self._run(
            lambda c: ops.claim(c, owner, at, until, limit, waiting), durable=False
        )

    async def renew(
        self, owner: str, keys: Sequence[str], *, now: datetime, lease: timedelta
    ) -> frozenset[str]:
        until, wanted = to_micros(now + lease), list(keys)
        return await self._run(lambda c: ops.renew(c, owner, wanted, until), durable=False)

    async def release(self, owner: str, key: str) -> None:
        await self._run(lambda c: ops.release(c, owner, key), durable=False)

    async def release_all(self, owner: str) -> int:
        return await self._run(lambda c: ops.release(c, owner, None), durable=False)

    async def next_due(self, owner: str) -> datetime | None:
        return maybe_time(await self._run(lambda c: ops.next_due(c, owner)))

    async def held_elsewhere(self, owner: str) -> bool:
        return await self._run(lambda c: ops.held_elsewhere(c, owner))

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
        error = redact.scrub(error) if error else error  # the last guard before it is stored
        return await self._run(
            lambda c: ops.transition(c, key, target, at, owner, error, archive_path, int(counts))
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
        error = redact.scrub(error) if error else error  # the last guard before it is stored
        return await self._run(lambda c: ops.schedule(c, key, due, at, owner, error, counts))

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
            lambda c: ops.set_progress(c, key, bytes_done, bytes_total, at, owner), durable=False
        )

    async def save_package(self, package: PackageRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda c: ops.save_package(c, package, at))

    async def save_asset(self, asset: AssetRecord, *, now: datetime) -> None:
        at = to_micros(now)
        await self._run(lambda c: ops.save_asset(c, asset, at), durable=False)

    async def record_event(self, item_key: str, kind: str, detail: str, *, now: datetime) -> None:
        at = to_micros(now)
        detail = redact.scrub(detail)  # the last guard before it is stored, as for errors

        async def op(conn: ops.Conn) -> None:
            await ops.held_item(conn, item_key, None)
            await ops.add_event(conn, item_key, at, kind, detail)

        await self._run(op)

    # -- reading ------------------------------------------------------------------------

    async def get(self, key: str) -> ItemRecord | None:
        return await self._run(lambda c: ops.fetch_item(c, key))

    async def get_package(self, item_key: str) -> PackageRecord | None:
        return await self._run(lambda c: ops.get_package(c, item_key))

    async def assets(self, item_key: str) -> list[AssetRecord]:
        return await self._run(lambda c: ops.assets(c, item_key))

    async def list_items(self, *, include_inactive: bool = False) -> list[ItemRecord]:
        return await self._run(lambda c: ops.list_items(c, include_inactive))

    async def list_summaries(self, *, include_inactive: bool = False) -> list[ItemSummary]:
        return await self._run(lambda c: ops.list_summaries(c, include_inactive))

    async def events(self, key: str) -> list[EventRecord]:
        return await self._run(lambda c: ops.events(c, key))

    async def counts(self) -> dict[ItemState, int]:
        return await self._run(ops.counts)

    async def census(self) -> list[CensusRow]:
        return await self._run(ops.census)
