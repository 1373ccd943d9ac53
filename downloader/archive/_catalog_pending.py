"""Links the catalog still owes: a durable mark held by each process that defers them.

A process that links bags from the catalog in batches first makes its mark,
`.partial/catalog-pending.<host>-<pid>-<random>`, durable (its folder's entry fsynced), and holds an
exclusive `flock` on it for as long as it runs.  Every bag it reports archived before
its link is written is thus covered by a mark on disk: a clean close writes the links
and then removes the mark; a crash leaves it.  Whoever opens the archive next finds a
mark that no running process holds (its lock can be taken), links every bag present
that the catalog lacks (`repair_catalog`), and only then removes the mark.

A mark is made under a name starting with "." and renamed once locked, so a mark
being made is never taken for one abandoned.  Blocking: call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import PurePosixPath

from downloader.archive._catalog import repair_catalog
from downloader.archive._commit import Syncer
from downloader.jail import Jail

__all__ = ["PARTIAL", "PENDING", "PendingMark", "mark_pending", "repair_abandoned"]

PARTIAL = PurePosixPath(".partial")
PENDING = "catalog-pending."
"""How the name of a mark in `PARTIAL` begins."""
_OPEN = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class PendingMark:
    """A process's mark, locked while it is open."""

    jail: Jail
    name: str
    fd: int

    def release(self) -> None:
        """Every deferred link is written: the mark is removed (no fsync: a removal a
        crash undoes costs one needless repair)."""
        try:
            self.jail.unlink(PARTIAL / self.name)
        finally:
            os.close(self.fd)

    def keep(self) -> None:
        """Links are owed that could not be written: the mark stays for the next run."""
        os.close(self.fd)


def mark_pending(jail: Jail, syncer: Syncer) -> PendingMark:
    """Make this process's mark, locked and durable."""
    name = f"{PENDING}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    with jail.folder(PARTIAL, create=True, durable=True) as folder:
        fd = os.open(f".{name}", _OPEN | os.O_CREAT | os.O_EXCL, 0o640, dir_fd=folder)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(f".{name}", name, src_dir_fd=folder, dst_dir_fd=folder)
            syncer.folder(folder)
        except BaseException:
            os.close(fd)
            raise
    return PendingMark(jail, name, fd)


def repair_abandoned(jail: Jail) -> int:
    """Repair the catalog when a mark no running process holds is found, then remove
    such marks; how many were found."""
    try:
        folder = jail.open_dir(PARTIAL)
    except FileNotFoundError:
        return 0
    abandoned: list[tuple[str, int]] = []
    try:
        for name in sorted(os.listdir(folder)):
            if not name.startswith(PENDING):
                continue  # not a mark, or one being made (its name begins with ".")
            try:
                fd = os.open(name, _OPEN, dir_fd=folder)
            except OSError:
                continue  # not a file of ours (a link is never followed)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its process runs: it writes its own links
                continue
            abandoned.append((name, fd))
        if abandoned:
            repair_catalog(jail)
            for name, _ in abandoned:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=folder)
        return len(abandoned)
    finally:
        for _, fd in abandoned:
            os.close(fd)
        os.close(folder)
