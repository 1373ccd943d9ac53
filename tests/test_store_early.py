"""The state database opened on a thread of its own while the program starts (`_early`)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from downloader.errors import StoreError
from downloader.items import ItemRef
from downloader.store import open_early, open_store, sqlite_path
from downloader.store._early import take_early
from downloader.store._migrations import SCHEMA_VERSION

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ITEM = ItemRef.parse("http:file:one")


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


async def test_the_store_takes_the_connection_begun_early_and_it_is_handed_out_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    open_early(url_of(db))
    async with open_store(url_of(db)) as store:
        await store.sync_watchlist([ITEM], now=T0)
        assert [r.key for r in await store.list_items()] == [ITEM.key]
        # taken by the store: a later open of the same file connects anew
        assert take_early(sqlite_path(url_of(db)), busy_timeout=10.0) is None
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_an_early_open_makes_the_file_ready_for_the_store(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    open_early(url_of(db))
    conn = take_early(str(db), busy_timeout=10.0)
    assert conn is not None
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


async def test_what_an_early_open_found_wrong_is_raised_when_the_store_opens(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.close()
    open_early(url_of(db))
    with pytest.raises(StoreError, match="some other program"):
        async with open_store(url_of(db)):
            pass
    conn = sqlite3.connect(db)
    try:  # refused, not converted
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["photos"]
    finally:
        conn.close()


@pytest.mark.parametrize(
    "url", ["sqlite://:memory:", "postgresql://u@127.0.0.1/db", "sqlite:/nope", "mysql://x"]
)
def test_only_a_database_file_is_opened_early(url: str) -> None:
    before = set(threading.enumerate())
    open_early(url)  # anything else is left to open_store, which says what is wrong
    assert not any(t.name.startswith("open ") for t in set(threading.enumerate()) - before)
