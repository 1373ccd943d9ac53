"""The partial data file's positional writes: chunk lists written whole, in order."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from downloader.transfer._digests import MultiHasher, to_hex
from downloader.transfer._writer import DataFile, PrefixHash

ROOT = Path(__file__).resolve().parents[1]


def _written(path: Path, chunks: bytes | bytearray | Sequence[bytes], offset: int) -> bytes:
    data = DataFile.open(path)
    try:
        data.write_at(chunks, offset)
    finally:
        data.close()
    return path.read_bytes()


def test_a_chunk_list_lands_in_order_at_its_offset(tmp_path: Path) -> None:
    chunks = [b"abc", b"", b"defg", bytes(range(256)) * 1000]
    assert _written(tmp_path / "f", chunks, 10) == b"\0" * 10 + b"".join(chunks)


def test_one_buffer_and_more_chunks_than_one_call_takes(tmp_path: Path) -> None:
    assert _written(tmp_path / "a", bytearray(b"xyz"), 2) == b"\0\0xyz"
    many = [bytes([i % 251]) * (i % 7 + 1) for i in range(3000)]  # over 1024 per call
    assert _written(tmp_path / "b", many, 0) == b"".join(many)


def test_a_write_cut_short_keeps_its_bytes_in_place_and_then_fails(tmp_path: Path) -> None:
    # a file size limit makes the kernel write part of the chunks, then refuse the rest
    target = tmp_path / "f"
    script = f"""
import errno, pathlib, resource, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from downloader.transfer._writer import DataFile
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))
data = DataFile.open(pathlib.Path({str(target)!r}))
try:
    data.write_at([b"a" * 3000, b"b" * 3000], 100)
except OSError as exc:
    print("refused", errno.errorcode[exc.errno])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "refused EFBIG", done.stderr
    assert target.read_bytes() == b"\0" * 100 + b"a" * 3000 + b"b" * 1900
    assert os.path.getsize(target) == 5000


# --- PrefixHash: the prefix hashed once, in order, whoever brings its bytes ----------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _front() -> PrefixHash:
    return PrefixHash(MultiHasher())


def test_a_write_at_the_end_of_the_prefix_is_hashed_as_it_is_handed_over() -> None:
    front = _front()
    assert front.feed(0, [b"abc", b"de"])
    assert front.feed(5, [b"f"])
    assert front.done == 6
    assert to_hex(front.hasher.digests()["sha256"]) == _sha256(b"abcdef")


def test_a_write_elsewhere_is_left_to_be_read_back(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = DataFile.open(path)
    try:
        front = _front()
        data.write_at([b"world"], 5)
        assert not front.feed(5, [b"world"])  # the prefix ends at 0: not its turn
        assert front.done == 0
        data.write_at([b"hello"], 0)
        assert front.feed(0, [b"hello"])
        assert front.catch_up(data, 10) == 10  # "world" comes from the file
        assert not front.feed(5, [b"world"])  # and is never hashed twice
        assert to_hex(front.hasher.digests()["sha256"]) == _sha256(b"helloworld")
    finally:
        data.close()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_writers_and_a_catch_up_in_any_order_hash_the_file_once(
    tmp_path_factory: pytest.TempPathFactory, draw: st.DataObject
) -> None:
    content = bytes(range(256)) * 40 + b"tail"
    cuts = sorted(draw.draw(st.sets(st.integers(1, len(content) - 1), max_size=8)))
    pieces = list(zip([0, *cuts], [*cuts, len(content)], strict=True))
    order = draw.draw(st.permutations(pieces))
    path = tmp_path_factory.mktemp("front") / "f"
    path.write_bytes(b"")
    data = DataFile.open(path)
    try:
        front = _front()

        def write(start: int, end: int) -> None:
            chunk = content[start:end]
            data.write_at([chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]], start)
            front.feed(start, [chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]])

        threads = [threading.Thread(target=write, args=piece) for piece in order]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert front.catch_up(data, len(content)) == len(content)
        assert front.hasher.size == len(content)
        assert to_hex(front.hasher.digests()["sha256"]) == _sha256(content)
    finally:
        data.close()
