"""One open transaction of either database, as the store's operations use it.

`Db` wraps a DB-API connection (sqlite3's or psycopg's synchronous one) that its
runner has already put inside a transaction, and turns each statement, written
with `?` placeholders, into its dialect before running it.  The operations are
plain blocking functions of a `Db`; a runner calls them on a worker thread
(`_sqlite_thread` for SQLite, `_postgres_runner` for PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from downloader.store._dialect import SYNC_LOCK, Dialect

__all__ = ["Db", "Op", "Row", "Run"]

T = TypeVar("T")
Row = tuple[Any, ...]


class Db:
    """A connection inside a transaction, speaking `dialect`."""

    __slots__ = ("_conn", "dialect")

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn  # sqlite3.Connection or psycopg.Connection: both DB-API
        self.dialect = dialect

    def rows(self, statement: str, values: Sequence[object] = ()) -> list[Row]:
        rows: list[Row] = self._execute(statement, values).fetchall()  # tuples from both drivers
        return rows

    def each(self, statement: str, values: Sequence[object] = ()) -> Iterator[Row]:
        """The rows one at a time: a read of every item never holds them all as tuples
        beside the records made of them (100,000 items: some 30 MB)."""
        yield from self._execute(statement, values)

    def one(self, statement: str, values: Sequence[object] = ()) -> Row | None:
        row: Row | None = self._execute(statement, values).fetchone()
        return row

    def run(self, statement: str, values: Sequence[object] = ()) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        return int(self._execute(statement, values).rowcount)

    def _execute(self, statement: str, values: Sequence[object]) -> Any:
        cursor = self._conn.cursor()
        cursor.execute(self.dialect.sql(statement), tuple(values))
        return cursor

    def many(self, statement: str, values: Iterable[Sequence[object]]) -> None:
        listed = [tuple(v) for v in values]
        if listed:
            self._conn.cursor().executemany(self.dialect.sql(statement), listed)

    def lock_sync(self) -> None:
        """Take the watchlist's sync lock, where the database needs one."""
        if self.dialect.sync_lock is not None:
            self.one(self.dialect.sync_lock, (SYNC_LOCK,))


Op = Callable[[Db], T]


class Run(Protocol):
    """How a store runs an operation: on its runner's thread, in a transaction of its
    own (`write`: one that takes the write lock; `durable`: forced to disk)."""

    async def __call__(self, op: Op[T], *, write: bool, durable: bool = False) -> T: ...
