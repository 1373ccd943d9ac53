"""A broken environment: read-only or vanished archive, locked or damaged state,
unreachable hosts, names that do not resolve, a wall clock that jumps.

Each fault ends in a clear message and a defined state; none ends the run with a
traceback, and none starts the state over from nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import bagit
import pytest

from downloader.clock import SystemClock
from downloader.config import PollSettings
from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.errors import PollTimeout, StoreError
from downloader.providers._poll import NotYet, Poller
from downloader.store import ItemState, open_store
from tests.support import plain
from tests.support.cli import downloader
from tests.support.worker import http_harness, http_item

MiB = 1 << 20


def add(host: RunningHost, path: str, size: int, **faults: object) -> SeededContent:
    content = SeededContent(31, size)
    host.host.add(FileSpec(path, content), Faults(**faults))  # type: ignore[arg-type]
    return content


def mount_tmpfs(where: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root, and this test runs as an ordinary user")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")


@pytest.fixture
def read_only_root(tmp_path: Path) -> Iterator[Path]:
    """An empty read-only filesystem (root ignores file modes, so a mount it must be)."""
    root = tmp_path / "ro"
    root.mkdir()
    mount_tmpfs(root, "size=4m,ro")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


# --- the archive's disk ---------------------------------------------------------------------


async def test_a_read_only_archive_fails_the_item_with_a_clear_message(
    read_only_root: Path, file_host: RunningHost, tmp_path: Path
) -> None:
    add(file_host, "/r.bin", 300_000)
    async with http_harness(tmp_path, read_only_root) as h:
        state = await h.work(http_item(file_host.url("/r.bin"), "r"))
        record = await h.store.get("http:file:r")
    assert state is ItemState.FAILED
    assert record is not None
    assert record.error is not None
    assert "FilesystemError: archive filesystem: Read-only file system" in record.error
    assert str(read_only_root) in record.error
    assert not file_host.host.log, "nothing is fetched that could not be kept"


async def test_an_archive_deleted_while_running_is_made_again_and_the_item_archived(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/d.bin", 4 * MiB, rate_bytes_per_s=2 * MiB)
    root = tmp_path / "archive"
    ref = http_item(file_host.url("/d.bin"), "d")
    async with http_harness(tmp_path, root) as h, anyio.create_task_group() as tg:
        first = h.work_soon(tg, ref)
        with anyio.fail_after(20):
            while not list(root.rglob("*.part")):
                await anyio.sleep(0.02)
        await anyio.sleep(0.3)
        shutil.rmtree(root)
        with anyio.fail_after(20):
            while not first:
                await anyio.sleep(0.02)
        record = await h.store.get(ref.key)
        assert first[0] is not ItemState.FAILED
        assert record is not None
        assert record.error is not None
        assert "No such file or directory" in record.error
        file_host.host.faults("/d.bin").rate_bytes_per_s = None
        second = await h.work(ref)
        record = await h.store.get(ref.key)
    assert second is ItemState.ARCHIVED
    assert record is not None
    assert record.archive_path is not None
    bag = bagit.Bag(record.archive_path)
    bag.validate()
    assert {d["sha256"] for d in bag.payload_entries().values()} == {content.hexdigest()}


# --- the state database ---------------------------------------------------------------------


def hold_exclusively(db: Path) -> subprocess.Popen[str]:
    """Another process that keeps the database to itself until killed."""
    code = (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('PRAGMA locking_mode = EXCLUSIVE')\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('holding', flush=True)\n"
        "time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    return holder


def stop(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait()
    if holder.stdout is not None:
        holder.stdout.close()


async def make_state(db: Path, url: str) -> None:
    async with open_store(f"sqlite:///{db}") as store:
        await store.sync_watchlist([http_item(url, "kept")], now=datetime(2026, 1, 1, tzinfo=UTC))


def write_config(tmp_path: Path, url: str) -> Path:
    return plain.write_config(tmp_path, [(url, None)], ids=["kept"], tail="")


def once(config: Path) -> subprocess.CompletedProcess[str]:
    return downloader("once", "-c", str(config), timeout=90)


async def test_a_database_another_process_holds_is_refused_as_locked_not_as_damaged(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    await make_state(db, "http://127.0.0.1:9/x")
    holder = hold_exclusively(db)
    try:
        with pytest.raises(StoreError) as caught:
            async with open_store(f"sqlite:///{db}", busy_timeout=0.2):
                pass
    finally:
        stop(holder)
    assert "is locked by another process (waited 0.2s)" in str(caught.value)
    assert "damaged" not in str(caught.value)
    async with open_store(f"sqlite:///{db}") as store:  # and nothing was lost
        assert [r.key for r in await store.list_items()] == ["http:file:kept"]


@pytest.mark.slow
async def test_once_on_a_locked_database_exits_2_naming_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    await make_state(db, "http://127.0.0.1:9/x")
    config = write_config(tmp_path, "http://127.0.0.1:9/x")
    holder = hold_exclusively(db)
    try:
        result = await anyio.to_thread.run_sync(once, config)
    finally:
        stop(holder)
    assert result.returncode == 2, result.stderr
    assert "state store: state database" in result.stderr
    assert "is locked by another process" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
async def test_once_exits_2_when_the_database_stays_locked_while_it_runs(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    await make_state(db, "http://127.0.0.1:9/x")
    config = write_config(tmp_path, "http://127.0.0.1:9/x")
    code = (  # a writer that never commits: reading works, writing waits and gives up
        "import sqlite3, time\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('holding', flush=True)\n"
        "time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    try:
        result = await anyio.to_thread.run_sync(once, config)
    finally:
        stop(holder)
    assert result.returncode == 2, result.stderr
    assert "stayed locked by another process for 10s" in result.stderr
    assert "Traceback" not in result.stderr


async def test_once_on_a_damaged_database_exits_2_and_leaves_the_file_alone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    await make_state(db, "http://127.0.0.1:9/x")
    raw = bytearray(db.read_bytes())
    raw[4096:8192] = b"\x00garbage" * 512  # the page after the header: the schema's tables
    db.write_bytes(bytes(raw))
    before = db.read_bytes()
    result = await anyio.to_thread.run_sync(once, write_config(tmp_path, "http://127.0.0.1:9/x"))
    assert result.returncode == 2, result.stderr
    assert "state store: state database" in result.stderr
    assert "damaged" in result.stderr or "not an SQLite database" in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before
    assert not (tmp_path / "archive" / "http").exists()


# --- the network ----------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


async def test_a_refused_connection_is_retried_then_left_for_later_with_the_reason(
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/nothing.bin"
    async with http_harness(tmp_path, tmp_path / "archive") as h:
        with anyio.fail_after(20):
            state = await h.work(http_item(url, "refused"))
        record = await h.store.get("http:file:refused")
    assert state is not ItemState.FAILED  # the host may come back: tried again later
    assert record is not None
    assert record.error is not None
    assert "NetworkError" in record.error
    assert "Cannot connect to host 127.0.0.1" in record.error


class NoNames(aiohttp.abc.AbstractResolver):
    """A resolver that knows no name, as one whose DNS server answers NXDOMAIN.

    Stands in for the system resolver so that no query leaves the machine.
    """

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
        raise OSError(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        return None


async def test_a_name_that_does_not_resolve_is_reported_as_such(tmp_path: Path) -> None:
    url = "https://files.example.invalid/scene.tif?X-Amz-Signature=s3cr3tsig"
    async with http_harness(tmp_path, tmp_path / "archive", resolver=NoNames()) as h:
        with anyio.fail_after(20):
            state = await h.work(http_item(url, "unresolved"))
        record = await h.store.get("http:file:unresolved")
    assert state is not ItemState.FAILED
    assert record is not None
    assert record.error is not None
    assert "files.example.invalid" in record.error
    assert "Name or service not known" in record.error
    assert "s3cr3tsig" not in record.error


# --- the wall clock -------------------------------------------------------------------------


class JumpingClock(SystemClock):
    """The real clock, except that its wall time can be moved by `jump`."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def jump(self, delta: timedelta) -> None:
        self.offset += delta

    def utcnow(self) -> datetime:
        return super().utcnow() + self.offset


