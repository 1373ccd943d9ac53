"""A bag made durable in one pass and renamed into place: the bag's half of group commit.

Every file of the bag is written before any is synced (the payload by the engine and
the vetter, the tag files by `StagedBag.write_tags`), then `StagedBag.sync` fsyncs
each file once, in one pass, so the file system may carry them in as few journal
commits as it likes, and then each folder of the bag once, deepest first (a flat
bag: `data/` and the bag's own folder).  `FinalPlace.move_in` renames the bag to its
final path and fsyncs the one folder that holds its new name.  The folder it left
(`.partial/bags`) is not synced: the rename is one step of the file system's
journal, made durable by that one fsync, and a staging folder found beside its
complete bag after a crash is what adoption clears anyway.  Folders made for the
final path are made durable as they are made (each new one's parent is synced), as
everywhere in the archive.

Each folder is opened once for the whole finish and every file is reached from its
folder's descriptor: the tag files are written and synced through the descriptors
they were written with, never opened again, and the folders of the payload are
those the check of the staging folder listed, never listed twice.  The folders on
the way to the final path are walked once, for the nesting check, the look at what
is there, the folders still to make and the rename.

Every fsync of the commit goes through a `Syncer`, its one effect, which a test
replaces to count them on a real file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Set
from pathlib import PurePosixPath

from downloader._jail_move import move_checked
from downloader.errors import ArchiveError, PlantedLink
from downloader.jail import Jail

__all__ = ["FinalPlace", "StagedBag", "Syncer"]

_WRITE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_DOWN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Syncer:
    """Makes a file's bytes, or a folder's entries, durable: `os.fsync`."""

    def file(self, fd: int) -> None:
        os.fsync(fd)

    def folder(self, fd: int) -> None:
        os.fsync(fd)


class StagedBag:
    """A bag's staging folder open for its finish: the bag's folder, `data/` and each
    folder below it opened once (made when missing), all closed by `close`."""

    def __init__(self, jail: Jail, staging: PurePosixPath) -> None:
        self.jail, self.staging = jail, staging
        top = jail.open_dir(staging, create=True)
        self._folders: dict[str, int] = {"": top}
        self._listed: dict[str, list[str]] = {}
        """What `payload_sizes` found in each folder below the bag's, as payload paths."""
        try:
            data = jail.step_into(top, "data", staging / "data", create=True)
        except BaseException:
            os.close(top)
            raise
        self._folders["data"] = data

    def close(self) -> None:
        for fd in self._folders.values():
            os.close(fd)
        self._folders.clear()

    def top_entries(self) -> list[tuple[str, bool, bool]]:
        """(name, is a real folder, is a real file) of each entry of the bag's folder."""
        with os.scandir(self._folders[""]) as entries:
            return [
                (e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                for e in entries
            ]

    def remove_top(self, name: str) -> None:
        os.unlink(name, dir_fd=self._folders[""])

    def payload_sizes(self) -> dict[str, int]:
        """Size of every regular file below `data/` by "/"-separated path; each folder
        below it is opened from the one above and kept open for `sync`.  A link or
        special file raises."""
        found: dict[str, int] = {}
        folders = ["data"]
        while folders:
            where = folders.pop()
            parent = self._folders[where]
            with os.scandir(parent) as entries:
                listed = list(entries)
            # a sub-folder is listed as itself: never all durable files
            self._listed[where] = [f"{where}/{e.name}".removeprefix("data/") for e in listed]
            for entry in listed:
                relative = f"{where}/{entry.name}"
                path = relative.removeprefix("data/")
                if entry.is_dir(follow_symlinks=False):
                    self._folders[relative] = os.open(entry.name, _DOWN, dir_fd=parent)
                    folders.append(relative)
                elif entry.is_file(follow_symlinks=False):
                    found[path] = entry.stat(follow_symlinks=False).st_size
                else:
                    raise ArchiveError(f"payload entry {path!r} is a link or special file")
        return found

    def write_tags(self, files: Mapping[str, bytes]) -> list[int]:
        """Write each tag file into the bag's folder; their descriptors, still open, for
        `sync` (which closes them)."""
        written: list[int] = []
        try:
            for name, data in files.items():
                fd = os.open(name, _WRITE, 0o640, dir_fd=self._folders[""])
                written.append(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
        except BaseException:
            for fd in written:
                os.close(fd)
            raise
        return written

    def sync(
        self, tags: list[int], payload: Iterable[str], durable: Set[str], syncer: Syncer
    ) -> None:
        """fsync the tag files (through `tags`, closed here) and each payload file
        (`data/`-relative paths) not `durable` already, then every folder of the bag,
        deepest first, but for a payload folder holding only durable files (their
        entries made durable as they arrived)."""
        try:
            for fd in tags:
                syncer.file(fd)
        finally:
            for fd in tags:
                os.close(fd)
        for path in payload:
            if path in durable:
                continue
            folder, _, name = f"data/{path}".rpartition("/")
            fd = os.open(name, _READ, dir_fd=self._folders[folder])
            try:
                syncer.file(fd)
            finally:
                os.close(fd)
        for where in sorted(self._folders, key=lambda w: (-w.count("/"), w == "", w)):
            listed = self._listed.get(where)
            if listed is not None and all(name in durable for name in listed):
                continue
            syncer.folder(self._folders[where])


class FinalPlace:
    """The folders on the way to a bag's final path, walked once from the root without
    following a link: those already there opened (each checked for holding a bag, as
    a bag may not lie inside another), the rest made by `move_in`."""

    def __init__(self, jail: Jail, final: PurePosixPath) -> None:
        self.jail, self.final = jail, final
        self._levels = [jail.root_fd()]
        self._missing: list[str] = []
        try:
            walked = PurePosixPath()
            for name in final.parent.parts:
                if self._missing:
                    self._missing.append(name)
                    continue
                walked /= name
                try:
                    fd = jail.step_into(self._levels[-1], name, walked)
                except FileNotFoundError:
                    self._missing.append(name)
                    continue
                self._levels.append(fd)
                if _exists(fd, "bagit.txt"):
                    raise ArchiveError(f"{jail.root / final} would lie inside the bag at {walked}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for fd in self._levels[1:]:  # the root's is the jail's
            os.close(fd)
        self._levels.clear()

    def found(self) -> os.stat_result | None:
        """What is at the final path now (a link not followed); None when nothing is."""
        if self._missing:
            return None
        try:
            return os.stat(self.final.name, dir_fd=self._levels[-1], follow_symlinks=False)
        except FileNotFoundError:
            return None

    def move_in(self, staging: PurePosixPath, syncer: Syncer) -> None:
        """Make the folders still missing (each made durable in its parent), rename the
        durable bag at `staging` to the final path, then fsync the folder holding it."""
        walked = PurePosixPath(*self.final.parent.parts[: len(self._levels) - 1])
        while self._missing:
            name = self._missing.pop(0)
            walked /= name
            fd = self.jail.step_into(self._levels[-1], name, walked, create=True, durable=True)
            self._levels.append(fd)
        parent = self._levels[-1]
        with self.jail.parent_of(staging) as (src_dir, src_name):
            move_checked(
                (src_dir, src_name),
                (parent, self.final.name),
                replace=False,
                refuse=lambda: PlantedLink(str(staging), str(self.jail.root)),
                target_name=str(self.final),
            )
        syncer.folder(parent)


def _exists(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
