"""The thread that owns the SQLite connection, and commits its callers' work in groups.

Every call on the store becomes a job on a queue.  One thread takes the jobs in
order and runs each in a SAVEPOINT of a transaction shared with whatever other
jobs were already waiting, then commits once for all of them; only after that
COMMIT does any caller get its answer.  So:

- each job is atomic on its own: a job that raises is rolled back to its
  savepoint, and the jobs around it are not touched;
- the jobs of a group take effect in queue order inside one write transaction
  (`BEGIN IMMEDIATE` when any of them writes), so no other process can see or
  interleave with half of a group;
- a group is forced to disk (`synchronous = FULL` for its COMMIT) when any of
  its jobs asks to be durable, and a durable job is never answered before that;
- when the COMMIT fails, or SQLite rolls back the whole transaction after an
  error, every job of the group gets the error: none of them took effect.

Under load (16 items finishing side by side) one COMMIT, and one fsync of the
WAL for the durable ones, serves many jobs, and the thread goes from one job to
the next without a round trip through the event loop.  A caller that is
cancelled waits for its job to be answered anyway (as a worker thread's caller
would), so a transaction never stops half way.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio

from downloader.errors import StoreError
from downloader.store._sqlite_open import busy_timeout

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], T]

# a group stays short, so a reader in another process never waits long for it
MAX_GROUP = 64


@dataclass(eq=False)
class _Job(Generic[T]):
    op: Op[T]
    write: bool
    durable: bool
    future: asyncio.Future[T]
    result: Any = None
    error: BaseException | None = field(default=None)


class SQLiteThread:
    """Runs `op(connection)` jobs on one thread, committing the waiting ones together."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        name: str,
        *,
        committed: Callable[[int], None] | None = None,
    ) -> None:
        self._connect = connect
        self._name = name
        self._committed = committed  # told of each write group: how many writes it held
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._full = False  # `synchronous = FULL` is set: the last group was durable
        self._thread: threading.Thread | None = None
        self.commits = 0  # groups committed: how many jobs share a COMMIT shows in tests

    async def start(self) -> None:
        """Connect in the new thread; raises what connecting raised."""
        self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
        self._thread.start()
        try:
            await self.run(lambda _conn: None, write=False)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Finish the queued jobs, close the connection and end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(thread.join)

    async def run(self, op: Op[T], *, write: bool, durable: bool = False) -> T:
        if self._thread is None:
            raise StoreError(f"state store {self._name} is not open")
        job: _Job[T] = _Job(op, write, durable, asyncio.get_running_loop().create_future())
        self._queue.put(job)
        # like a worker thread's caller: a cancel waits for the answer, then applies
        with anyio.CancelScope(shield=True):
            result = await job.future
        return result

    # ---- on the thread ------------------------------------------------------------------

    def _serve(self) -> None:
        first = self._queue.get()
        if first is None:
            return
        try:
            self._conn = self._connect()
        except BaseException as exc:
            _answer([(first, exc)])
            self._drain(exc)
            return
        _answer([(first, None)])
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    break
                group = [job]
                stop = False
                while len(group) < MAX_GROUP:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    group.append(more)
                self._commit(group)
                if stop:
                    break
        finally:
            self._conn.close()
            self._conn = None
            self._drain(StoreError(f"state store {self._name} is closed"))

    def _drain(self, exc: BaseException) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                _answer([(job, exc)])

    def _commit(self, group: list[_Job[Any]]) -> None:
        conn = self._conn
        assert conn is not None
        write = any(j.write for j in group)
        durable = any(j.durable for j in group)
        try:
            if durable != self._full:
                # set only where a group needs the other setting than the last one
                conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                self._full = durable
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                alone = len(group) == 1
                for job in group:
                    self._one(conn, job, alone=alone)
                    if not conn.in_transaction:  # SQLite gave up the whole transaction
                        raise job.error or StoreError("the transaction was rolled back")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except BaseException as exc:
            failure = self._store_error(exc)
            _answer([(job, job.error if job.error is not None else failure) for job in group])
            return
        self.commits += 1
        if write and self._committed is not None:
            # counted before anyone is answered, so a caller never sees its write
            # uncounted; a counter that raised must not take the thread down with it
            with contextlib.suppress(Exception):
                self._committed(sum(1 for j in group if j.write and j.error is None))
        _answer([(job, job.error) for job in group])

    def _one(self, conn: sqlite3.Connection, job: _Job[Any], *, alone: bool) -> None:
        # a job alone needs no savepoint: the transaction is its own; nor does a read,
        # which has nothing to undo (a group's reads are about half its jobs)
        saved = not alone and job.write
        if saved:
            conn.execute("SAVEPOINT job")
        try:
            job.result = job.op(conn)
        except BaseException as exc:
            job.error = self._store_error(exc)
            if conn.in_transaction:
                if alone:
                    conn.execute("ROLLBACK")
                elif saved:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
            return
        if saved:
            conn.execute("RELEASE job")

    def _store_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in str(exc) or "busy" in str(exc):
                assert self._conn is not None
                timeout = busy_timeout(self._conn)
                return StoreError(
                    f"state database {self._name} stayed locked by another process for {timeout:g}s"
                )
            return StoreError(f"state database {self._name}: {exc}")
        if isinstance(exc, sqlite3.Error):
            return StoreError(f"state database {self._name}: {exc}")
        return exc


def _answer(answers: list[tuple[_Job[Any], BaseException | None]]) -> None:
    """Hand each job its result or error on its event loop: one wake-up of a loop for
    all of a group's jobs, not one each."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job[Any], BaseException | None]]] = {}
    for job, error in answers:
        by_loop.setdefault(job.future.get_loop(), []).append((job, error))
    for loop, theirs in by_loop.items():
        # a closed loop (RuntimeError) has nobody left waiting for these answers
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_deliver, theirs)


def _deliver(answers: list[tuple[_Job[Any], BaseException | None]]) -> None:
    for job, error in answers:
        if job.future.cancelled():
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(job.result)
