"""ZIP packages: member CRCs checked before archiving; unpacked into the bag on request."""

from __future__ import annotations

from pathlib import Path

import bagit

from downloader.emulator import RunningEmulator
from downloader.store import ItemState, open_store
from tests.support.once import once_against

SCENARIO = """
[emulator]
seed = 5
pixxel_api_key = "px-zip-key-123"

[[pixxel.job]]
workflow_id = "wf"
job_id = "good"
files = [{ name = "a.tif", size = 300000 }, { name = "meta/b.json", size = 1000 }]

[[pixxel.job]]
workflow_id = "wf"
job_id = "bad"
files = [{ name = "c.tif", size = 300000 }]
faults = { flip_byte_at = 5000, flip_times = -1 }
"""


async def run(tmp_path: Path, *, extract: bool) -> dict[str, object]:
    async with once_against(tmp_path, SCENARIO, extract=extract) as (_, settings):
        pass
    async with open_store(settings.state.url) as store:
        return {r.key: r for r in await store.list_items()}


async def test_a_zip_with_a_bad_member_crc_is_never_archived(tmp_path: Path) -> None:
    records = await run(tmp_path, extract=False)
    good, bad = records["pixxel:job:wf/good"], records["pixxel:job:wf/bad"]
    assert good.state is ItemState.ARCHIVED  # type: ignore[attr-defined]
    assert bad.state is ItemState.FAILED  # type: ignore[attr-defined]
    assert "CRC" in bad.error  # type: ignore[attr-defined]
    assert "c.tif" in bad.error  # type: ignore[attr-defined]
    assert not (tmp_path / "archive" / "pixxel" / "jobs" / "wf" / "bad").exists()
    bagit.Bag(good.archive_path).validate()  # type: ignore[attr-defined]


async def test_extract_unpacks_members_into_the_bag(tmp_path: Path) -> None:
    records = await run(tmp_path, extract=True)
    good = records["pixxel:job:wf/good"]
    bag = bagit.Bag(good.archive_path)  # type: ignore[attr-defined]
    bag.validate()
    paths = sorted(bag.payload_entries())
    assert any(p.endswith("/a.tif") for p in paths)
    assert any(p.endswith("/meta/b.json") for p in paths)
    assert not any(p.endswith(".zip") for p in paths)


MIXED = """
[emulator]
seed = 9
scale_token = "sc-mixed-token"

[[scale.job]]
id = 4242
files = [
  { name = "scene.tif", size = 300000 },
  { name = "bundle.zip", members = [
      { name = "a.tif", size = 200000 },
      { name = "meta/b.json", size = 700 },
  ] },
  { name = "notes.txt", size = 1200 },
]
"""


def _expected(running: RunningEmulator, *, extracted: bool) -> dict[str, str]:
    """Path in the bag's payload → SHA-256, as the emulator generated them."""
    found: dict[str, str] = {}
    for f in running.emulator.expected()["scale:job:4242"]:
        if f.members and extracted:
            for m in f.members:
                found[f"{f.name.removesuffix('.zip')}/{m.name}"] = m.sha256
        else:
            found[f.name] = f.sha256
    return found


async def _archive_mixed(tmp_path: Path, *, extract: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Run MIXED once; the validated bag's payload and what the emulator generated,
    each as path → SHA-256."""
    async with once_against(tmp_path, MIXED, extract=extract) as (running, settings):
        expected = _expected(running, extracted=extract)
    async with open_store(settings.state.url) as store:
        record = await store.get("scale:job:4242")
    assert record is not None
    assert record.state is ItemState.ARCHIVED, record.error
    bag = bagit.Bag(record.archive_path)
    bag.validate()
    payload = {p.removeprefix("data/"): d["sha256"] for p, d in bag.payload_entries().items()}
    return payload, expected


async def test_a_package_of_plain_files_and_a_zip_keeps_each_as_it_came(tmp_path: Path) -> None:
    payload, expected = await _archive_mixed(tmp_path, extract=False)
    assert payload == expected
    assert set(expected) == {"scene.tif", "bundle.zip", "notes.txt"}


async def test_extract_unpacks_the_zip_of_a_mixed_package_and_keeps_its_plain_files(
    tmp_path: Path,
) -> None:
    payload, expected = await _archive_mixed(tmp_path, extract=True)
    assert payload == expected
    assert set(expected) == {"scene.tif", "bundle/a.tif", "bundle/meta/b.json", "notes.txt"}
