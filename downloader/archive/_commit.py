"""A bag made durable in one pass and renamed into place: the bag's half of group commit.

Every file of the bag is written before any is synced (the payload by the engine and
the vetter, the tag files by `write_tag_files`), then `sync_bag` fsyncs each file
once, in one pass, so the file system may carry them in as few journal commits as it
likes, and then each folder of the bag once, deepest first (a flat bag: `data/` and
the bag's own folder).  `move_into_place` renames the bag to its final path and
fsyncs the one folder that holds its new name.  The folder it left (`.partial/bags`)
is not synced: the rename is one step of the file system's journal, made durable by
that one fsync, and a staging folder found beside its complete bag after a crash is
what adoption clears anyway.  Folders made for the final path are made durable as
they are made (each new one's parent is synced), as everywhere in the archive.

Every fsync of the commit goes through a `Syncer`, its one effect, which a test
replaces to count them on a real file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from downloader.jail import Jail

__all__ = ["Syncer", "bag_files", "move_into_place", "sync_bag", "write_tag_files"]

_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


class Syncer:
    """Makes a file's bytes, or a folder's entries, durable: `os.fsync`."""

    def file(self, fd: int) -> None:
        os.fsync(fd)

    def folder(self, fd: int) -> None:
        os.fsync(fd)


def bag_files(tag_names: Iterable[str], payload_paths: Iterable[str]) -> list[PurePosixPath]:
    """Every file of a bag, relative to its folder: its tag files, then its payload."""
    files = [PurePosixPath(name) for name in tag_names]
    files += [PurePosixPath("data") / path for path in payload_paths]
    return files


def write_tag_files(jail: Jail, bag: PurePosixPath, files: Mapping[str, bytes]) -> None:
    """Write each tag file into `bag`'s folder; `sync_bag` makes them durable."""
    with jail.folder(bag) as dir_fd:
        for name, data in files.items():
            fd = os.open(name, _WRITE, 0o640, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)


def sync_bag(
    jail: Jail, bag: PurePosixPath, files: Iterable[PurePosixPath], syncer: Syncer
) -> None:
    """fsync each of `files` (relative to `bag`) in one pass, then every folder of the
    bag, deepest first.  Each folder holding one of `files` is walked to once."""
    folders: dict[PurePosixPath, int] = {}
    try:
        for relative in files:
            where = bag / relative
            if where.parent not in folders:
                folders[where.parent] = jail.open_dir(where.parent)
            fd = jail.open_at(folders[where.parent], where, os.O_RDONLY)
            try:
                syncer.file(fd)
            finally:
                os.close(fd)
    finally:
        for folder in folders.values():
            os.close(folder)
    with jail.folder(bag) as top:
        for _, _, _, dirfd in os.fwalk(".", dir_fd=top, topdown=False, follow_symlinks=False):
            syncer.folder(dirfd)


def move_into_place(jail: Jail, bag: PurePosixPath, final: PurePosixPath, syncer: Syncer) -> None:
    """Rename the durable bag at `bag` to `final`, then fsync the folder holding it.

    Walked from the root without following: a link planted at any folder of the final
    path is refused, never a bag filed where it points."""
    with jail.folder(final.parent, create=True, durable=True):
        pass
    jail.rename(bag, final, sync=False)
    with jail.folder(final.parent) as parent:
        syncer.folder(parent)
