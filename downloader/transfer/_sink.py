"""Positional writes of received buffers: `O_DIRECT` where the file system takes it.

Through the page cache, a durable download pays twice: the kernel copies every byte
into a page, and then has to write the pages back, mostly at the final fsync.  With
`O_DIRECT` the bytes go from our aligned buffer to the device, and a sync has only
the file's size left to record.  A `Sink` asks for it by opening its file a second
time with the flag; a file system that refuses that (ramfs; tmpfs before Linux 6.6) is
remembered per device and not asked again, and one that takes the open but refuses a
write has that file written through the page cache from then on.  Through the page
cache, writes go in pieces of `PIECE` bytes (large writes were measured slower there)
and are synced every `WRITEBACK_EVERY` bytes, so the final fsync has little left to
do.  `direct_io_works` asks the same of a folder, for tools and tests.

`O_DIRECT` wants the file offset, the length and the memory address all aligned to
`ALIGN`.  A ring buffer keeps memory and file offsets in step (see `_ring`), so a
write splits into an unaligned head, a middle of whole blocks and an unaligned tail
(`split_for_direct`): the middle goes direct, head and tail through the ordinary
descriptor of the same file.  The kernel keeps both views of the file coherent.

Blocking calls: run them in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import mmap
import os
import secrets
from pathlib import Path

from downloader.transfer._ring import ALIGN

PIECE = 64 * 1024
WRITEBACK_EVERY = 32 * 1024 * 1024

_O_DIRECT = getattr(os, "O_DIRECT", 0)
_REFUSALS = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP})
_REFUSED_ON: set[int] = set()
"""Devices whose file system refused to open a file with `O_DIRECT`: asked once per
process, not once per file."""


def split_for_direct(offset: int, length: int) -> tuple[int, int, int]:
    """The lengths of the head, the whole-block middle and the tail of a write."""
    head = min(-offset % ALIGN, length)
    middle = (length - head) // ALIGN * ALIGN
    return head, middle, length - head - middle


@functools.cache
def direct_io_works(folder: Path) -> bool:
    """Whether files in `folder` take `O_DIRECT` writes (asked once per folder)."""
    if not _O_DIRECT:
        return False
    name = folder / f".direct-probe-{secrets.token_hex(8)}"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_DIRECT, 0o600)
    except OSError as exc:
        # the file may be made before the flag is refused (ramfs does so)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        if exc.errno in _REFUSALS:
            return False
        raise
    try:
        with mmap.mmap(-1, ALIGN) as block:
            os.pwrite(fd, memoryview(block), 0)
        return True
    except OSError as exc:
        if exc.errno in _REFUSALS:
            return False
        raise
    finally:
        os.close(fd)
        os.unlink(name)


def reopen_direct(fd: int) -> int | None:
    """A second descriptor of the file open as `fd`, with `O_DIRECT`; None if refused.

    Opened through `/proc/self/fd`, which names the very file `fd` is open on: no
    path is walked again, so no link planted since can be followed.
    """
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | _O_DIRECT)
    except OSError as exc:
        if exc.errno in _REFUSALS or exc.errno == errno.ENOENT:
            return None
        raise


class Sink:
    """Writes buffers at offsets into one file, direct where it can."""

    def __init__(self, fd: int, *, direct: bool, writeback_every: int = WRITEBACK_EVERY) -> None:
        self.fd = fd  # the caller's: the sink closes only its own direct descriptor
        self.device = os.fstat(fd).st_dev
        direct = direct and bool(_O_DIRECT) and self.device not in _REFUSED_ON
        self.direct_fd = reopen_direct(fd) if direct else None
        if direct and self.direct_fd is None:
            _REFUSED_ON.add(self.device)
        self.writeback_every = writeback_every
        self.direct_bytes = 0
        self.cached_bytes = 0
        self._unsynced = 0

    @property
    def is_direct(self) -> bool:
        return self.direct_fd is not None

    def write(self, data: memoryview, offset: int) -> None:
        """Write all of `data` at `offset` (`data`'s address in step with `offset`)."""
        if self.direct_fd is not None:
            head, middle, _ = split_for_direct(offset, len(data))
            if middle and self._write_direct(data[head : head + middle], offset + head):
                self._write_cached(data[:head], offset)
                self._write_cached(data[head + middle :], offset + head + middle)
                return
        self._write_cached(data, offset)

    def sync(self) -> None:
        """Make what was written durable (direct writes still need their size recorded)."""
        os.fdatasync(self.fd)
        self._unsynced = 0

    def close(self) -> None:
        if self.direct_fd is not None:
            os.close(self.direct_fd)
            self.direct_fd = None

    def _write_direct(self, data: memoryview, offset: int) -> bool:
        """False (and direct writes off for good) when the file system refuses them."""
        assert self.direct_fd is not None
        try:
            _write_all(self.direct_fd, data, offset)
        except OSError as exc:
            if exc.errno not in _REFUSALS:
                raise
            # for this file only: a write refused may be one the file system takes
            # otherwise (an odd offset it cannot do), not a refusal of the flag itself
            os.close(self.direct_fd)
            self.direct_fd = None
            return False
        self.direct_bytes += len(data)
        return True

    def _write_cached(self, data: memoryview, offset: int) -> None:
        for at in range(0, len(data), PIECE):
            _write_all(self.fd, data[at : at + PIECE], offset + at)
        self.cached_bytes += len(data)
        self._unsynced += len(data)
        if self.writeback_every and self._unsynced >= self.writeback_every:
            self.sync()


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        if written <= 0:
            raise OSError(errno.EIO, f"pwrite wrote nothing at offset {offset}")
        data = data[written:]
        offset += written
