"""Group commit, seen from outside the SQLite store: the WAL's commit frames, the
metrics, another process holding the lock, and a process killed mid-group; and the
commits PostgreSQL counts, one per write (it keeps a transaction per operation)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from downloader.errors import IllegalTransition, LeaseLost
from downloader.items import ItemRef
from downloader.metrics import Metrics
from downloader.store import ItemState, PostgresStore, SQLiteStore
from tests.support.wal import wal_commits

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
REFS = [ItemRef.parse(f"http:file:host.example/f{i:02}.bin") for i in range(16)]


def _value(metrics: Metrics, name: str) -> float:
    found = metrics.registry.get_sample_value(name)
    assert found is not None, name
    return found


async def _walk_one(store: SQLiteStore, key: str, owner: str) -> int:
    """An item's writes as a worker makes them: its transition, progress, the next one."""
    await store.transition(key, ItemState.DOWNLOADING, now=T0, owner=owner)
    for n in range(1, 4):
        await store.set_progress(key, n * 1000, 3000, now=T0, owner=owner)
    await store.transition(key, ItemState.VERIFYING, now=T0, owner=owner)
    return 5


async def test_sixteen_items_at_once_commit_in_fewer_transactions_than_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    metrics = Metrics()
    async with SQLiteStore(path, observer=metrics) as store:
        await store.sync_watchlist(REFS, now=T0)
        claimed = await store.claim("me", now=T0, lease=LEASE, limit=len(REFS))
        assert len(claimed) == len(REFS)
        frames, commits = wal_commits(path), _value(metrics, "downloader_store_commits_total")
        writes = 0

        async def one(key: str) -> None:
            nonlocal writes
            made = await _walk_one(store, key, "me")
            writes += made

        async with anyio.create_task_group() as tg:
            for ref in REFS:
                tg.start_soon(one, ref.key)
        made = wal_commits(path) - frames
        counted = _value(metrics, "downloader_store_commits_total") - commits
        states = {r.key: r.state for r in await store.list_items()}
    assert writes == 80
    assert set(states.values()) == {ItemState.VERIFYING}
    # the WAL, read from outside, and the metric agree on how many transactions there were
    assert made == counted
    assert 0 < made < writes / 2, f"{made} commits for {writes} writes"
    assert _value(metrics, "downloader_store_operations_total") >= writes


async def test_a_refused_write_in_a_group_fails_alone_and_the_others_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    metrics = Metrics()
    async with SQLiteStore(path, observer=metrics) as store:
        await store.sync_watchlist(REFS, now=T0)
        await store.claim("me", now=T0, lease=LEASE, limit=len(REFS))
        commits = _value(metrics, "downloader_store_commits_total")
        operations = _value(metrics, "downloader_store_operations_total")
        outcomes: dict[str, object] = {}

        async def move(key: str, owner: str) -> None:
            try:
                record = await store.transition(key, ItemState.DOWNLOADING, now=T0, owner=owner)
                outcomes[key] = record.state
            except LeaseLost as exc:
                outcomes[key] = exc

        # another process holds the write lock: every write queues behind the first
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            async with anyio.create_task_group() as tg:
                for n, ref in enumerate(REFS):
                    tg.start_soon(move, ref.key, "thief" if n == 7 else "me")
                await anyio.sleep(0.3)
                holder.execute("ROLLBACK")
        finally:
            holder.close()
        counted = _value(metrics, "downloader_store_commits_total") - commits
        carried = _value(metrics, "downloader_store_operations_total") - operations
    refused = REFS[7].key
    lost = outcomes.pop(refused)
    assert isinstance(lost, LeaseLost)
    assert (lost.key, lost.owner, lost.holder) == (refused, "thief", "me")
    assert outcomes == {r.key: ItemState.DOWNLOADING for r in REFS if r.key != refused}
    # every write queued behind the lock: the thread took the first one alone, or all
    # at once; either way the refused one shared its transaction with others
    assert counted in (1, 2)
    assert carried == 15  # the refused write took no effect, so it is not counted
    after = sqlite3.connect(path)
    try:
        rows = dict(after.execute("SELECT key, state FROM items").fetchall())
    finally:
        after.close()
    assert rows.pop(refused) == "waiting"
    assert set(rows.values()) == {"downloading"}


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta

    import anyio

    from downloader.items import ItemRef
    from downloader.store import ItemState, PostgresStore, SQLiteStore

    T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    async def main(path: str) -> None:
        refs = [ItemRef.parse(f"http:file:host.example/f{i:02}.bin") for i in range(16)]
        async with SQLiteStore(path) as store:
            await store.sync_watchlist(refs, now=T0)
            await store.claim("me", now=T0, lease=timedelta(hours=1), limit=16)

            async def one(key: str) -> None:
                await store.transition(key, ItemState.DOWNLOADING, now=T0, owner="me")
                print(key, "moved", flush=True)
                n = 0
                while True:
                    n += 1
                    await store.set_progress(key, n, None, now=T0, owner="me")
                    print(key, n, flush=True)

            async with anyio.create_task_group() as tg:
                for ref in refs:
                    tg.start_soon(one, ref.key)

    anyio.run(main, sys.argv[1])
    """
)


def test_a_process_killed_mid_group_kept_every_write_it_had_acknowledged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    acknowledged: dict[str, int] = {}
    moved: set[str] = set()
    assert writer.stdout is not None
    try:
        for line in writer.stdout:
            key, what = line.split()
            if what == "moved":
                moved.add(key)
            else:
                acknowledged[key] = int(what)
            if sum(acknowledged.values()) >= 600:
                break
    finally:
        # SIGKILL while groups are being written: no clean close, no checkpoint
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    assert len(moved) == len(REFS)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = {k: (s, d) for k, s, d in conn.execute("SELECT key, state, bytes_done FROM items")}
    finally:
        conn.close()
    for key in moved:
        assert rows[key][0] == "downloading", key
    for key, done in acknowledged.items():
        # the row may be ahead of what was printed (answered, not yet printed), never behind
        assert (rows[key][1] or 0) >= done, (key, rows[key], done)


@pytest.mark.parametrize("operations", [0, 3])
def test_metrics_count_each_commit_and_the_writes_it_carried(operations: int) -> None:
    metrics = Metrics()
    metrics.store_committed(operations)
    metrics.store_committed(1)
    assert _value(metrics, "downloader_store_commits_total") == 2
    assert _value(metrics, "downloader_store_operations_total") == operations + 1


async def test_postgresql_counts_one_commit_for_each_write_that_took_effect(pg_url: str) -> None:
    metrics = Metrics()
    async with PostgresStore(pg_url, observer=metrics) as store:
        await store.sync_watchlist(REFS[:2], now=T0)
        await store.transition(REFS[0].key, ItemState.DOWNLOADING, now=T0)
        await store.set_progress(REFS[0].key, 10, 20, now=T0)
        with pytest.raises(IllegalTransition):
            await store.transition(REFS[1].key, ItemState.ARCHIVED, now=T0)
        assert await store.get(REFS[1].key) is not None  # a read commits nothing
    assert _value(metrics, "downloader_store_commits_total") == 3
    assert _value(metrics, "downloader_store_operations_total") == 3
