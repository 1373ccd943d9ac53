"""The archive root is a jail: a link planted below it is never followed by any writer.

Each test plants a link at one place of the archive tree pointing to a folder or file
outside the root, runs the real writer (the engine against a loopback file host, the
bag builder, `verify`), and checks that nothing outside was written, read as the bag,
or filed there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from downloader.archive import BagBuilder, ProblemKind, item_path, staging_path, verify_bag
from downloader.archive._layout import REPLACED_DIR
from downloader.clock import FakeClock
from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from downloader.errors import ArchiveError, PlantedLink
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.store import ItemState, open_store
from downloader.transfer import AssetRequest
from downloader.transfer._checkpoint import Checkpoint, WorkFiles, current_boot_id, work_files_for
from downloader.transfer._plan import Segment
from tests.support.engine import make_engine
from tests.support.once import once_against
from tests.support.worker import http_harness, http_item

MiB = 1 << 20
PIXXEL = ItemRef("pixxel", "job", ("wf-1", "job-2"))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` with its bytes: what a test compares before and after."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the archive root, with one file of its own in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_bytes(b"not yours\n")
    return folder


def served(file_host: RunningHost, path: str, size: int, seed: int = 7) -> SeededContent:
    content = SeededContent(seed, size)
    file_host.host.add(FileSpec(path, content))
    return content


def put(builder: BagBuilder, name: str, data: bytes) -> None:
    (builder.data_dir / name).write_bytes(data)
    builder.add_payload(name, len(data), hashlib.sha256(data).hexdigest())


# --- the engine's work files ----------------------------------------------------------


async def test_a_part_link_with_a_checkpoint_is_refused_and_the_file_it_names_untouched(
    file_host: RunningHost, tmp_path: Path, outside: Path
) -> None:
    content = served(file_host, "/p/big.bin", 3 * MiB)
    root = tmp_path / "archive"
    files = work_files_for(root / ".partial", "the-asset")
    files.directory.mkdir(parents=True)
    etag = f'"s7-{3 * MiB}-v0"'
    half = 3 * MiB // 2
    segments = [Segment(0, 3 * MiB, half)]
    files.save(Checkpoint(etag, 3 * MiB, "big.bin", True, segments, [], [half], current_boot_id()))
    victim = outside / "precious.txt"
    os.symlink(victim, files.data)
    before = snapshot(outside)
    async with make_engine(root) as (engine, _):
        request = AssetRequest(key="the-asset", url=file_host.url("/p/big.bin"))
        with pytest.raises(PlantedLink):
            await engine.fetch(request, root / "dest")
    assert snapshot(outside) == before
    assert content.size  # the file was there to be fetched


async def test_a_checkpoint_written_through_a_planted_tmp_link_writes_nothing_outside(
    tmp_path: Path, outside: Path
) -> None:
    files = WorkFiles(tmp_path / "archive" / ".partial" / "transfers", "0123abcd")
    files.directory.mkdir(parents=True)
    os.symlink(outside / "precious.txt", files.directory / "0123abcd.tmp")
    before = snapshot(outside)
    files.write('{"format": 1}')
    assert snapshot(outside) == before
    assert files.checkpoint.read_text() == '{"format": 1}'
    assert not files.checkpoint.is_symlink()


async def test_a_checkpoint_that_is_a_link_is_refused_not_read(
    tmp_path: Path, outside: Path
) -> None:
    files = WorkFiles(tmp_path / "archive" / ".partial" / "transfers", "0123abcd")
    files.directory.mkdir(parents=True)
    (outside / "cp.json").write_text("{}")
    os.symlink(outside / "cp.json", files.checkpoint)
    files.data.write_bytes(b"")
    with pytest.raises(PlantedLink):
        files.load()


# --- whole items through the pipeline -------------------------------------------------


@pytest.mark.parametrize(
    "planted",
    [
        pytest.param("http", id="the-provider-folder"),
        pytest.param(".partial", id="the-partial-folder"),
        pytest.param(".partial/transfers", id="the-transfers-folder"),
    ],
)
async def test_an_item_under_a_planted_folder_link_fails_and_nothing_lands_outside(
    file_host: RunningHost, tmp_path: Path, outside: Path, planted: str
) -> None:
    served(file_host, "/i/a.bin", 200_000)
    root = tmp_path / "archive"
    (root / planted).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, root / planted)
    before = snapshot(outside)
    ref = http_item(file_host.url("/i/a.bin"), "item-1")
    async with http_harness(tmp_path, root) as harness:
        state = await harness.work(ref)
        record = await harness.store.get(ref.key)
    assert state is ItemState.FAILED
    assert record is not None
    assert "symbolic link" in (record.error or "")
    assert snapshot(outside) == before
    assert (root / planted).is_symlink()


async def test_a_link_at_the_bags_data_folder_is_refused_and_nothing_lands_outside(
    file_host: RunningHost, tmp_path: Path, outside: Path
) -> None:
    served(file_host, "/d/a.bin", 200_000)
    root = tmp_path / "archive"
    ref = http_item(file_host.url("/d/a.bin"), "item-d")
    staging = root / staging_path(ref)
    staging.mkdir(parents=True)
    os.symlink(outside, staging / "data")
    before = snapshot(outside)
    async with http_harness(tmp_path, root) as harness:
        state = await harness.work(ref)
    assert state is ItemState.FAILED
    assert snapshot(outside) == before


async def test_the_archive_root_itself_may_be_a_link(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = served(file_host, "/r/a.bin", 100_000)
    real = tmp_path / "real-archive"
    real.mkdir()
    root = tmp_path / "archive"
    os.symlink(real, root)
    ref = http_item(file_host.url("/r/a.bin"), "item-r")
    async with http_harness(tmp_path, root) as harness:
        assert await harness.work(ref) is ItemState.ARCHIVED
    assert (real / "http" / "item-r" / "data" / "a.bin").read_bytes() == content.read(0, 100_000)


# --- the bag builder ------------------------------------------------------------------


async def test_a_link_in_a_middle_folder_of_a_pixxel_job_path_files_no_bag_outside(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "archive"
    (root / "pixxel" / "jobs").mkdir(parents=True)
    os.symlink(outside, root / "pixxel" / "jobs" / "wf-1")
    builder = BagBuilder.in_archive(root, PIXXEL, clock=FakeClock())
    put(builder, "a.bin", b"payload")
    before = snapshot(outside)
    with pytest.raises(PlantedLink):
        await builder.finish(root / item_path(PIXXEL))
    assert snapshot(outside) == before
    assert (root / staging_path(PIXXEL) / "data" / "a.bin").read_bytes() == b"payload"


async def test_a_link_at_the_replaced_folder_keeps_the_old_bag_where_it_is(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "archive"
    first = BagBuilder.in_archive(root, PIXXEL, clock=FakeClock())
    put(first, "a.bin", b"first")
    final = await first.finish(root / item_path(PIXXEL))
    os.symlink(outside, root / REPLACED_DIR)
    second = BagBuilder.in_archive(root, PIXXEL, clock=FakeClock())
    put(second, "a.bin", b"second")
    before = snapshot(outside)
    with pytest.raises(ArchiveError):
        await second.finish(root / item_path(PIXXEL))
    assert snapshot(outside) == before
    assert (final / "data" / "a.bin").read_bytes() == b"first"


async def test_a_staging_folder_that_is_a_link_is_not_moved_into_the_archive(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "archive"
    (root / staging_path(PIXXEL)).parent.mkdir(parents=True)
    (outside / "data").mkdir()
    os.symlink(outside, root / staging_path(PIXXEL))
    builder = BagBuilder.in_archive(root, PIXXEL, clock=FakeClock(), create=False)
    with pytest.raises(PlantedLink):
        await builder.finish(root / item_path(PIXXEL))
    assert not os.path.lexists(root / item_path(PIXXEL))
    assert not (outside / "bagit.txt").exists()


async def test_discarding_a_staging_folder_that_is_a_link_leaves_what_it_names(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "archive"
    (root / staging_path(PIXXEL)).parent.mkdir(parents=True)
    os.symlink(outside, root / staging_path(PIXXEL))
    builder = BagBuilder.in_archive(root, PIXXEL, clock=FakeClock(), create=False)
    before = snapshot(outside)
    await builder.discard()
    assert snapshot(outside) == before


# --- verify ---------------------------------------------------------------------------


async def test_verify_reports_a_planted_provider_link_and_does_not_walk_into_it(
    file_host: RunningHost, tmp_path: Path, outside: Path
) -> None:
    served(file_host, "/v/a.bin", 50_000)
    root = tmp_path / "archive"
    ref = http_item(file_host.url("/v/a.bin"), "item-v")
    async with http_harness(tmp_path, root) as harness:
        assert await harness.work(ref) is ItemState.ARCHIVED
    # the whole provider folder swapped for a link to a copy elsewhere: it looks
    # intact, but it is no longer the archive's
    os.rename(root / "http", outside / "http")
    os.symlink(outside / "http", root / "http")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{root}"\n[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n'
    )
    (tmp_path / "watchlist.toml").write_text("")
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "downloader", "verify", "-c", str(config), ref.key],
            capture_output=True,
            text=True,
            check=False,
        )
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unsafe" in done.stdout
    assert "link" in done.stdout


@pytest.mark.parametrize("planted", ["bag", "data"])
async def test_verify_reports_a_bag_or_its_data_folder_swapped_for_a_link(
    tmp_path: Path, outside: Path, planted: str
) -> None:
    root = tmp_path / "archive"
    builder = BagBuilder.in_archive(root, PIXXEL, clock=FakeClock())
    put(builder, "a.bin", b"payload")
    final = await builder.finish(root / item_path(PIXXEL))
    swapped = final if planted == "bag" else final / "data"
    os.rename(swapped, outside / "copy")
    os.symlink(outside / "copy", swapped)

    audit = verify_bag(final, jail=Jail(root))

    assert not audit.ok
    assert not audit.bag_missing
    assert {p.kind for p in audit.problems} >= {ProblemKind.UNSAFE}
    assert audit.files_checked == 0  # nothing behind the link was read as the bag's


PIXXEL_SCENARIO = """
[emulator]
seed = 12
pixxel_api_key = "px-links-key-123"

[[pixxel.job]]
workflow_id = "wf-l"
job_id = "job-l"
polls_until_done = 1
polls_until_ready = 1
files = [{ name = "scene.tif", size = 300000 }]
"""


async def test_a_pixxel_job_under_a_link_at_its_workflow_folder_is_not_filed_outside(
    tmp_path: Path, outside: Path
) -> None:
    jobs = tmp_path / "archive" / "pixxel" / "jobs"
    jobs.mkdir(parents=True)
    os.symlink(outside, jobs / "wf-l")
    before = snapshot(outside)
    async with (
        once_against(tmp_path, PIXXEL_SCENARIO) as (_, settings),
        open_store(settings.state.url) as store,
    ):
        (record,) = await store.list_items()
    assert record.state is ItemState.FAILED
    assert "symbolic link" in (record.error or "")
    assert snapshot(outside) == before
