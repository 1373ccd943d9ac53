"""Positional writes from ring buffers: O_DIRECT where the file system takes it, the page
cache where it does not (tmpfs), and the unaligned head and tail of a write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downloader.transfer._ring import ALIGN, Ring
from downloader.transfer._sink import Sink, direct_io_works, split_for_direct
from tests.support.mounts import run_on_own_mount


def _pattern(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(size))


def _write(sink: Sink, ring: Ring, data: bytes, offset: int) -> None:
    """`data` at `offset`, through ring buffers placed as the receiver places them."""
    while data:
        buffer = ring.take()
        assert buffer is not None
        buffer.begin(offset)
        piece = min(len(buffer.room), len(data))
        buffer.room[:piece] = data[:piece]
        buffer.end += piece
        sink.write(buffer.filled, offset)
        ring.give_back(buffer)
        offset += piece
        data = data[piece:]


@pytest.fixture
def direct_dir(tmp_path: Path) -> Path:
    if not direct_io_works(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    return tmp_path


@given(st.integers(0, 3 * ALIGN), st.integers(0, 5 * ALIGN))
def test_a_write_splits_into_a_head_whole_blocks_and_a_tail(offset: int, length: int) -> None:
    head, middle, tail = split_for_direct(offset, length)
    assert head + middle + tail == length
    assert middle % ALIGN == 0
    assert 0 <= head < ALIGN
    assert tail >= 0
    if middle:
        assert (offset + head) % ALIGN == 0
        assert tail < ALIGN


REFUSING_FS = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from downloader.transfer._ring import Ring
from downloader.transfer._sink import PIECE, Sink, direct_io_works
folder = Path(sys.argv[1])
probed = direct_io_works(folder)
fd = os.open(folder / "f", os.O_RDWR | os.O_CREAT, 0o600)
sink = Sink(fd, direct=True, writeback_every=PIECE)  # told direct: the reopen is refused
ring = Ring(2, 64 * 1024)
data = bytes((i * 7) % 251 for i in range(200_000))
offset = 0
while offset < len(data):
    buffer = ring.take()
    buffer.begin(offset)
    piece = min(len(buffer.room), len(data) - offset)
    buffer.room[:piece] = data[offset : offset + piece]
    buffer.end += piece
    sink.write(buffer.filled, offset)
    ring.give_back(buffer)
    offset += piece
sink.sync()
print(json.dumps({"probed": probed, "direct": sink.is_direct, "cached": sink.cached_bytes,
                  "same": (folder / "f").read_bytes() == data, "left": sorted(os.listdir(folder))}))
"""


def test_a_file_system_that_refuses_o_direct_gets_the_page_cache(tmp_path: Path) -> None:
    # tmpfs refused O_DIRECT before Linux 6.6 and takes it since; ramfs still refuses it.
    # It is mounted in a mount namespace of its own, so nothing outside the test sees it.
    done = run_on_own_mount(tmp_path / "ramfs", REFUSING_FS, "ramfs")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "probed": False,
        "direct": False,
        "cached": 200_000,
        "same": True,
        "left": ["f"],
    }


def test_a_direct_write_the_kernel_refuses_falls_back_to_the_page_cache_for_good(
    direct_dir: Path,
) -> None:
    # memory that is not aligned is refused by O_DIRECT (EINVAL), like a file system
    # that takes the open and refuses the writes
    target = direct_dir / "f"
    data = _pattern(10 * ALIGN)
    unaligned = memoryview(bytearray(b"x" + data))[1:]
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        sink = Sink(fd, direct=True)
        was_direct = sink.is_direct
        sink.write(unaligned, 0)
        sink.sync()
    finally:
        os.close(fd)
    assert target.read_bytes() == data
    assert (was_direct, sink.is_direct) == (True, False)
    assert (sink.direct_bytes, sink.cached_bytes) == (0, len(data))


def test_the_probe_leaves_nothing_behind_and_is_asked_once(direct_dir: Path) -> None:
    assert direct_io_works(direct_dir) is True
    assert list(direct_dir.iterdir()) == []


def test_an_unaligned_tail_goes_through_the_page_cache_and_the_rest_direct(
    direct_dir: Path,
) -> None:
    target = direct_dir / "f"
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    ring = Ring(2, 8 * ALIGN)
    data = _pattern(3 * 8 * ALIGN + 1234)  # three full buffers and a tail of 1234 bytes
    try:
        sink = Sink(fd, direct=True)
        assert sink.is_direct
        _write(sink, ring, data, 0)
        sink.sync()
        sink.close()
    finally:
        os.close(fd)
        ring.close()
    assert target.read_bytes() == data
    assert sink.direct_bytes == len(data) - 1234
    assert sink.cached_bytes == 1234


def test_a_resume_at_an_unaligned_offset_writes_its_head_cached_and_blocks_direct(
    direct_dir: Path,
) -> None:
    target = direct_dir / "f"
    first, rest = _pattern(5000), _pattern(70_000, seed=3)
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    ring = Ring(2, 16 * ALIGN)
    try:
        os.pwrite(fd, first, 0)
        sink = Sink(fd, direct=True)
        _write(sink, ring, rest, len(first))
        sink.sync()
        sink.close()
    finally:
        os.close(fd)
        ring.close()
    assert target.read_bytes() == first + rest
    head = ALIGN * 2 - 5000  # up to the next block boundary
    assert sink.cached_bytes == head + (70_000 - head) % ALIGN
    assert sink.direct_bytes == 70_000 - sink.cached_bytes


def test_a_failed_direct_write_that_is_no_refusal_is_raised_not_hidden(direct_dir: Path) -> None:
    target = direct_dir / "f"
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    ring = Ring(2, 4 * ALIGN)
    data = _pattern(10 * ALIGN)
    try:
        sink = Sink(fd, direct=True)
        assert sink.direct_fd is not None
        # a read-only descriptor fails every write with EBADF: a broken file, not a file
        # system that refuses O_DIRECT, so nothing falls back to the page cache
        os.close(sink.direct_fd)
        sink.direct_fd = os.open(target, os.O_RDONLY)
        with pytest.raises(OSError, match="Bad file descriptor"):
            _write(sink, ring, data, 0)
        assert sink.is_direct
        assert sink.cached_bytes == 0
        sink.close()
    finally:
        os.close(fd)
        ring.close()
