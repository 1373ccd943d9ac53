"""The shared state store: one PostgreSQL database for several hosts.

Theory of operation.  A small pool of connections (psycopg 3 in its
synchronous mode, `psycopg_pool`) serves the store's operations, each run on a
worker thread as one transaction on one connection, READ COMMITTED, with the
rows it decides on locked.  The operations are the ones SQLite runs too
(`_store`), spelled for PostgreSQL by `_dialect`.  Work is shared by leases:
`claim` takes due rows with `FOR UPDATE SKIP LOCKED`, so any number of hosts
claim at once and never get the same item, and every write that names an owner
is fenced by the lease.

A transaction always runs to its COMMIT or ROLLBACK: a cancelled caller waits
for it (shielded), but never longer than `timeout` seconds, after which the
operation fails with `StoreError`.  A deadlock or serialization failure that
PostgreSQL reports is retried a few times.  The pool checks a connection
before handing it out and replaces one that broke, so a database restart
costs the operations that were running at that moment, not the store.

Each operation has a transaction of its own here, unlike SQLite's groups
(`_sqlite_thread`): the server already writes the commits of concurrent
connections with one WAL flush, and grouping the waiting operations on one
connection (each in a savepoint) was measured not to pay.  16 items at once,
200 items of 6 writes on a local server, medians of interleaved runs: 1.80 s per
operation against 2.57 s with every waiting operation in one group (a group runs
its statements one after the other while the other connections idle), and
1.28 s against 1.27 s with each thread taking its fair share of the queue, for
2.9 commits an item instead of 6.

Durability: what `_store` asks to be durable is committed with the server's
`synchronous_commit`; the other writes (leases, byte counts, asset offsets)
with `synchronous_commit = off`, which at worst loses the last fraction of a
second of them when the server crashes: a re-fetch, no harm.

The URL may hold a password: messages show `describe(url)` only, any text
from the driver is scrubbed of the password before it goes into an error, and
the password is registered with the log redactor.
"""

from __future__ import annotations

from typing import TypeVar

import anyio
import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool

from downloader.errors import StoreError
from downloader.observe import Observer
from downloader.redact import REDACTOR
from downloader.store._db import Db, Op
from downloader.store._dialect import POSTGRES
from downloader.store._postgres_open import describe, prepare, scrub, secrets_of
from downloader.store._store import StateStore

__all__ = ["PostgresStore"]

T = TypeVar("T")
Conn = psycopg.Connection[tuple[object, ...]]

_RETRIES = 5
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class PostgresStore(StateStore):
    """A `StateStore` in a PostgreSQL database, shared by any number of hosts."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        pool_size: int = 4,
        observer: Observer | None = None,
    ) -> None:
        super().__init__()
        self._observer = observer
        self._url = url
        self.where = describe(url)
        self.timeout = timeout
        self.pool_size = max(1, pool_size)
        self._secrets = secrets_of(url)
        REDACTOR.add(self._secrets)  # should the password ever reach a log event
        self._pool: ConnectionPool[Conn] | None = None
        self._threads: anyio.CapacityLimiter | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            with anyio.fail_after(self.timeout):
                await anyio.to_thread.run_sync(self._prepare, abandon_on_cancel=True)
        except TimeoutError:
            raise StoreError(
                f"state database {self.where}: no answer within {self.timeout:g}s"
            ) from None
        except psycopg.Error as exc:
            raise self._error(exc, "cannot open it: ") from None
        pool: ConnectionPool[Conn] = ConnectionPool(
            self._url,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
            timeout=self.timeout,
            name="downloader-state",
        )
        await anyio.to_thread.run_sync(pool.open)
        # one thread per pooled connection: no thread waits in the pool for another
        self._threads = anyio.CapacityLimiter(self.pool_size)
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pool.close)

    def _prepare(self) -> None:
        with psycopg.connect(
            self._url, autocommit=True, connect_timeout=max(1, int(self.timeout))
        ) as first:
            prepare(first, self.where)

    # -- running SQL --------------------------------------------------------------------

    def _error(self, exc: BaseException, doing: str = "") -> StoreError:
        text = scrub(str(exc).strip() or type(exc).__name__, self._secrets)
        return StoreError(f"state database {self.where}: {doing}{text}")

    async def _run(self, op: Op[T], *, write: bool, durable: bool = False) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"state store {self.where} is not open")

        def attempts() -> T:
            return self._attempts(pool, op, write and not durable)

        try:
            # a cancelled caller waits for its transaction to end; only the timeout
            # leaves it to finish on its own (its COMMIT or ROLLBACK still comes)
            with anyio.CancelScope(shield=True), anyio.fail_after(self.timeout):
                result = await anyio.to_thread.run_sync(
                    attempts, limiter=self._threads, abandon_on_cancel=True
                )
        except TimeoutError:
            raise StoreError(
                f"state database {self.where}: no answer within {self.timeout:g}s"
            ) from None
        except psycopg.Error as exc:  # the pool's PoolTimeout is one too
            raise self._error(exc) from None
        if write and self._observer is not None:
            self._observer.store_committed(1)  # one transaction per operation here
        return result

    @staticmethod
    def _attempts(pool: ConnectionPool[Conn], op: Op[T], relaxed: bool) -> T:
        for attempt in range(_RETRIES):
            try:
                with pool.connection() as conn, conn.transaction():
                    if relaxed:
                        conn.execute("SET LOCAL synchronous_commit = off")
                    return op(Db(conn, POSTGRES))
            except _RETRYABLE:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover
