"""A complete bag at an item's final path is adopted, not fetched again.

Two ways to get there: a process killed between the bag's rename and the store's
"archived" (the store then still says "verifying", with every file recorded), and a
state database lost next to a full archive.  The bags are made by the real pipeline
against a loopback file host; what the file host served tells whether anything was
fetched again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import bagit
import pytest

from downloader.archive import item_path, replaced_path, staging_path
from downloader.archive._adopt import Verdict, judge_bag, steps_to
from downloader.archive._layout import REPLACED_DIR
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.emulator._zip import ZipContent, ZipMember
from downloader.items import ItemRef
from downloader.store import ItemState
from downloader.store._models import AssetRecord, AssetState
from downloader.transfer._checkpoint import work_files_for
from tests.support.plain import once, serve_all, write_config
from tests.support.stac import catalog_items
from tests.support.worker import http_harness, http_item

SHA = "a" * 64


def fetches(file_host: RunningHost, path: str) -> int:
    return sum(1 for record in file_host.host.log if record.path == path)


def serve(file_host: RunningHost, path: str, seed: int, size: int = 150_000) -> None:
    file_host.host.add(FileSpec(path, SeededContent(seed, size)))


async def archive_with_fresh_state(tmp_path: Path, root: Path, refs: list[ItemRef]) -> None:
    """Archive `refs` into `root` with a state database of their own (thrown away after)."""
    (tmp_path / "first").mkdir()
    async with http_harness(tmp_path / "first", root) as harness:
        for ref in refs:
            assert await harness.work(ref) is ItemState.ARCHIVED


def replaced(root: Path) -> list[Path]:
    folder = root / REPLACED_DIR
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_a_bag_renamed_before_a_kill_is_adopted_with_no_refetch(
    file_host: RunningHost, tmp_path: Path
) -> None:
    serve(file_host, "/k/a.bin", seed=3)
    root = tmp_path / "archive"
    ref = http_item(file_host.url("/k/a.bin"), "killed")
    await archive_with_fresh_state(tmp_path, root, [ref])
    bag = root / item_path(ref)
    sha = bagit.Bag(str(bag)).entries["data/a.bin"]["sha256"]
    # the state database as the kill left it: every file recorded, the item verifying
    async with http_harness(tmp_path, root) as harness:
        store = harness.store
        record = AssetRecord(ref.key, "a.bin", "a.bin", None, 150_000, sha, AssetState.DONE)
        await harness.leave(ref, [ItemState.DOWNLOADING, ItemState.VERIFYING], [record])
        served_before = fetches(file_host, "/k/a.bin")
        # what an older attempt may have left: a staging folder, the asset's work files
        (root / staging_path(ref) / "data").mkdir(parents=True)
        leftover = work_files_for(root / ".partial", "a.bin")
        leftover.data.write_bytes(b"partial")
        leftover.checkpoint.write_text("{}")
        # the kill came before the bag was linked from the archive's catalog, too
        (root / "catalog.json").unlink()

        assert await harness.work(ref) is ItemState.ARCHIVED
        item = await store.get(ref.key)
        events = [(e.kind, e.detail) for e in await store.events(ref.key)]

    assert fetches(file_host, "/k/a.bin") == served_before
    assert catalog_items(root) == {ref.key: bag.resolve()}
    assert item is not None
    assert item.archive_path == str(bag)
    assert any(kind == "adopted" and "recorded" in detail for kind, detail in events), events
    assert replaced(root) == []
    assert not (root / staging_path(ref)).exists()
    assert not leftover.data.exists()
    assert not leftover.checkpoint.exists()
    bagit.Bag(str(bag)).validate()


async def test_after_state_loss_good_bags_are_adopted_and_a_damaged_one_fetched_again(
    file_host: RunningHost, tmp_path: Path
) -> None:
    serve(file_host, "/s/good.bin", seed=4)
    serve(file_host, "/s/bad.bin", seed=5)
    root = tmp_path / "archive"
    good = http_item(file_host.url("/s/good.bin"), "good")
    bad = http_item(file_host.url("/s/bad.bin"), "bad")
    await archive_with_fresh_state(tmp_path, root, [good, bad])
    damaged = root / item_path(bad) / "data" / "bad.bin"
    data = bytearray(damaged.read_bytes())
    data[100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    before = {path: fetches(file_host, path) for path in ("/s/good.bin", "/s/bad.bin")}

    # a new, empty state database next to the full archive
    async with http_harness(tmp_path, root) as harness:
        assert await harness.work(good) is ItemState.ARCHIVED
        assert await harness.work(bad) is ItemState.ARCHIVED
        good_events = [e.kind for e in await harness.store.events(good.key)]
        bad_events = [e.kind for e in await harness.store.events(bad.key)]

    assert fetches(file_host, "/s/good.bin") == before["/s/good.bin"]
    assert fetches(file_host, "/s/bad.bin") > before["/s/bad.bin"]
    bagit.Bag(str(root / item_path(good))).validate()
    bagit.Bag(str(root / item_path(bad))).validate()
    assert "adopted" in good_events
    assert "adopted" not in bad_events
    aside = replaced(root)
    assert len(aside) == 1  # only the damaged bag was moved aside, kept as it was
    assert (aside[0] / "data" / "bad.bin").read_bytes() == bytes(data)


async def test_a_bag_seen_through_a_link_planted_on_its_path_is_not_adopted(
    file_host: RunningHost, tmp_path: Path
) -> None:
    serve(file_host, "/l/a.bin", seed=6)
    root, outside = tmp_path / "archive", tmp_path / "outside"
    ref = http_item(file_host.url("/l/a.bin"), "linked")
    await archive_with_fresh_state(tmp_path, root, [ref])
    outside.mkdir()
    (root / "http").rename(outside / "http")
    (root / "http").symlink_to(outside / "http")
    kept = {p: p.read_bytes() for p in (outside / "http").rglob("*") if p.is_file()}

    # a new state database: the loop's glance sees the bag through the link, the
    # judgement in its thread walks without following and refuses it
    async with http_harness(tmp_path, root) as harness:
        state = await harness.work(ref)
        events = [e.kind for e in await harness.store.events(ref.key)]

    assert state is not ItemState.ARCHIVED
    assert "adopted" not in events
    assert {p: p.read_bytes() for p in (outside / "http").rglob("*") if p.is_file()} == kept


async def test_a_bag_whose_files_differ_from_what_the_store_recorded_is_not_adopted(
    file_host: RunningHost, tmp_path: Path
) -> None:
    serve(file_host, "/m/a.bin", seed=6)
    root = tmp_path / "archive"
    ref = http_item(file_host.url("/m/a.bin"), "other")
    await archive_with_fresh_state(tmp_path, root, [ref])
    async with http_harness(tmp_path, root) as harness:
        record = AssetRecord(ref.key, "a.bin", "a.bin", None, 150_000, SHA, AssetState.DONE)
        # a file the bag on disk does not hold
        await harness.leave(ref, [ItemState.DOWNLOADING], [record])
        served_before = fetches(file_host, "/m/a.bin")

        assert await harness.work(ref) is ItemState.ARCHIVED

    assert fetches(file_host, "/m/a.bin") > served_before
    assert len(replaced(root)) == 1


# --- the pure decisions ---------------------------------------------------------------

KEY = "http:file:x"


@pytest.mark.parametrize(
    ("identifier", "manifest", "oxum", "sizes", "expected", "verdict"),
    [
        (KEY, {"data/a": SHA}, (3, 1), {"data/a": 3}, {"a": (3, SHA)}, Verdict.ADOPT),
        ("http:file:y", {"data/a": SHA}, (3, 1), {"data/a": 3}, {"a": (3, SHA)}, Verdict.LEAVE),
        (KEY, None, (3, 1), {"data/a": 3}, {"a": (3, SHA)}, Verdict.LEAVE),
        (KEY, {"data/a": SHA}, (3, 1), {"data/a": 4}, {"a": (3, SHA)}, Verdict.LEAVE),
        (KEY, {"data/a": SHA}, (4, 1), {"data/a": 3}, {"a": (3, SHA)}, Verdict.LEAVE),
        (
            KEY,
            {"data/a": SHA, "data/b": SHA},
            (6, 2),
            {"data/a": 3, "data/b": 3},
            {"a": (3, SHA)},
            Verdict.LEAVE,
        ),
        (KEY, {"data/a": SHA}, (3, 1), {"data/a": 3}, {}, Verdict.AUDIT),
        (KEY, {"data/p/x": SHA}, (3, 1), {"data/p/x": 3}, {"p.zip": (9, SHA)}, Verdict.AUDIT),
        (KEY, {"data/q/x": SHA}, (3, 1), {"data/q/x": 3}, {"p.zip": (9, SHA)}, Verdict.LEAVE),
        (
            KEY,
            {"data/p/x": SHA, "data/extra": SHA},
            (6, 2),
            {"data/p/x": 3, "data/extra": 3},
            {"p.zip": (9, SHA)},
            Verdict.LEAVE,
        ),
    ],
)
def test_a_bag_is_judged_by_its_identifier_manifest_oxum_and_sizes(
    identifier: str,
    manifest: dict[str, str] | None,
    oxum: tuple[int, int],
    sizes: dict[str, int],
    expected: dict[str, tuple[int, str]],
    verdict: Verdict,
) -> None:
    assert judge_bag(KEY, identifier, manifest, oxum, sizes, expected) is verdict


def test_an_adopted_item_walks_the_allowed_transitions_to_archived() -> None:
    S = ItemState
    assert steps_to(S.WAITING, S.ARCHIVED) == [S.DOWNLOADING, S.VERIFYING, S.ARCHIVED]
    assert steps_to(S.PREPARING, S.ARCHIVED) == [S.DOWNLOADING, S.VERIFYING, S.ARCHIVED]
    assert steps_to(S.VERIFYING, S.ARCHIVED) == [S.ARCHIVED]
    assert steps_to(S.FAILED, S.ARCHIVED) == [S.WAITING, S.DOWNLOADING, S.VERIFYING, S.ARCHIVED]
    assert steps_to(S.ARCHIVED, S.WAITING) == []


async def test_copies_of_an_adopted_bag_moved_aside_by_older_runs_are_removed_others_kept(
    file_host: RunningHost, tmp_path: Path
) -> None:
    serve(file_host, "/c/a.bin", seed=8)
    root = tmp_path / "archive"
    ref = http_item(file_host.url("/c/a.bin"), "copied")
    await archive_with_fresh_state(tmp_path, root, [ref])
    bag = root / item_path(ref)
    # what an older version left after fetching the bag again: an exact copy moved aside,
    # and an earlier, different bag of the item
    copy = root / replaced_path(ref, "20261201T000000Z")
    shutil.copytree(bag, copy)
    other = root / replaced_path(ref, "20261101T000000Z")
    shutil.copytree(bag, other)
    (other / "data" / "a.bin").write_bytes(b"an older version")
    manifest = other / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text().replace(manifest.read_text()[:64], "0" * 64))
    served_before = fetches(file_host, "/c/a.bin")

    async with http_harness(tmp_path, root) as harness:  # the state database was lost
        assert await harness.work(ref) is ItemState.ARCHIVED

    assert fetches(file_host, "/c/a.bin") == served_before
    assert not copy.exists()
    assert (other / "data" / "a.bin").read_bytes() == b"an older version"
    bagit.Bag(str(bag)).validate()


async def test_a_bag_of_an_unpacked_zip_renamed_before_a_kill_is_adopted_after_its_audit(
    file_host: RunningHost, tmp_path: Path
) -> None:
    members = [
        ZipMember("a.txt", SeededContent(21, 5000)),
        ZipMember("d/b.bin", SeededContent(22, 7000)),
    ]
    file_host.host.add(FileSpec("/z/pkg.zip", ZipContent(members)))
    root = tmp_path / "archive"
    ref = http_item(file_host.url("/z/pkg.zip"), "zipped")
    (tmp_path / "first").mkdir()
    async with http_harness(tmp_path / "first", root) as first:
        first.worker.vetter.extract = True
        assert await first.work(ref) is ItemState.ARCHIVED
        recorded = await first.store.assets(ref.key)
    bag = root / item_path(ref)
    assert (bag / "data" / "pkg" / "d" / "b.bin").is_file()
    async with http_harness(tmp_path, root) as harness:
        harness.worker.vetter.extract = True
        await harness.leave(ref, [ItemState.DOWNLOADING, ItemState.VERIFYING], recorded)
        served_before = fetches(file_host, "/z/pkg.zip")

        assert await harness.work(ref) is ItemState.ARCHIVED

    assert fetches(file_host, "/z/pkg.zip") == served_before
    assert replaced(root) == []
    bagit.Bag(str(bag)).validate()


async def test_once_on_a_new_state_database_next_to_a_full_archive_fetches_nothing_again(
    file_host: RunningHost, tmp_path: Path
) -> None:
    contents = [SeededContent(40 + i, 200_000) for i in range(3)]
    config = write_config(tmp_path, serve_all(file_host, "o", contents))
    first = await anyio.to_thread.run_sync(once, config)
    assert first.returncode == 0, first.stdout + first.stderr
    served = len(file_host.host.log)
    for file in tmp_path.glob("state.db*"):  # the state is lost; the archive stays
        file.unlink()

    again = await anyio.to_thread.run_sync(once, config)

    assert again.returncode == 0, again.stdout + again.stderr
    assert len(file_host.host.log) == served
    assert again.stderr.count("archive.bag_adopted") == 3
    assert replaced(tmp_path / "archive") == []
