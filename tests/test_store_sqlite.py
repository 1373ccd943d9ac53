"""The SQLite state store as a file: creation, migration, refusal, readers, crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from downloader.errors import StoreError
from downloader.items import ItemRef
from downloader.store import (
    AssetRecord,
    ItemState,
    PackageRecord,
    SQLiteStore,
    open_store,
    sqlite_path,
)
from downloader.store._migrations import DIALECTS, MIGRATIONS, SCHEMA_VERSION, render
from downloader.store._sqlite_open import APPLICATION_ID

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
JOB = ItemRef.parse("pixxel:job:wf-1/job-1")
SCENE = ItemRef.parse("scale:job:15096")


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def pragma(path: Path, name: str) -> object:
    conn = raw(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(db) as opened:
        yield opened


# -- creation and migration ---------------------------------------------------------------


async def test_a_new_file_is_private_in_wal_mode_marked_ours_at_the_latest_version(
    store: SQLiteStore, db: Path
) -> None:
    await store.sync_watchlist([JOB], now=T0)
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert path.stat().st_mode & 0o027 == 0, path
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "application_id") == APPLICATION_ID
    assert pragma(db, "user_version") == SCHEMA_VERSION


def test_migrations_are_numbered_in_order_and_render_for_every_dialect() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    for migration in MIGRATIONS:
        for dialect in DIALECTS:
            statements = render(migration, dialect)
            assert statements
            assert not any("{" in s or "}" in s for s in statements)
    events = next(s for s in render(MIGRATIONS[0], "postgresql") if "TABLE events" in s)
    assert "GENERATED ALWAYS AS IDENTITY" in events


async def test_reopening_keeps_every_record(db: Path) -> None:
    asset = AssetRecord(
        JOB.key,
        "a1",
        "scene.tif",
        url_hint="https://files.example.org/scene.tif",
        size=100,
        bytes_done=75,
    )
    async with SQLiteStore(db) as first:
        await first.sync_watchlist([JOB, SCENE], now=T0)
        await first.transition(JOB.key, ItemState.REQUESTED, now=T0)
        await first.save_package(PackageRecord(JOB.key, "dl-77", data='{"n": 1}'), now=T0)
        await first.save_asset(asset, now=T0)
    async with SQLiteStore(db) as second:
        job = await second.get(JOB.key)
        assert job is not None
        assert job.state is ItemState.REQUESTED
        assert [i.key for i in await second.list_items()] == sorted([JOB.key, SCENE.key])
        assert await second.get_package(JOB.key) == PackageRecord(JOB.key, "dl-77", data='{"n": 1}')
        assert await second.assets(JOB.key) == [asset]
        assert [e.kind for e in await second.events(JOB.key)] == ["added", "transition"]
    assert pragma(db, "user_version") == SCHEMA_VERSION


async def test_two_stores_creating_the_same_new_file_at_once_both_succeed(db: Path) -> None:
    stores = [SQLiteStore(db), SQLiteStore(db)]
    async with anyio.create_task_group() as tg:
        for s in stores:
            tg.start_soon(s.open)
    await stores[0].sync_watchlist([JOB], now=T0)
    assert [i.key for i in await stores[1].list_items()] == [JOB.key]
    for s in stores:
        await s.close()


# -- refusing what is not ours --------------------------------------------------------------


async def test_a_file_of_random_bytes_is_refused_and_left_untouched(db: Path) -> None:
    db.parent.mkdir()
    junk = os.urandom(8192)
    db.write_bytes(junk)
    with pytest.raises(StoreError, match="not an SQLite database or is damaged") as caught:
        await SQLiteStore(db).open()
    assert str(db) in str(caught.value)
    assert db.read_bytes() == junk


async def test_a_damaged_database_is_refused_rather_than_started_empty(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.sync_watchlist([JOB, SCENE], now=T0)
    page = int(pragma(db, "page_size"))  # type: ignore[call-overload]
    data = bytearray(db.read_bytes())
    data[page : 2 * page] = b"\xa5" * page  # page 2: the root of the first table
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"damaged|malformed") as caught:
        await SQLiteStore(db).open()
    assert str(db) in str(caught.value)


async def test_a_database_of_another_program_is_refused_and_not_converted(db: Path) -> None:
    db.parent.mkdir()
    conn = raw(db)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    with pytest.raises(StoreError, match="some other program"):
        await SQLiteStore(db).open()
    assert pragma(db, "journal_mode") == "delete"
    assert pragma(db, "user_version") == 0
    conn = raw(db)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["photos"]
    conn.close()


async def test_a_schema_newer_than_this_program_knows_is_refused(db: Path) -> None:
    async with SQLiteStore(db) as store:
        await store.sync_watchlist([JOB], now=T0)
    conn = raw(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade"):
        await SQLiteStore(db).open()


async def test_a_database_of_the_first_schema_is_brought_up_to_date_with_its_items(
    db: Path,
) -> None:
    async with SQLiteStore(db) as store:
        await store.sync_watchlist([JOB, SCENE], now=T0)
        await store.transition(JOB.key, ItemState.REQUESTED, now=T0)
    conn = raw(db)  # as the first release left it: schema 1, without the turns index
    conn.execute("DROP INDEX items_turns")
    conn.execute("DROP TABLE source_items")
    conn.execute("DROP TABLE sources")
    conn.execute("ALTER TABLE items DROP COLUMN definition")  # nor the definitions
    conn.execute("DROP TABLE outbox")  # nor the hooks' outbox
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    async with SQLiteStore(db) as store:
        assert {r.key: r.state for r in await store.list_items()} == {
            JOB.key: ItemState.REQUESTED,
            SCENE.key: ItemState.WAITING,
        }
        claimed = await store.claim("me", now=T0, lease=timedelta(minutes=1), limit=5)
        assert sorted(r.key for r in claimed) == sorted([JOB.key, SCENE.key])
    assert pragma(db, "user_version") == SCHEMA_VERSION == 5
    conn = raw(db)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "items_turns" in names
    assert {"sources", "source_items", "outbox"} <= tables


async def test_an_unwritable_place_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create it"):
        await SQLiteStore(blocker / "state.db").open()


async def test_a_closed_store_says_so() -> None:
    store = SQLiteStore(":memory:")
    with pytest.raises(StoreError, match="not open"):
        await store.list_items()
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.get(JOB.key)


# -- state URLs ---------------------------------------------------------------------------


def test_sqlite_urls_name_relative_and_absolute_files_and_memory() -> None:
    assert sqlite_path("sqlite:///state.db") == "state.db"
    assert sqlite_path("sqlite:///var/state.db") == "var/state.db"
    assert sqlite_path("sqlite:////var/lib/downloader/state.db") == "/var/lib/downloader/state.db"
    assert sqlite_path("sqlite://:memory:") == ":memory:"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    for bad in ("sqlite://", "sqlite:///", "sqlite://host/state.db"):
        with pytest.raises(StoreError, match="sqlite:////absolute"):
            sqlite_path(bad)


def test_other_schemes_are_refused_without_echoing_the_url() -> None:
    with pytest.raises(StoreError, match="unknown scheme 'mysql'") as caught:
        open_store("mysql://user:hunter2@db.example.org/downloader")
    assert "hunter2" not in str(caught.value)


async def test_open_store_opens_a_relative_sqlite_url_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///sub/state.db") as store:
        await store.sync_watchlist([JOB], now=T0)
    assert (tmp_path / "sub" / "state.db").is_file()
    async with open_store(f"sqlite:///{tmp_path / 'sub' / 'state.db'}") as again:
        assert [i.key for i in await again.list_items()] == [JOB.key]


async def test_a_memory_store_works_and_is_private_to_its_instance() -> None:
    async with open_store("sqlite://:memory:") as one, open_store("sqlite:///:memory:") as two:
        await one.sync_watchlist([JOB], now=T0)
        assert [i.key for i in await one.list_items()] == [JOB.key]
        assert await two.list_items() == []


# -- readers next to a writer ---------------------------------------------------------------


async def test_a_second_store_reads_at_once_while_a_writer_holds_a_transaction(
    store: SQLiteStore, db: Path
) -> None:
    await store.sync_watchlist([JOB], now=T0)
    writer = raw(db)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE items SET state = 'requested' WHERE key = ?", (JOB.key,))
    try:
        async with SQLiteStore(db, busy_timeout=5.0) as reader:
            started = time.monotonic()
            items = await reader.list_items()
            counts = await reader.counts()
            assert time.monotonic() - started < 1.0
            assert [i.state for i in items] == [ItemState.WAITING]
            assert counts[ItemState.WAITING] == 1
    finally:
        writer.execute("COMMIT")
        writer.close()
    seen = await store.get(JOB.key)
    assert seen is not None
    assert seen.state is ItemState.REQUESTED


async def test_a_write_that_stays_locked_fails_after_the_busy_timeout_and_changes_nothing(
    store: SQLiteStore, db: Path
) -> None:
    await store.sync_watchlist([JOB], now=T0)
    writer = raw(db)
    writer.execute("BEGIN IMMEDIATE")
    try:
        async with SQLiteStore(db, busy_timeout=0.2) as other:
            with pytest.raises(StoreError, match="locked by another process"):
                await other.transition(JOB.key, ItemState.REQUESTED, now=T0)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    item = await store.get(JOB.key)
    assert item is not None
    assert item.state is ItemState.WAITING


async def test_what_one_store_commits_the_other_sees(db: Path) -> None:
    async with SQLiteStore(db) as daemon, SQLiteStore(db) as status:
        await daemon.sync_watchlist([JOB], now=T0)
        await daemon.transition(JOB.key, ItemState.DOWNLOADING, now=T0)
        await daemon.set_progress(JOB.key, 1024, 4096, now=T0 + timedelta(seconds=1))
        item = await status.get(JOB.key)
        assert item is not None
        assert (item.state, item.bytes_done, item.bytes_total) == (
            ItemState.DOWNLOADING,
            1024,
            4096,
        )


# -- crashes ------------------------------------------------------------------------------

_CRASHING_WRITER = """
import sys
from datetime import UTC, datetime, timedelta

import anyio

from downloader.items import ItemRef
from downloader.store import ItemState, SQLiteStore


async def main() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    refs = []
    async with SQLiteStore(sys.argv[1]) as store:
        for n in range(100000):
            refs.append(ItemRef("scale", "job", (str(n),)))
            await store.sync_watchlist(refs, now=now)
            await store.transition(refs[-1].key, ItemState.DOWNLOADING, now=now)
            await store.set_progress(refs[-1].key, n, n, now=now)
            now += timedelta(seconds=1)
            print(n, flush=True)


anyio.run(main)
"""


async def test_everything_committed_survives_a_kill_9_of_the_writing_process(db: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = -1
    try:
        while acknowledged < 25:
            line = child.stdout.readline()
            assert line, "the writer stopped before it was killed"
            acknowledged = int(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    async with SQLiteStore(db) as store:  # opening runs the integrity check
        items = {i.key: i for i in await store.list_items()}
        for n in range(acknowledged + 1):
            item = items[f"scale:job:{n}"]
            assert item.state is ItemState.DOWNLOADING
            assert item.bytes_done == n
        await store.sync_watchlist([SCENE], now=T0)
        assert [i.key for i in await store.list_items()] == [SCENE.key]
