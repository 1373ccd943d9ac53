"""The partial data file's positional writes: chunk lists written whole, in order."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from downloader.transfer._writer import DataFile

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
