"""Plain (not zipped) packages of several files: straight into the bag, nothing left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import bagit

from downloader.store import ItemState, open_store
from tests.support.once import once_against

SCENARIO = """
[emulator]
seed = 11
scale_token = "scale-files-token"

[[scale.job]]
id = 601
polls_until_done = 1
files = [
  { name = "north/scene.tif", size = 70000 },
  { name = "south/scene.tif", size = 90000 },
  { name = "scene.json", size = 500 },
]
"""


async def test_a_package_of_files_named_alike_is_filed_whole_leaving_nothing_behind(
    tmp_path: Path,
) -> None:
    root = tmp_path / "archive"
    async with (
        once_against(tmp_path, SCENARIO) as (running, settings),
        aiohttp.ClientSession() as session,
        session.get(running.base_url + "/_emulator/expected") as resp,
    ):
        offered = await resp.json()
    expected = sorted(f["sha256"] for files_of_item in offered.values() for f in files_of_item)
    async with open_store(settings.state.url) as store:
        (record,) = await store.list_items()
    assert record.state is ItemState.ARCHIVED
    assert record.archive_path is not None
    bag = bagit.Bag(record.archive_path)
    bag.validate()
    # two files the server names alike both arrive, neither overwriting the other
    names = sorted(Path(p).name for p in bag.payload_entries())
    assert len(names) == 3
    assert len(set(names)) == 3
    payload = Path(record.archive_path) / "data"
    got = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in payload.rglob("*.*"))
    assert got == expected
    # no file and no folder of the item's own stays under .partial (the catalog's lock
    # belongs to the archive)
    leftovers = [p for p in (root / ".partial").rglob("*") if p.is_file()]
    assert leftovers == [root / ".partial" / "catalog.lock"]
    folders = sorted(p.relative_to(root / ".partial") for p in (root / ".partial").rglob("*"))
    assert folders == [Path("bags"), Path("catalog.lock"), Path("transfers")]
