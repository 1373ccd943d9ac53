"""The SQLite store's thread: jobs committed in groups, each atomic on its own."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from downloader.errors import StoreError
from downloader.store._sqlite_thread import SQLiteThread


def _connect(path: Path) -> Callable[[], sqlite3.Connection]:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)")
        return conn

    return connect


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[SQLiteThread]:
    thread = SQLiteThread(_connect(tmp_path / "db.sqlite"), name=str(tmp_path / "db.sqlite"))
    await thread.start()
    try:
        yield thread
    finally:
        await thread.stop()


def _insert(key: str, value: int) -> Callable[[sqlite3.Connection], int]:
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (key, value))
        return value

    return op


def _rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT k, v FROM t").fetchall())


class _Gate:
    """A job that holds the thread until released, so the jobs behind it queue up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> str:
        self.entered.set()
        assert self.release.wait(10)
        return "gate"


async def _queued_behind_gate(
    worker: SQLiteThread, jobs: list[tuple[Callable[[sqlite3.Connection], object], bool]]
) -> list[object]:
    """Run `jobs` (op, durable) so that all of them wait behind one gate: one group."""
    gate = _Gate()
    results: list[object] = [None] * len(jobs)

    async def one(i: int, op: Callable[[sqlite3.Connection], object], durable: bool) -> None:
        try:
            results[i] = await worker.run(op, write=True, durable=durable)
        except Exception as exc:  # kept to be asserted on
            results[i] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: worker.run(gate, write=False))
        await anyio.to_thread.run_sync(gate.entered.wait, 10)
        for i, (op, durable) in enumerate(jobs):
            tg.start_soon(one, i, op, durable)
        await anyio.sleep(0.05)  # every job is on the queue before the gate opens
        gate.release.set()
    return results


async def test_jobs_waiting_together_share_one_commit(worker: SQLiteThread, tmp_path: Path) -> None:
    before = worker.commits
    results = await _queued_behind_gate(worker, [(_insert(f"k{i}", i), False) for i in range(20)])
    assert results == list(range(20))
    # the gate's group, then one group for the twenty jobs
    assert worker.commits - before == 2
    assert _rows(tmp_path / "db.sqlite") == {f"k{i}": i for i in range(20)}


async def test_a_failing_job_is_rolled_back_alone(worker: SQLiteThread, tmp_path: Path) -> None:
    def fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (k, v) VALUES ('bad', 0)")
        raise ValueError("refused")

    results = await _queued_behind_gate(
        worker, [(_insert("a", 1), False), (fails, False), (_insert("b", 2), False)]
    )
    assert results[0] == 1
    assert results[2] == 2
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "refused"
    assert _rows(tmp_path / "db.sqlite") == {"a": 1, "b": 2}


async def test_a_job_breaking_the_constraint_fails_as_a_store_error_alone(
    worker: SQLiteThread, tmp_path: Path
) -> None:
    results = await _queued_behind_gate(
        worker, [(_insert("a", 1), False), (_insert("a", 2), False), (_insert("b", 3), False)]
    )
    assert results[0] == 1
    assert results[2] == 3
    assert isinstance(results[1], StoreError)
    assert "UNIQUE" in str(results[1])
    assert _rows(tmp_path / "db.sqlite") == {"a": 1, "b": 3}


async def test_when_the_whole_transaction_is_lost_no_job_of_the_group_took_effect(
    worker: SQLiteThread, tmp_path: Path
) -> None:
    def abandons(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # as SQLite does after some errors (a full disk, I/O)

    results = await _queued_behind_gate(
        worker, [(_insert("a", 1), False), (abandons, False), (_insert("b", 2), False)]
    )
    assert all(isinstance(r, Exception) for r in results), results
    assert _rows(tmp_path / "db.sqlite") == {}
    # the thread goes on with the next jobs
    assert await worker.run(_insert("c", 3), write=True) == 3
    assert _rows(tmp_path / "db.sqlite") == {"c": 3}


async def test_a_durable_job_makes_its_whole_group_commit_with_full_sync(
    worker: SQLiteThread,
) -> None:
    def synchronous(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])

    normal, full = 1, 2
    alone = await worker.run(synchronous, write=False)
    grouped = await _queued_behind_gate(
        worker, [(synchronous, False), (_insert("d", 1), True), (synchronous, False)]
    )
    after = await worker.run(synchronous, write=False)
    assert (alone, grouped, after) == (normal, [full, 1, full], normal)


