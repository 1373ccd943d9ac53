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

What is forced to disk and when is described in `_sqlite_open` and `_store`;
the operations themselves are the ones PostgreSQL runs too (`_store`, `_dialect`).
"""

from __future__ import annotations

from os import PathLike, fspath
from typing import TypeVar

from downloader.errors import StoreError
from downloader.observe import Observer
from downloader.store._db import Db, Op
from downloader.store._dialect import SQLITE
from downloader.store._early import take_early
from downloader.store._sqlite_open import connect
from downloader.store._sqlite_thread import SQLiteThread
from downloader.store._store import StateStore

__all__ = ["SQLiteStore"]

T = TypeVar("T")


class SQLiteStore(StateStore):
    """A `StateStore` in one SQLite file (or in memory, for tests)."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        busy_timeout: float = 10.0,
        observer: Observer | None = None,
    ) -> None:
        super().__init__()
        self.path: str = fspath(path)
        self.busy_timeout = busy_timeout
        self._observer = observer
        self._thread: SQLiteThread | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def open(self) -> None:
        if self._thread is not None:
            return
        thread = SQLiteThread(
            # the connection `open_early` began for this file, else one made now
            lambda: (
                take_early(self.path, busy_timeout=self.busy_timeout)
                or connect(self.path, busy_timeout=self.busy_timeout)
            ),
            name=self.path,
            committed=None if self._observer is None else self._observer.store_committed,
        )
        await thread.start()
        self._thread = thread

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.stop()

    async def _run(self, op: Op[T], *, write: bool, durable: bool = False) -> T:
        thread = self._thread
        if thread is None:
            raise StoreError(f"state store {self.path} is not open")
        return await thread.run(lambda conn: op(Db(conn, SQLITE)), write=write, durable=durable)
