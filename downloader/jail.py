"""The archive root as a jail: file operations below it that never follow a link.

Anyone who can write below the archive root can plant a symbolic link there: at
a work file (`.partial/transfers/<x>.part`), at a folder on the way to one
(`.partial`, `<root>/http`, a bag's `data`, a folder in the middle of a Pixxel
job's path).  A path handed to `open`, `mkdir` or `rename` follows such a link at
every one of its parts, so the write lands wherever the link points.

Here every path below the root is walked one part at a time from a descriptor of
the root: each folder is opened with `O_NOFOLLOW | O_DIRECTORY` relative to the
one before it, and the last part is opened, made, renamed or removed relative to
its folder's descriptor (`dir_fd=`).  A link met anywhere on the way raises
`PlantedLink` and is never followed.  The root itself may be a link (an operator
may point `archive.root` anywhere): it is opened as configured.

Blocking calls, meant for worker threads.  Paths given are relative to the root
("/"-separated), or absolute paths lexically below it (`relative`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from downloader.errors import PlantedLink

__all__ = ["Jail", "PlantedLink"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# what open(2) says of a link where O_NOFOLLOW (or O_DIRECTORY) forbids one
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EMLINK})

Relative = PurePosixPath | str


def _parts(relative: Relative) -> list[str]:
    parts = [p for p in PurePosixPath(relative).parts if p not in ("", ".")]
    if any(p == ".." or "/" in p for p in parts):
        raise ValueError(f"{relative!s} climbs out of the archive root")
    return parts


class Jail:
    """File operations below `root` that never follow a link planted below it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def relative(self, path: Path) -> PurePosixPath:
        """`path` (absolute, or relative to the working folder) relative to the root.

        Lexical, on purpose: resolving would follow the very links refused here.
        """
        absolute = Path(os.path.normpath(Path(path).absolute()))
        try:
            return PurePosixPath(absolute.relative_to(self.root).as_posix())
        except ValueError:
            raise ValueError(f"{path} is not below the archive root {self.root}") from None

    def contains(self, path: Path) -> bool:
        """Whether `path` lies lexically below (or at) the root."""
        try:
            self.relative(path)
        except ValueError:
            return False
        return True

    @contextlib.contextmanager
    def _named(self, relative: Relative) -> Iterator[None]:
        """An OSError raised inside names the whole path, not the bare name of a `dir_fd` call."""
        try:
            yield
        except OSError as exc:
            if not (isinstance(exc.filename, str) and os.path.isabs(exc.filename)):
                exc.filename = os.path.normpath(self.root / relative)
                exc.filename2 = None
            raise

    # --- folders --------------------------------------------------------------------

    def open_dir(self, relative: Relative, *, create: bool = False, durable: bool = False) -> int:
        """A descriptor of the folder at `relative`, made if `create` (each new folder's
        entry fsynced with `durable`)."""
        if create:  # the root and the folders above it are the operator's, trusted
            os.makedirs(self.root, 0o750, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        walked = PurePosixPath()
        try:
            for name in _parts(relative):
                walked /= name
                parent, fd = fd, -1
                try:
                    with self._named(walked):
                        fd = self._step(parent, name, walked, create=create, durable=durable)
                finally:
                    os.close(parent)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        return fd

    def _step(
        self, parent: int, name: str, walked: PurePosixPath, *, create: bool, durable: bool
    ) -> int:
        """Open the folder `name` below `parent` without following it."""
        try:
            try:
                return os.open(name, _DIR, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o750, dir_fd=parent)
                if durable:  # the new folder's entry survives a power cut
                    os.fsync(parent)
            return os.open(name, _DIR, dir_fd=parent)
        except OSError as exc:
            self._raise_if_link(exc, parent, name, walked)
            raise

    def _raise_if_link(self, exc: OSError, parent: int, name: str, walked: Relative) -> None:
        if exc.errno not in _LINK_ERRNOS:
            return
        try:
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        except OSError:
            return
        if stat.S_ISLNK(mode):
            raise PlantedLink(str(walked), str(self.root)) from exc

    @contextlib.contextmanager
    def folder(
        self, relative: Relative, *, create: bool = False, durable: bool = False
    ) -> Iterator[int]:
        """`open_dir` as a context: the descriptor is closed on the way out."""
        fd = self.open_dir(relative, create=create, durable=durable)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def parent_of(
        self, relative: Relative, *, create: bool = False, durable: bool = False
    ) -> Iterator[tuple[int, str]]:
        """The descriptor of the folder holding `relative`, and its last part's name."""
        parts = _parts(relative)
        if not parts:
            raise ValueError("the archive root has no parent in the jail")
        above = PurePosixPath(*parts[:-1]) if parts[:-1] else "."
        with self.folder(above, create=create, durable=durable) as fd:
            yield fd, parts[-1]

    # --- files ----------------------------------------------------------------------

    def open(
        self, relative: Relative, flags: int, mode: int = 0o640, *, create_parents: bool = False
    ) -> int:
        """`os.open` of `relative` with `O_NOFOLLOW`, its folders walked without following."""
        with self.parent_of(relative, create=create_parents) as (parent, _):
            return self.open_at(parent, relative, flags, mode)

    def open_at(self, parent: int, relative: Relative, flags: int, mode: int = 0o640) -> int:
        """`open` of `relative` when its folder is walked already and open as `parent`:
        files of one folder opened without a walk from the root each."""
        name = _parts(relative)[-1]
        with self._named(relative):
            try:
                return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
            except OSError as exc:
                self._raise_if_link(exc, parent, name, relative)
                raise

    def read_bytes(self, relative: Relative) -> bytes:
        fd = self.open(relative, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def write_atomically(self, relative: Relative, data: bytes) -> None:
        """Replace the file at `relative` with `data` in one rename (no fsync)."""
        with self.parent_of(relative, create=True) as (parent, name), self._named(relative):
            tmp = PurePosixPath(name).with_suffix(".tmp").name
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=parent)  # a link left there is removed, not followed
            # a link planted again between the unlink and here makes this fail (ELOOP)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o640, dir_fd=parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)

    def lstat(self, relative: Relative) -> os.stat_result | None:
        """What is at `relative` itself (a link is not followed); None when nothing is."""
        try:
            with self.parent_of(relative) as (parent, name), self._named(relative):
                return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def unlink(self, relative: Relative) -> None:
        """Remove the file (or link) at `relative`, if any; a link is removed, not followed."""
        try:
            with self.parent_of(relative) as (parent, name), self._named(relative):
                os.unlink(name, dir_fd=parent)
        except FileNotFoundError:
            return

    def rmtree(self, relative: Relative) -> None:
        """Remove the folder at `relative` and everything in it, by descriptors; a link at
        its place is removed, never followed.  Nothing there: nothing done."""
        try:
            with self.parent_of(relative) as (parent, name), self._named(relative):
                mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    shutil.rmtree(name, dir_fd=parent)
                else:
                    os.unlink(name, dir_fd=parent)
        except FileNotFoundError:
            return

    def sync_dir(self, relative: Relative) -> None:
        with self.folder(relative) as fd:
            os.fsync(fd)

    # --- moves ----------------------------------------------------------------------

    def rename(
        self,
        source: Relative,
        target: Relative,
        *,
        into: Jail | None = None,
        replace: bool = False,
        sync: bool = True,
        sync_source: bool = True,
    ) -> None:
        """Move the file or folder at `source` to `target` (below `into`'s root if given).

        The source must be a real file or folder, never a link; the target's folders
        are walked without following and made when missing.  Without `replace`, an
        entry at the target is refused (`FileExistsError`).  With `sync`, the target's
        new folders and its folder after the move are fsynced, and with `sync_source`
        too the source's folder (unless it is the same).
        """
        destination = into or self
        with (
            self.parent_of(source) as (src_dir, src_name),
            destination.parent_of(target, create=True, durable=sync) as (dst_dir, dst_name),
            destination._named(target),
        ):
            before = os.stat(src_name, dir_fd=src_dir, follow_symlinks=False)
            if not (stat.S_ISREG(before.st_mode) or stat.S_ISDIR(before.st_mode)):
                raise PlantedLink(str(source), str(self.root))
            if not replace:
                try:
                    os.stat(dst_name, dir_fd=dst_dir, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    raise FileExistsError(errno.EEXIST, "already there", str(target))
            os.rename(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
            # what arrived must be what was looked at: a swap between the look and the
            # move would have put something else (a link) in the archive
            after = os.stat(dst_name, dir_fd=dst_dir, follow_symlinks=False)
            if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
                os.rename(dst_name, src_name, src_dir_fd=dst_dir, dst_dir_fd=src_dir)
                raise PlantedLink(str(source), str(self.root))
            if sync:
                os.fsync(dst_dir)
                if sync_source and not os.path.sameopenfile(src_dir, dst_dir):
                    os.fsync(src_dir)

    # --- reading a tree -------------------------------------------------------------

    def walk(self, relative: Relative) -> Iterator[tuple[str, list[str], list[str], int]]:
        """`os.fwalk` below `relative`: folders by descriptor, links listed, never entered."""
        with self.folder(relative) as fd:
            yield from os.fwalk(".", dir_fd=fd, follow_symlinks=False)