async def test_a_cancelled_caller_waits_for_its_job_which_still_commits(
    worker: SQLiteThread, tmp_path: Path
) -> None:
    gate = _Gate()
    outcome: list[str] = []

    async def caller() -> None:
        value = await worker.run(_insert("late", 7), write=True)
        outcome.append(f"answered {value}")
        await anyio.lowlevel.checkpoint()  # the cancel applies here
        outcome.append("not reached")

    scope = anyio.CancelScope()

    async def cancelled_caller() -> None:
        with scope:
            await caller()

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: worker.run(gate, write=False))
        await anyio.to_thread.run_sync(gate.entered.wait, 10)
        tg.start_soon(cancelled_caller)
        await anyio.sleep(0.05)
        scope.cancel()
        await anyio.sleep(0.05)
        assert outcome == []  # still waiting: the job has not run yet
        gate.release.set()
    assert scope.cancelled_caught
    assert outcome == ["answered 7"]
    assert _rows(tmp_path / "db.sqlite") == {"late": 7}


async def test_a_locked_database_fails_the_group_with_a_clear_store_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"

    def connect() -> sqlite3.Connection:
        conn = _connect(path)()
        conn.execute("PRAGMA busy_timeout = 200")
        return conn

    worker = SQLiteThread(connect, name=str(path))
    await worker.start()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match=r"stayed locked by another process for 0\.2s"):
            await worker.run(_insert("x", 1), write=True)
        holder.execute("ROLLBACK")
        assert await worker.run(_insert("x", 1), write=True) == 1
    finally:
        holder.close()
        await worker.stop()


async def test_a_connection_that_cannot_be_made_fails_start_and_a_stopped_thread_refuses_work(
    tmp_path: Path,
) -> None:
    def refuse() -> sqlite3.Connection:
        raise StoreError("cannot open it")

    broken = SQLiteThread(refuse, name="x")
    with pytest.raises(StoreError, match="cannot open it"):
        await broken.start()

    worker = SQLiteThread(_connect(tmp_path / "db.sqlite"), name="db")
    await worker.start()
    await worker.stop()
    with pytest.raises(StoreError, match="is not open"):
        await worker.run(_insert("y", 1), write=True)


async def test_a_failing_job_alone_is_rolled_back_and_the_next_one_commits(
    worker: SQLiteThread, tmp_path: Path
) -> None:
    def fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (k, v) VALUES ('gone', 0)")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await worker.run(fails, write=True)
    assert await worker.run(_insert("kept", 1), write=True) == 1
    assert _rows(tmp_path / "db.sqlite") == {"kept": 1}


async def test_in_a_group_only_a_write_gets_a_savepoint_and_a_failed_read_undoes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    statements: list[str] = []

    def connect() -> sqlite3.Connection:
        conn = _connect(path)()
        conn.set_trace_callback(statements.append)
        return conn

    def reads(conn: sqlite3.Connection) -> int:
        return len(conn.execute("SELECT k FROM t").fetchall())

    def fails_to_read(conn: sqlite3.Connection) -> None:
        conn.execute("SELECT nothing FROM t")

    worker = SQLiteThread(connect, name=str(path))
    await worker.start()
    try:
        gate = _Gate()
        results: dict[str, object] = {}

        async def run(name: str, op: Callable[[sqlite3.Connection], object], write: bool) -> None:
            try:
                results[name] = await worker.run(op, write=write)
            except Exception as exc:  # kept to be asserted on
                results[name] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: worker.run(gate, write=False))
            await anyio.to_thread.run_sync(gate.entered.wait, 10)
            statements.clear()
            for name, op, write in [
                ("a", _insert("a", 1), True),
                ("read", reads, False),
                ("broken", fails_to_read, False),
                ("b", _insert("b", 2), True),
                ("again", reads, False),
            ]:
                tg.start_soon(run, name, op, write)
                await anyio.sleep(0.01)  # queued in this order
            gate.release.set()
    finally:
        await worker.stop()
    assert (results["a"], results["b"]) == (1, 2)
    assert (results["read"], results["again"]) == (1, 2)  # each sees the writes before it
    assert isinstance(results["broken"], StoreError)
    assert _rows(path) == {"a": 1, "b": 2}
    assert sum(s.startswith("SAVEPOINT") for s in statements) == 2
