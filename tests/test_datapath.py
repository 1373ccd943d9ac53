"""The one-copy data path: ring buffers written by one thread and hashed by another, and
what a crash between an O_DIRECT write and its checkpoint leaves behind."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from downloader.transfer._checkpoint import Checkpoint
from downloader.transfer._datapath import DataPath
from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._plan import Segment
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink, direct_io_works
from downloader.transfer._writer import DataFile, PrefixHash
from tests.support.datapath import MiB, Written, fill, source, writing
from tests.support.mounts import ROOT, run_on_own_mount


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


def test_buffers_are_written_in_place_and_the_prefix_hashed_as_they_pass(folder: Path) -> None:
    data = source(5 * MiB + 321)
    ring, told, prefix = Ring(3, MiB), Written(), PrefixHash(MultiHasher(["md5"]))
    direct = direct_io_works(folder)
    with writing(folder / "f", ring, prefix, told, direct=direct) as (path, _):
        fill(path, ring, data, 0)
        assert path.wait_idle(30)
    assert (folder / "f").read_bytes() == data
    assert prefix.done == len(data)
    assert to_hex(prefix.hasher.digests()["sha256"]) == hashlib.sha256(data).hexdigest()
    assert sum(n for _, n in told.told) == len(data)
    assert [o for o, _ in told.told] == sorted(o for o, _ in told.told)
    assert ring.free == 3


def test_a_buffer_in_prefix_order_is_hashed_before_its_write_is_told(folder: Path) -> None:
    # a cursor told past the hashed prefix sends the follower to read the file back
    # (from the device itself, with O_DIRECT): a buffer that continues the prefix must
    # be hashed from where it is before the loop hears of it
    data = source(6 * MiB + 99)
    ring, prefix = Ring(4, MiB), PrefixHash(MultiHasher())
    hashed_when_told: list[bool] = []

    def told(offset: int, length: int, owner: object = None) -> None:
        hashed_when_told.append(prefix.done >= offset + length)

    direct = direct_io_works(folder)
    with writing(folder / "f", ring, prefix, told, direct=direct) as (path, _):
        fill(path, ring, data, 0)
        assert path.wait_idle(30)
    assert len(hashed_when_told) == 7
    assert all(hashed_when_told)


def test_a_later_segments_buffers_are_read_back_once_the_prefix_reaches_them(
    folder: Path,
) -> None:
    data = source(3 * MiB)
    cut = 2 * MiB + 17
    ring, prefix = Ring(2, MiB), PrefixHash(MultiHasher())
    with writing(folder / "f", ring, prefix, Written(), direct=False) as (path, fd):
        fill(path, ring, data[cut:], cut)  # the second segment lands first
        assert path.wait_idle(30)
        assert prefix.done == 0
        fill(path, ring, data[:cut], 0)
        assert path.wait_idle(30)
        assert prefix.done == cut
        prefix.catch_up(DataFile(fd), len(data))
    assert to_hex(prefix.hasher.digests()["sha256"]) == hashlib.sha256(data).hexdigest()


def test_a_failed_write_stops_the_path_and_every_buffer_comes_back(folder: Path) -> None:
    (folder / "f").write_bytes(b"")
    fd = os.open(folder / "f", os.O_RDONLY)  # every write fails: EBADF
    ring, told, prefix = Ring(2, 64 * 1024), Written(), PrefixHash(MultiHasher())
    path = DataPath(Sink(fd, direct=False), prefix, ring, on_written=told)
    try:
        fill(path, ring, source(300_000), 0)
        assert path.wait_idle(30)
    finally:
        path.close()
        os.close(fd)
    assert isinstance(path.error, OSError)
    assert told.told == [(0, -1)]
    assert prefix.done == 0
    assert ring.free == 2
    ring.close()


CRASHING = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.support.datapath import Written, fill, source
from downloader.transfer._checkpoint import Checkpoint
from downloader.transfer._datapath import DataPath
from downloader.transfer._hashers import MultiHasher
from downloader.transfer._plan import Segment
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink
from downloader.transfer._writer import PrefixHash
folder, MiB = Path(sys.argv[1]), 1024 * 1024
data = source(24 * MiB)
fd = os.open(folder / "f.part", os.O_RDWR | os.O_CREAT, 0o600)
ring, told = Ring(4, MiB), Written()
sink = Sink(fd, direct=True)
path = DataPath(sink, PrefixHash(MultiHasher()), ring, on_written=told)
for start in range(0, 12 * MiB, 4 * MiB):
    fill(path, ring, data[start : start + 4 * MiB], start)
    path.wait_idle()
    written = sum(n for _, n in told.told)  # the cursor counts what the writer told
    sink.sync()
    checkpoint = Checkpoint("\\"v\\"", len(data), "f", True, [Segment(0, len(data), written)],
                            durable=[written])
    (folder / "f.json.tmp").write_text(checkpoint.to_json())
    os.replace(folder / "f.json.tmp", folder / "f.json")
# written direct, never checkpointed: then the process dies
fill(path, ring, data[12 * MiB : 20 * MiB], 12 * MiB)
path.wait_idle()
print("direct", sink.direct_bytes, "written", sum(n for _, n in told.told), flush=True)
time.sleep(600)
"""


