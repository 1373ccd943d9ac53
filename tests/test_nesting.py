"""Two items whose bags would nest (one id the other's parent folder) are refused at sync.

The rule is pure (`archive.nesting_refusals`), applied by both store backends inside
the sync's own transaction, and `once` counts a refused entry as not done.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from downloader.archive._layout import nesting_refusals
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.items import ItemRef
from downloader.store import ItemState, StateStore, open_store

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def http(ident: str) -> ItemRef:
    return ItemRef("http", "file", (ident,), url=f"http://127.0.0.1:9/{ident}")


def test_two_new_ids_where_one_is_the_others_parent_are_both_refused() -> None:
    refused = nesting_refusals(["http:file:h/a", "http:file:h/a/b", "http:file:h/c"], [])
    assert set(refused) == {"http:file:h/a", "http:file:h/a/b"}
    assert "http:file:h/a/b" in refused["http:file:h/a"]
    assert "http:file:h/a" in refused["http:file:h/a/b"]


def test_a_new_id_nesting_with_a_known_one_is_refused_and_the_known_one_kept() -> None:
    assert set(nesting_refusals(["http:file:h/a/b/c"], ["http:file:h/a"])) == {"http:file:h/a/b/c"}
    assert set(nesting_refusals(["http:file:h/a"], ["http:file:h/a/b/c"])) == {"http:file:h/a"}
    assert nesting_refusals(["http:file:h/ab"], ["http:file:h/a"]) == {}


def test_nesting_is_judged_on_the_sanitised_folders_not_the_raw_ids() -> None:
    # "a." is filed as "a": the second id's bag would lie inside the first's
    assert set(nesting_refusals(["http:file:h/a./b"], ["http:file:h/a"])) == {"http:file:h/a./b"}


def test_ids_of_other_providers_never_nest() -> None:
    assert nesting_refusals(["pixxel:job:wf/j", "scale:job:1"], ["pixxel:catalog:wf"]) == {}


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[StateStore]:
    async with open_store(state_url) as opened:
        yield opened


async def test_the_store_adds_neither_of_two_nesting_items_and_says_why(store: StateStore) -> None:
    result = await store.sync_watchlist([http("h/a"), http("h/a/b"), http("h/c")], now=NOW)
    assert result.added == ("http:file:h/c",)
    assert [key for key, _ in result.refused] == ["http:file:h/a", "http:file:h/a/b"]
    assert [r.key for r in await store.list_items()] == ["http:file:h/c"]


async def test_an_item_nesting_with_an_archived_one_is_refused_and_the_archived_kept(
    store: StateStore,
) -> None:
    await store.sync_watchlist([http("h/a")], now=NOW)
    await store.claim("me", now=NOW, lease=timedelta(minutes=1), limit=1)
    for state in (ItemState.DOWNLOADING, ItemState.VERIFYING, ItemState.ARCHIVED):
        await store.transition("http:file:h/a", state, now=NOW, owner="me")
    result = await store.sync_watchlist([http("h/a"), http("h/a/b")], now=NOW)
    assert result.added == ()
    assert [key for key, _ in result.refused] == ["http:file:h/a/b"]
    record = await store.get("http:file:h/a")
    assert record is not None
    assert record.state is ItemState.ARCHIVED
    assert await store.get("http:file:h/a/b") is None


async def test_once_with_two_nesting_entries_archives_neither_and_exits_1(
    file_host: RunningHost, tmp_path: Path
) -> None:
    for path in ("/n/a.bin", "/n/b.bin", "/n/c.bin"):
        file_host.host.add(FileSpec(path, SeededContent(len(path), 4000)))
    watchlist = tmp_path / "watchlist.toml"
    entries = [("h/a", "/n/a.bin"), ("h/a/b", "/n/b.bin"), ("h/c", "/n/c.bin")]
    watchlist.write_text(
        "".join(f'[[http.file]]\nid = "{i}"\nurl = "{file_host.url(p)}"\n' for i, p in entries)
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{watchlist}"\n'
    )
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "downloader", "once", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "watchlist.refused" in done.stdout + done.stderr
    http_dir = tmp_path / "archive" / "http" / "h"
    assert (http_dir / "c" / "bagit.txt").is_file()
    assert not (http_dir / "a").exists()
    assert not [r.path for r in file_host.host.log if r.path in ("/n/a.bin", "/n/b.bin")]
