"""The descriptors a jail holds: the root and the service's folders opened once, what
moving or removing them while running means, and none left open after a run."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import bagit

from downloader.archive import BagBuilder, item_path, staging_path
from downloader.clock import FakeClock
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.runners._compose import run_once
from tests.support.once import emulated

JOB = ItemRef("pixxel", "job", ("wf-1", "job-2"))
_WRITE = os.O_WRONLY | os.O_CREAT


def _open_below(root: Path) -> list[str]:
    """The descriptors of this process naming something at or below `root`."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target == str(root) or target.startswith(f"{root}/"):
            found.append(target)
    return found


def test_a_folder_held_and_then_swapped_for_a_link_is_still_the_one_written(
    tmp_path: Path,
) -> None:
    root, away = tmp_path / "root", tmp_path / "away"
    away.mkdir()
    jail = Jail(root)
    os.close(jail.open(".partial/transfers/a.part", _WRITE, create_parents=True))
    os.rename(root / ".partial", tmp_path / "moved")
    os.symlink(away, root / ".partial")

    os.close(jail.open(".partial/transfers/b.part", _WRITE, create_parents=True))
    # the folder opened first, wherever it went; never where the link points
    assert sorted(os.listdir(tmp_path / "moved" / "transfers")) == ["a.part", "b.part"]
    assert os.listdir(away) == []
    jail.close()


def test_a_held_folder_removed_while_running_is_made_again_at_its_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    jail = Jail(root)
    jail.write_atomically(".partial/transfers/a.json", b"1")
    for name in ("a.json",):
        os.unlink(root / ".partial" / "transfers" / name)
    os.rmdir(root / ".partial" / "transfers")
    os.rmdir(root / ".partial")

    jail.write_atomically(".partial/transfers/b.json", b"2")
    assert (root / ".partial" / "transfers" / "b.json").read_bytes() == b"2"
    jail.close()


def test_the_root_removed_while_running_is_made_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    jail = Jail(root)
    os.close(jail.open(".partial/bags/x/data/a", _WRITE, create_parents=True))
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    root.rmdir()

    os.close(jail.open(".partial/bags/y/data/b", _WRITE, create_parents=True))
    assert (root / ".partial" / "bags" / "y" / "data" / "b").is_file()
    jail.close()


async def test_a_root_moved_away_while_a_bag_is_made_gets_the_whole_bag(tmp_path: Path) -> None:
    root, moved = tmp_path / "archive", tmp_path / "archive-moved"
    jail = Jail(root)
    builder = BagBuilder(root / staging_path(JOB), JOB, clock=FakeClock(), jail=jail)
    data = b"scene" * 100
    (builder.data_dir / "scene.tif").write_bytes(data)
    builder.add_payload("scene.tif", len(data), hashlib.sha256(data).hexdigest())
    os.rename(root, moved)

    await builder.finish(root / item_path(JOB))
    # the archive of the run is the folder opened at its start: the bag is whole there,
    # and nothing half-filed appears at the configured path
    bagit.Bag(str(moved / item_path(JOB))).validate()
    assert not root.exists()
    jail.close()
    assert _open_below(moved) == []


def test_closing_a_jail_closes_what_it_held_and_the_next_use_opens_again(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    jail, other = Jail(root), Jail(root)
    os.close(jail.open(".partial/bags/x/f", _WRITE, create_parents=True))
    os.close(other.open(".partial/transfers/g", _WRITE, create_parents=True))
    # one root, one set of descriptors: the root, .partial, bags and transfers
    assert len(_open_below(root)) == 4
    other.close()
    assert _open_below(root) == []
    assert jail.lstat(".partial/bags/x/f") is not None
    del jail, other
    assert _open_below(root) == []  # the last jail of the root gone: closed as well


SCENARIO = """
[emulator]
seed = 5

[[pixxel.job]]
workflow_id = "wf-1"
job_id = "job-1"
polls_until_done = 1

[[pixxel.job]]
workflow_id = "wf-1"
job_id = "job-2"
polls_until_done = 1
"""


async def test_a_run_leaves_no_descriptor_of_the_archive_open(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    async with emulated(tmp_path, SCENARIO) as (_, settings, refs):
        result = await run_once(settings, refs)
        assert result.archived == 2, result
        assert _open_below(root) == []


def test_one_run_ending_keeps_what_another_run_of_the_root_still_uses(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first, second = Jail(root), Jail(root)
    first.retain()
    second.retain()
    os.close(first.open(".partial/bags/x/f", _WRITE, create_parents=True))
    held = _open_below(root)

    first.release()
    assert _open_below(root) == held  # the second run may be between two operations
    second.release()
    assert _open_below(root) == []