def test_a_crash_between_an_o_direct_write_and_its_checkpoint_resumes_at_the_checkpoint(
    folder: Path,
) -> None:
    if not direct_io_works(folder):
        pytest.skip("this file system refuses O_DIRECT")
    with subprocess.Popen(
        [sys.executable, "-c", CRASHING, str(folder), str(ROOT)],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline().split()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)
    assert line == ["direct", str(20 * MiB), "written", str(20 * MiB)]

    data = source(24 * MiB)
    assert os.path.getsize(folder / "f.part") == 20 * MiB  # more on disk than checkpointed
    checkpoint = Checkpoint.from_json((folder / "f.json").read_text())
    assert checkpoint is not None
    cursor = checkpoint.trusted_after_restart(boot_id=None).segments[0].pos  # as after a reboot
    assert cursor == 12 * MiB
    fd = os.open(folder / "f.part", os.O_RDWR)
    ring, prefix = Ring(4, MiB), PrefixHash(MultiHasher())
    path = DataPath(Sink(fd, direct=True), prefix, ring, on_written=Written())
    try:
        assert os.pread(fd, cursor, 0) == data[:cursor]
        prefix.catch_up(DataFile(fd), cursor)  # a resumed file is hashed from disk
        fill(path, ring, data[cursor:], cursor)
        assert path.wait_idle(30)
        os.fsync(fd)
    finally:
        path.close()
        os.close(fd)
        ring.close()
    assert (folder / "f.part").read_bytes() == data
    assert to_hex(prefix.hasher.digests()["sha256"]) == hashlib.sha256(data).hexdigest()


def test_a_checkpoint_segment_is_what_resume_reads() -> None:
    # the checkpoint the crashing writer saves is read back by the engine's own parser
    text = Checkpoint('"v"', 10, "f", True, [Segment(0, 10, 4)], durable=[4]).to_json()
    loaded = Checkpoint.from_json(text)
    assert loaded is not None
    assert loaded.segments[0].pos == 4


FULL_DISK = """
import errno, json, os, sys, threading
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.support.datapath import Written, fill, source
from downloader.transfer._datapath import DataPath
from downloader.transfer._hashers import MultiHasher
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink
from downloader.transfer._writer import PrefixHash
folder = Path(sys.argv[1])
ballast = folder / "ballast"
with ballast.open("wb") as f:
    try:
        while True:
            f.write(b"x" * 65536)
            f.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
data = source(3 * 1024 * 1024)
fulls = []
def on_full(offset, error):  # as the loop would: free room, then resume
    fulls.append([offset, error.errno])
    threading.Timer(0.05, lambda: (ballast.unlink(missing_ok=True), path.resume())).start()
fd = os.open(folder / "f", os.O_RDWR | os.O_CREAT, 0o600)
ring, told, prefix = Ring(2, 1024 * 1024), Written(), PrefixHash(MultiHasher())
path = DataPath(Sink(fd, direct=False), prefix, ring, on_written=told, on_full=on_full)
fill(path, ring, data, 0)
assert path.wait_idle(30)
path.close()
print(json.dumps({"fulls": fulls, "error": repr(path.error), "told": sum(n for _, n in told.told),
                  "same": (folder / "f").read_bytes() == data, "hashed": prefix.done}))
"""


def test_a_full_disk_holds_the_writer_until_there_is_room_then_writes_the_same_buffer(
    tmp_path: Path,
) -> None:
    done = run_on_own_mount(tmp_path / "small", FULL_DISK, "tmpfs", "size=4m")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["fulls"] == [[0, errno.ENOSPC]]
    assert result["error"] == "None"
    assert result["same"] is True
    assert result["told"] == result["hashed"] == 3 * 1024 * 1024
