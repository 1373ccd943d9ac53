"""What the data path tests hand it: a seeded body, the receiver's copying of it into ring
buffers, and a recorder of the writes the path tells of.

Also imported by the child processes the tests start (on a file system of their own), so
it depends on nothing but the package."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from downloader.transfer._datapath import DataPath
from downloader.transfer._ring import Ring
from downloader.transfer._sink import Sink
from downloader.transfer._writer import PrefixHash

MiB = 1024 * 1024


def source(size: int) -> bytes:
    block = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(8192))
    return (block * (size // len(block) + 1))[:size]


def fill(path: DataPath, ring: Ring, data: bytes, offset: int) -> None:
    """Hand `data` for file `offset` to `path` as the receiver does, waiting for buffers."""
    while data:
        buffer = ring.take()
        while buffer is None:
            path.wait_idle(0.01)
            buffer = ring.take()
        buffer.begin(offset)
        piece = min(len(buffer.room), len(data))
        buffer.room[:piece] = data[:piece]
        buffer.end += piece
        path.submit(buffer)
        data, offset = data[piece:], offset + piece


@contextlib.contextmanager
def writing(
    file: Path,
    ring: Ring,
    prefix: PrefixHash,
    on_written: Callable[[int, int, object], None],
    *,
    direct: bool,
) -> Iterator[tuple[DataPath, int]]:
    """A data path from `ring` to `file` (opened here, made if need be) hashing into
    `prefix`, and the file's descriptor; the path, the file and the ring are closed when
    the block ends."""
    fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)
    path = DataPath(Sink(fd, direct=direct), prefix, ring, on_written=on_written)
    try:
        yield path, fd
    finally:
        path.close()
        os.close(fd)
        ring.close()


class Written:
    """What the writer thread told: (offset, length) of each buffer, in order."""

    def __init__(self) -> None:
        self.told: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def __call__(self, offset: int, length: int, owner: object = None) -> None:
        with self.lock:
            self.told.append((offset, length))
