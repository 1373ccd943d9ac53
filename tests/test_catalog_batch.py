"""The catalog's links written in batches, and repaired after a crash that left some owed.

Real bags on the real file system; the crash is a real process ended with `os._exit`
while it held links it had not written."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import anyio

from downloader.archive import BagBuilder, item_path
from downloader.archive._catalog import CATALOG, catalog_href_from
from downloader.archive._catalog_pending import PARTIAL, PENDING
from downloader.archive._stac import STAC_ITEM, ItemFacts, render_stac_item
from downloader.clock import FakeClock
from downloader.emulator._content import SeededContent
from downloader.emulator._files import RunningHost
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.runners._catalog_links import CatalogLinks
from tests.support.plain import once, serve_all, write_config
from tests.support.stac import catalog_items

WHEN = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
REFS = [ItemRef("http", "file", (f"f-{i}",)) for i in range(5)]


async def bag_of(root: Path, ref: ItemRef) -> Path:
    """The bag of `ref`, filed with its STAC Item and not linked from the catalog."""
    builder = BagBuilder.in_archive(root, ref, clock=FakeClock())
    data = ref.key.encode()
    (builder.data_dir / "a.bin").write_bytes(data)
    builder.add_payload("a.bin", len(data), hashlib.sha256(data).hexdigest())
    relative = item_path(ref)
    stac = render_stac_item(
        ItemFacts(ref), builder.payload, bagged_at=WHEN, catalog_href=catalog_href_from(relative)
    )
    return await builder.finish(root / relative, tag_files={STAC_ITEM: stac})


def marks(root: Path) -> list[str]:
    folder = root / PARTIAL
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(PENDING))


async def test_links_gathered_are_written_in_one_rewrite_and_the_mark_removed(
    tmp_path: Path,
) -> None:
    bags = {ref.key: (await bag_of(tmp_path, ref)).resolve() for ref in REFS}
    links = CatalogLinks(Jail(tmp_path), every=3600)
    await links.open()
    assert len(marks(tmp_path)) == 1  # durable before any link is owed
    await links.link(item_path(REFS[0]), REFS[0].key)
    await links.flush()
    first = (tmp_path / CATALOG).stat().st_ino
    for ref in REFS[1:]:
        await links.link(item_path(ref), ref.key)
    # nothing rewritten per bag: the catalog is the one the first flush wrote
    assert (tmp_path / CATALOG).stat().st_ino == first
    assert set(catalog_items(tmp_path)) == {REFS[0].key}
    assert links.pending == 4
    await links.close()
    assert catalog_items(tmp_path) == bags
    assert marks(tmp_path) == []


async def test_the_flusher_writes_a_batch_once_it_is_due(tmp_path: Path) -> None:
    await bag_of(tmp_path, REFS[0])
    links = CatalogLinks(Jail(tmp_path), every=0.05)
    await links.open()
    async with anyio.create_task_group() as tg:
        tg.start_soon(links.run)
        await links.link(item_path(REFS[0]), REFS[0].key)
        with anyio.fail_after(30):
            while links.pending or not (tmp_path / CATALOG).exists():
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()
    assert set(catalog_items(tmp_path)) == {REFS[0].key}
    await links.close()


async def test_without_a_mark_each_bag_is_linked_at_once(tmp_path: Path) -> None:
    await bag_of(tmp_path, REFS[0])
    links = CatalogLinks(Jail(tmp_path))  # a worker built alone: never opened
    await links.link(item_path(REFS[0]), REFS[0].key)
    assert set(catalog_items(tmp_path)) == {REFS[0].key}
    assert links.pending == 0


CRASH = """
import os, sys
import anyio
from pathlib import Path
from downloader.archive import item_path
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.runners._catalog_links import CatalogLinks

async def main() -> None:
    root = Path(sys.argv[1])
    links = CatalogLinks(Jail(root), every=3600)
    await links.open()
    for name in sys.argv[2:]:
        ref = ItemRef("http", "file", (name,))
        await links.link(item_path(ref), ref.key)
    print(links.pending, flush=True)
    os._exit(9)  # a power cut, as far as the catalog can tell: nothing written

anyio.run(main)
"""


async def test_links_a_crash_left_owed_are_repaired_at_the_next_open(tmp_path: Path) -> None:
    bags = {ref.key: (await bag_of(tmp_path, ref)).resolve() for ref in REFS}
    names = [ref.ids[0] for ref in REFS]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH), str(tmp_path), *names],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 9, done.stderr
    assert done.stdout.strip() == str(len(REFS))
    assert not (tmp_path / CATALOG).exists()
    assert len(marks(tmp_path)) == 1  # left by the crash
    links = CatalogLinks(Jail(tmp_path))
    await links.open()
    assert catalog_items(tmp_path) == bags
    assert marks(tmp_path) == []


async def test_the_mark_of_a_running_process_is_left_alone(tmp_path: Path) -> None:
    await bag_of(tmp_path, REFS[0])
    running = CatalogLinks(Jail(tmp_path), every=3600)
    await running.open()
    await running.link(item_path(REFS[0]), REFS[0].key)
    other = CatalogLinks(Jail(tmp_path))
    await other.open()
    # its owner holds its lock: not taken for abandoned, nothing repaired on its behalf
    assert len(marks(tmp_path)) == 1
    assert not (tmp_path / CATALOG).exists()
    await running.close()
    assert set(catalog_items(tmp_path)) == {REFS[0].key}
    assert json.loads((tmp_path / CATALOG).read_bytes())["type"] == "Catalog"
    assert marks(tmp_path) == []


async def test_once_links_every_bag_it_filed_and_leaves_no_mark(
    file_host: RunningHost, tmp_path: Path
) -> None:
    contents = [SeededContent(70 + i, 1000 + i) for i in range(12)]
    entries = serve_all(file_host, "c", contents)
    result = await anyio.to_thread.run_sync(once, write_config(tmp_path, entries))
    assert result.returncode == 0, result.stderr
    root = tmp_path / "archive"
    bags = {f"http:file:file-{i}": (root / "http" / f"file-{i}").resolve() for i in range(12)}
    assert catalog_items(root) == bags
    assert marks(root) == []


async def test_a_link_planted_at_partial_turns_batches_off_and_writes_nothing_there(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / ".partial").symlink_to(outside)
    links = CatalogLinks(Jail(root), every=3600)
    await links.open()  # no mark can be made there: each link is tried at once instead
    await links.link(item_path(REFS[0]), REFS[0].key)
    assert links.pending == 0
    assert list(outside.iterdir()) == []
    assert not (root / CATALOG).exists()  # its lock lies behind the link: not written
    await links.close()
