"""A bag made durable in one pass: each file fsynced once, after all were written, then
each folder once and, after the rename, the folder holding its new name.  Counted on
the real file system through the builder's `Syncer`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import bagit

from downloader.archive import BagBuilder, item_path, staging_path
from downloader.archive._commit import Syncer
from downloader.clock import FakeClock
from downloader.items import ItemRef
from downloader.jail import Jail, Relative

JOB = ItemRef("pixxel", "job", ("wf-1", "job-2"))


class CountingSyncer(Syncer):
    """Each fsync asked for, as (what, (device, inode)), in order; then done for real."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, int]]] = []

    def file(self, fd: int) -> None:
        self.calls.append(("file", _identity(fd)))
        super().file(fd)

    def folder(self, fd: int) -> None:
        self.calls.append(("folder", _identity(fd)))
        super().folder(fd)


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _of(path: Path) -> tuple[int, int]:
    info = os.stat(path, follow_symlinks=False)
    return info.st_dev, info.st_ino


class WalkCountingJail(Jail):
    """The archive root's jail, counting the folders it walks to from the root."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.walks: list[str] = []

    def open_dir(self, relative: Relative, *, create: bool = False, durable: bool = False) -> int:
        self.walks.append(str(relative))
        return super().open_dir(relative, create=create, durable=durable)


async def bag_of(
    root: Path, payload: dict[str, bytes], syncer: Syncer, jail: Jail | None = None
) -> Path:
    staging = root / staging_path(JOB)
    jail = jail or Jail(root)
    builder = BagBuilder(staging, JOB, clock=FakeClock(), jail=jail, syncer=syncer)
    for relative, data in payload.items():
        path = builder.data_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        builder.add_payload(relative, len(data), hashlib.sha256(data).hexdigest())
    return await builder.finish(root / item_path(JOB), tag_files={"stac-item.json": b"{}"})


async def test_a_bag_is_made_durable_by_one_fsync_of_each_file_and_of_each_folder(
    tmp_path: Path,
) -> None:
    syncer = CountingSyncer()
    payload = {f"scene-{n}.tif": bytes([n]) * (1000 + n) for n in range(4)}
    final = await bag_of(tmp_path, payload, syncer)

    bagit.Bag(str(final)).validate()
    files = sorted(p for p in final.rglob("*") if p.is_file())
    tags = {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"}
    assert {p.name for p in files} == set(payload) | tags | {"stac-item.json"}
    kinds = [kind for kind, _ in syncer.calls]
    synced_files = [who for kind, who in syncer.calls if kind == "file"]
    # each file once, all of them in one pass before any folder
    assert sorted(synced_files) == sorted(_of(p) for p in files)
    assert kinds == ["file"] * len(files) + ["folder"] * 3
    # the folders: data/, the bag's own, then the one holding its new name
    folders = [who for kind, who in syncer.calls if kind == "folder"]
    assert folders == [_of(final / "data"), _of(final), _of(final.parent)]


async def test_a_nested_payload_has_each_of_its_folders_synced_once_deepest_first(
    tmp_path: Path,
) -> None:
    syncer = CountingSyncer()
    final = await bag_of(tmp_path, {"band/red/b04.tif": b"red", "top.txt": b"top"}, syncer)

    folders = [who for kind, who in syncer.calls if kind == "folder"]
    deepest = [_of(final / "data" / "band" / "red"), _of(final / "data" / "band")]
    assert folders == [*deepest, _of(final / "data"), _of(final), _of(final.parent)]
    files = [p for p in final.rglob("*") if p.is_file()]
    assert len([1 for kind, _ in syncer.calls if kind == "file"]) == len(files)


async def test_the_files_of_one_folder_are_synced_with_one_walk_to_it(tmp_path: Path) -> None:
    jail = WalkCountingJail(tmp_path)
    payload = {f"scene-{n}.tif": bytes([n]) * 10 for n in range(6)}
    final = await bag_of(tmp_path, payload, CountingSyncer(), jail)

    bagit.Bag(str(final)).validate()
    staging = staging_path(JOB)
    # the six payload files and the five tag files are synced after one walk to data/
    # and one to the bag (the other walks make, check and scan them), not after a walk
    # from the root for each of the eleven files
    assert jail.walks.count(str(staging / "data")) <= 4
    assert jail.walks.count(str(staging)) <= 4


async def test_a_finish_walks_from_the_root_once_to_the_bag_and_to_nothing_else(
    tmp_path: Path,
) -> None:
    jail = WalkCountingJail(tmp_path)
    builder = BagBuilder(tmp_path / staging_path(JOB), JOB, clock=FakeClock(), jail=jail)
    for name in ("a.tif", "band/red/b04.tif", "band/nir/b08.tif"):
        path = builder.data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        builder.add_payload(name, len(name), hashlib.sha256(name.encode()).hexdigest())
    jail.walks.clear()

    final = await builder.finish(tmp_path / item_path(JOB), tag_files={"stac-item.json": b"{}"})

    bagit.Bag(str(final)).validate()
    # the bag's folder only: every folder below it reached from the one above, the way
    # to the final path from the held root, each tag file synced through its writing
    assert jail.walks == [str(staging_path(JOB))]


async def test_payload_the_engine_made_durable_is_not_synced_again_nor_a_folder_of_only_such(
    tmp_path: Path,
) -> None:
    syncer = CountingSyncer()
    builder = BagBuilder(
        tmp_path / staging_path(JOB), JOB, clock=FakeClock(), jail=Jail(tmp_path), syncer=syncer
    )
    # as the engine leaves them: fsynced, renamed into data/, data/ fsynced
    for name, durable in (("a.tif", True), ("b.tif", True), ("band/c.tif", False)):
        path = builder.data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        sha = hashlib.sha256(name.encode()).hexdigest()
        builder.add_payload(name, len(name), sha, durable=durable)

    final = await builder.finish(tmp_path / item_path(JOB), tag_files={"stac-item.json": b"{}"})

    bagit.Bag(str(final)).validate()
    synced = [who for kind, who in syncer.calls if kind == "file"]
    tags = [p for p in final.iterdir() if p.is_file()]
    assert sorted(synced) == sorted([*(_of(p) for p in tags), _of(final / "data/band/c.tif")])
    folders = [who for kind, who in syncer.calls if kind == "folder"]
    # data/ holds a folder that is new: synced; data/band holds a file not durable: synced
    assert folders == [_of(final / "data/band"), _of(final / "data"), _of(final), _of(final.parent)]


async def test_a_bag_of_only_durable_payload_syncs_its_tag_files_and_its_own_folders(
    tmp_path: Path,
) -> None:
    syncer = CountingSyncer()
    builder = BagBuilder(
        tmp_path / staging_path(JOB), JOB, clock=FakeClock(), jail=Jail(tmp_path), syncer=syncer
    )
    for name in ("a.tif", "b.tif"):
        (builder.data_dir / name).write_bytes(name.encode())
        sha = hashlib.sha256(name.encode()).hexdigest()
        builder.add_payload(name, len(name), sha, durable=True)

    final = await builder.finish(tmp_path / item_path(JOB), tag_files={"stac-item.json": b"{}"})

    tags = [p for p in final.iterdir() if p.is_file()]
    assert sorted(who for kind, who in syncer.calls if kind == "file") == sorted(map(_of, tags))
    folders = [who for kind, who in syncer.calls if kind == "folder"]
    assert folders == [_of(final), _of(final.parent)]
