"""The data path of a small file: buffers written and hashed as they are handed over."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._inline import InlinePath
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink
from downloader.transfer._writer import PrefixHash
from tests.support.datapath import Written, source
from tests.support.mounts import run_on_own_mount


def hand(path: InlinePath, ring: Ring, data: bytes, offset: int) -> None:
    while data:
        buffer = ring.take()
        assert buffer is not None, "a buffer is back in the ring as soon as it is written"
        buffer.begin(offset, owner="me")
        piece = min(len(buffer.room), len(data))
        buffer.room[:piece] = data[:piece]
        buffer.end += piece
        path.submit(buffer)
        data, offset = data[piece:], offset + piece


def test_each_buffer_is_written_hashed_and_back_before_submit_returns(tmp_path: Path) -> None:
    data = source(200_000)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    ring, told, prefix = Ring(1, 64 * 1024, aligned=False), Written(), PrefixHash(MultiHasher())
    path = InlinePath(Sink(fd, direct=False), prefix, ring, on_written=told)
    try:
        hand(path, ring, data, 0)  # one buffer in the ring: each must come back at once
        assert path.wait_idle()
        path.close()
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data
    assert to_hex(prefix.hasher.digests()["sha256"]) == hashlib.sha256(data).hexdigest()
    assert [n for _, n in told.told] == [65536, 65536, 65536, 200_000 - 3 * 65536]


def test_a_failed_write_is_kept_and_told_once(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    ring, told = Ring(2, 64 * 1024, aligned=False), Written()
    path = InlinePath(Sink(fd, direct=False), PrefixHash(MultiHasher()), ring, on_written=told)
    try:
        hand(path, ring, source(100_000), 0)
    finally:
        path.close()
        os.close(fd)
    assert isinstance(path.error, OSError)
    assert told.told == [(0, -1)]
    assert ring.free == 2


FULL = """
import errno, json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.test_inline import hand
from tests.support.datapath import Written, source
from downloader.transfer._hashers import MultiHasher
from downloader.transfer._inline import InlinePath
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink
from downloader.transfer._writer import PrefixHash
folder = Path(sys.argv[1])
ballast = folder / "ballast"
out = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
try:
    while True:
        os.write(out, b"x" * 4096)
except OSError:
    os.close(out)
fulls = []
fd = os.open(folder / "f", os.O_RDWR | os.O_CREAT, 0o600)
ring, told = Ring(4, 64 * 1024, aligned=False), Written()
path = InlinePath(Sink(fd, direct=False), PrefixHash(MultiHasher()), ring, on_written=told,
                  on_full=lambda offset, error: fulls.append([offset, error.errno]))
data = source(150_000)
hand(path, ring, data, 0)
held = not path.wait_idle()
ballast.unlink()
path.resume()
print(json.dumps({"fulls": fulls, "held": held, "idle": path.wait_idle(),
                  "same": (folder / "f").read_bytes() == data, "error": repr(path.error)}))
"""


def test_a_full_disk_holds_the_buffers_until_resumed(tmp_path: Path) -> None:
    done = run_on_own_mount(tmp_path / "small", FULL, "tmpfs", "size=1m")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["fulls"][0][1] == errno.ENOSPC
    assert result == {**result, "held": True, "idle": True, "same": True, "error": "None"}
