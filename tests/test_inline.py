"""The data path of a held body: buffers copied into memory and hashed as they are
handed over; the body reaches the disk only once it is verified, in one thread call."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from downloader.transfer._hashers import MultiHasher, to_hex
from downloader.transfer._inline import InlinePath
from downloader.transfer._ring import Ring
from downloader.transfer._writer import HeldFile, PrefixHash
from tests.support.datapath import Written, source


def hand(path: InlinePath, ring: Ring, data: bytes, offset: int) -> None:
    while data:
        buffer = ring.take()
        assert buffer is not None, "a buffer is back in the ring as soon as it is held"
        buffer.begin(offset, owner="me")
        piece = min(len(buffer.room), len(data))
        buffer.room[:piece] = data[:piece]
        buffer.end += piece
        path.submit(buffer)
        data, offset = data[piece:], offset + piece


def test_each_buffer_is_held_hashed_and_back_before_submit_returns() -> None:
    data = source(200_000)
    held = HeldFile(len(data))
    ring, told, prefix = Ring(1, 64 * 1024, aligned=False), Written(), PrefixHash(MultiHasher())
    path = InlinePath(held, prefix, ring, on_written=told)
    hand(path, ring, data, 0)  # one buffer in the ring: each must come back at once
    assert path.wait_idle()
    path.close()
    assert bytes(held.body) == data
    assert to_hex(prefix.hasher.digests()["sha256"]) == hashlib.sha256(data).hexdigest()
    assert [n for _, n in told.told] == [65536, 65536, 65536, 200_000 - 3 * 65536]


def test_a_write_past_the_held_size_is_kept_and_told_once() -> None:
    ring, told = Ring(2, 64 * 1024, aligned=False), Written()
    path = InlinePath(HeldFile(1000), PrefixHash(MultiHasher()), ring, on_written=told)
    hand(path, ring, source(100_000), 0)
    path.close()
    assert isinstance(path.error, OSError)
    assert told.told == [(0, -1)]
    assert ring.free == 2


def test_a_held_body_is_written_out_whole_into_a_new_file(tmp_path: Path) -> None:
    data = source(150_000)
    held = HeldFile(len(data))
    held.write_at(data[:70_000], 0)
    held.write_at([data[70_000:100_000], memoryview(data)[100_000:]], 70_000)
    later = MultiHasher()
    assert held.hash_range(later, 0, len(data)) == len(data)
    assert held.read_at(0, 10) == data[:10]
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    written = held.write_out(fd, len(data))
    written.close()
    assert (tmp_path / "f").read_bytes() == data
    assert to_hex(later.digests()["sha256"]) == hashlib.sha256(data).hexdigest()
