"""The partial data file: positional writes, flushes, hashing reads, promotion.

Blocking calls, meant to run in a worker thread (`anyio.to_thread.run_sync`); a
`HeldFile` alone touches no disk until it is written out whole.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from downloader.jail import Jail
from downloader.transfer._hashers import MultiHasher

HASH_BLOCK = 256 * 1024
_IOV_MAX = 1024  # buffers per pwritev call (Linux's UIO_MAXIOV)

Bytes = bytes | bytearray | memoryview


class DataFile:
    """An open partial file written at offsets by several segments at once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._block: bytearray | None = None  # reused by hash_range: no allocation per read

    @classmethod
    def open(cls, path: Path) -> DataFile:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o640)
        return cls(fd)

    @classmethod
    def open_in(cls, jail: Jail, relative: PurePosixPath) -> DataFile:
        """The file at `relative` below `jail`'s root, no link on the way followed."""
        return cls(jail.open(relative, os.O_RDWR | os.O_CREAT, 0o640, create_parents=True))

    def write_at(self, data: Bytes | Sequence[Bytes], offset: int) -> None:
        """Write `data` (one buffer, or received chunks in order) at `offset`, whole."""
        parts: list[Bytes] = [data] if isinstance(data, Bytes) else list(data)
        while parts:
            written = os.pwritev(self.fd, parts[:_IOV_MAX], offset)
            if written <= 0:
                raise OSError(f"pwritev wrote nothing at offset {offset}")
            offset += written
            # drop the parts written whole; a part cut short keeps its unwritten tail
            done = 0
            while done < len(parts) and written >= len(parts[done]):
                written -= len(parts[done])
                done += 1
            del parts[:done]
            if written:
                parts[0] = bytes(memoryview(parts[0])[written:])

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes from `offset` (fewer at the end of the file)."""
        return os.pread(self.fd, size, offset)

    def sync(self) -> None:
        os.fdatasync(self.fd)

    def hash_range(self, hasher: MultiHasher, start: int, end: int) -> int:
        """Feed bytes `[start, end)` of the file to `hasher`; returns `end`."""
        if self._block is None:
            self._block = bytearray(HASH_BLOCK)
        view = memoryview(self._block)
        pos = start
        while pos < end:
            got = os.preadv(self.fd, [view[: min(HASH_BLOCK, end - pos)]], pos)
            if not got:
                raise OSError(f"partial file ends at {pos}, expected {end} bytes")
            hasher.update(view[:got])
            pos += got
        return end

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class HeldFile(DataFile):
    """A body small enough to hold whole in memory until it is verified.

    A file that keeps no checkpoint (`_course.Plan.fits_in_memory`) gains nothing from
    being on disk before its end: no restart could use its bytes.  Held here, it
    costs no syscall on the loop and no thread hop while it arrives; `write_out`
    then opens, writes and fsyncs it in the one worker-thread call that also moves
    it into place.  Writes past `size` are refused as a file system would refuse
    them, so a server that sends more than it promised cannot grow it unbounded.
    """

    def __init__(self, size: int) -> None:
        super().__init__(-1)
        self.body = bytearray(size)

    def write_at(self, data: Bytes | Sequence[Bytes], offset: int) -> None:
        parts: list[Bytes] = [data] if isinstance(data, Bytes) else list(data)
        for part in parts:
            end = offset + len(part)
            if end > len(self.body):
                raise OSError(f"{end} bytes written to a file held at {len(self.body)}")
            self.body[offset:end] = part
            offset = end

    def read_at(self, offset: int, size: int) -> bytes:
        return bytes(self.body[offset : offset + size])

    def sync(self) -> None:
        """Nothing is on disk to sync before `write_out`."""

    def hash_range(self, hasher: MultiHasher, start: int, end: int) -> int:
        if end > len(self.body):
            raise OSError(f"held file ends at {len(self.body)}, expected {end} bytes")
        hasher.update(memoryview(self.body)[start:end])
        return end

    def write_out(self, fd: int, size: int) -> DataFile:
        """The first `size` bytes written into the newly made file `fd`, whose owner the
        returned `DataFile` now is (for `promote`, which syncs and closes it)."""
        data = DataFile(fd)
        try:
            if size:
                data.write_at(memoryview(self.body)[:size], 0)
        except BaseException:
            data.close()
            raise
        return data

    def close(self) -> None:
        """Nothing to close: the bytes stay held until the transfer lets go of them."""

    def release(self) -> None:
        """Let go of the bytes once they are on disk.  The data path's callbacks keep
        this object in reference cycles, which the collector frees only at its next
        pass: 200 files of 1 MiB, 16 at a time, held up to 76 bodies at once (a peak of
        136 MB against 49 MB through the rings)."""
        self.body = bytearray()


class PrefixHash:
    """The hasher of a file's contiguous prefix, fed by whichever thread has its next bytes.

    A write that lands exactly where the hashed prefix ends hands its bytes over
    as they are (`feed`), so they are never read back; bytes written anywhere else
    (a later segment, a resumed file) are read back from the file by `catch_up` once
    the prefix reaches them.  `done` only grows, one whole write or block at a time,
    under a lock: the hasher sees every byte once, in file order.
    """

    def __init__(self, hasher: MultiHasher) -> None:
        self.hasher = hasher
        self.done = 0
        self._lock = threading.Lock()

    def feed(self, offset: int, chunks: Sequence[bytes | memoryview]) -> bool:
        """Hash `chunks`, just written at `offset`, if the prefix ends there."""
        with self._lock:
            if offset != self.done:
                return False
            for chunk in chunks:
                self.hasher.update(chunk)
                self.done += len(chunk)
            return True

    def catch_up(self, data: DataFile, end: int) -> int:
        """Hash what is on disk from `done` up to `end`; returns `done`."""
        while True:
            with self._lock:
                if self.done >= end:
                    return self.done
                self.done = data.hash_range(
                    self.hasher, self.done, min(end, self.done + HASH_BLOCK)
                )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def promote(
    data: DataFile, source: tuple[Jail, PurePosixPath], final: tuple[Jail, PurePosixPath]
) -> None:
    """Make the verified file durable under its final name, atomically.

    Both ends are walked from their jail's root without following a link, so a link
    planted at the destination's folder (a bag's `data`) is refused, not followed.
    """
    try:
        os.fsync(data.fd)
    finally:
        data.close()
    (source_jail, source_path), (final_jail, final_path) = source, final
    # the bag's folders, made here the first time, are made durable by the bag's finish;
    # the source's folder holds nothing a crash could lose
    with final_jail.folder(final_path.parent, create=True):
        pass
    source_jail.rename(source_path, final_path, into=final_jail, replace=True, sync_source=False)