class _Scripted:
    """A poll that jumps the wall clock on some answers and is ready after `ready` asks."""

    def __init__(self, clock: JumpingClock, ready: int, jumps: dict[int, timedelta]) -> None:
        self.clock, self.ready, self.jumps, self.asked = clock, ready, jumps, 0

    async def __call__(self) -> str | NotYet:
        self.asked += 1
        if self.asked in self.jumps:
            self.clock.jump(self.jumps[self.asked])
        return "done" if self.asked >= self.ready else NotYet("pending")


async def test_polling_deadlines_ignore_wall_clock_jumps_either_way() -> None:
    clock = JumpingClock()
    settings = PollSettings(initial_interval=0.01, max_interval=0.02, give_up_after=5.0)
    ask = _Scripted(clock, 6, {2: timedelta(days=3), 4: timedelta(days=-7)})
    assert await Poller(clock, settings, rand=lambda: 0.5).until(ask, what="package") == "done"
    # and a wall clock sent back a week does not make it wait forever
    settings = PollSettings(initial_interval=0.01, max_interval=0.02, give_up_after=0.3)
    ask = _Scripted(clock, 10**9, {2: timedelta(days=-7)})
    with anyio.fail_after(10), pytest.raises(PollTimeout):
        await Poller(clock, settings, rand=lambda: 0.5).until(ask, what="package")


async def test_a_download_survives_the_wall_clock_jumping_forwards_and_back(
    file_host: RunningHost, tmp_path: Path
) -> None:
    content = add(file_host, "/j.bin", 3 * MiB, rate_bytes_per_s=3 * MiB)
    clock = JumpingClock()
    ref = http_item(file_host.url("/j.bin"), "j")
    async with http_harness(tmp_path, tmp_path / "archive", clock=clock) as h:
        async with anyio.create_task_group() as tg:
            result = h.work_soon(tg, ref)
            await anyio.sleep(0.3)
            clock.jump(timedelta(days=2))  # past every lease and every signed URL's expiry
            await anyio.sleep(0.3)
            clock.jump(timedelta(days=-4))  # and back before the lease was taken
        record = await h.store.get(ref.key)
    assert result == [ItemState.ARCHIVED]
    assert record is not None
    assert record.archive_path is not None
    bagit.Bag(record.archive_path).validate()
    # one request per planned segment: no retry, no restart, no timer fired early
    requests = [(r.range, r.status) for r in file_host.host.log]
    assert requests == [("bytes=0-", 206), (f"bytes={content.size // 2}-{content.size - 1}", 206)]
