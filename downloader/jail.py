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

The root and the service's own folders below it are opened once and held (see
`_jail_hold`: what holding them means when they are moved or removed while running),
so a path below `.partial/transfers` costs one `openat` of its file, not a walk from
the configured path.  `close` at the end of a run closes them.

Blocking calls, meant for worker threads.  Paths given are relative to the root
("/"-separated), or absolute paths lexically below it (`relative`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TypeVar

from downloader._jail_hold import hold_of
from downloader._jail_move import move_checked
from downloader._jail_walk import named, raise_if_link, step, walk_down
from downloader.errors import PlantedLink

__all__ = ["Jail", "PlantedLink"]

Relative = PurePosixPath | str
_T = TypeVar("_T")


def _parts(relative: Relative) -> list[str]:
    parts = [p for p in PurePosixPath(relative).parts if p not in ("", ".")]
    if any(p == ".." or "/" in p for p in parts):
        raise ValueError(f"{relative!s} climbs out of the archive root")
    return parts


class Jail:
    """File operations below `root` that never follow a link planted below it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self._hold = hold_of(self.root)

    def close(self) -> None:
        """Close the descriptors held for the root (by every `Jail` of it), when no
        operation is under way; the next one opens them again."""
        self._hold.close()

    def retain(self) -> None:
        """A run of the service begins; it calls `release` at its end."""
        self._hold.retain()

    def release(self) -> None:
        """A run ends: the last run of the root in this process closes what is held."""
        self._hold.release()

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

    def _named(self, relative: Relative) -> contextlib.AbstractContextManager[None]:
        return named(self.root, relative)

    # --- folders --------------------------------------------------------------------

    def open_dir(self, relative: Relative, *, create: bool = False, durable: bool = False) -> int:
        """A descriptor of the folder at `relative`, made if `create` (each new folder's
        entry fsynced with `durable`)."""
        parts = _parts(relative)
        if not create:
            return self._open_dir(parts, create, durable)
        return self._again_if_gone(lambda: self._open_dir(parts, create, durable))

    def root_fd(self) -> int:
        """The root's held descriptor: borrowed, never to be closed nor listed."""
        return self._base([], False, False)[0]

    def _again_if_gone(self, operation: Callable[[], _T]) -> _T:
        """`operation`, tried once more when it found nothing because a held folder on
        its way was removed meanwhile (see `_jail_hold`)."""
        try:
            return operation()
        except FileNotFoundError:
            if not self._hold.forget_if_gone():
                raise
        return operation()

    def _base(self, parts: list[str], create: bool, durable: bool) -> tuple[int, int]:
        return self._hold.base(parts, create=create, durable=durable, step=self._held_step)

    def _held_step(
        self, parent: int, name: str, walked: tuple[str, ...], create: bool, durable: bool
    ) -> int:
        where = PurePosixPath(*walked)
        return step(self.root, parent, name, where, create=create, durable=durable)

    def _open_dir(
        self,
        parts: list[str],
        create: bool,
        durable: bool,
        based: tuple[int, int] | None = None,
    ) -> int:
        base, depth = based or self._base(parts, create, durable)
        return walk_down(self.root, base, depth, parts, create=create, durable=durable)

    def step_into(
        self,
        parent: int,
        name: str,
        walked: Relative,
        *,
        create: bool = False,
        durable: bool = False,
    ) -> int:
        """A descriptor of the folder `name` below `parent` (the folder `walked` names,
        relative to the root, is where it leads), made if `create`; never a link."""
        where = PurePosixPath(walked)
        return step(self.root, parent, name, where, create=create, durable=durable)

    def _raise_if_link(self, exc: OSError, parent: int, name: str, walked: Relative) -> None:
        raise_if_link(self.root, exc, parent, name, walked)

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
        """The descriptor of the folder holding `relative`, and its last part's name.

        The descriptor may be one the jail holds: not to be closed, nor listed."""
        parts = _parts(relative)
        if not parts:
            raise ValueError("the archive root has no parent in the jail")

        def acquire() -> tuple[int, bool]:
            base, depth = self._base(parts[:-1], create, durable)
            if depth == len(parts) - 1:
                return base, False
            return self._open_dir(parts[:-1], create, durable, (base, depth)), True

        fd, owned = self._again_if_gone(acquire) if create else acquire()
        try:
            yield fd, parts[-1]
        finally:
            if owned:
                os.close(fd)

    # --- files ----------------------------------------------------------------------

    def open(
        self, relative: Relative, flags: int, mode: int = 0o640, *, create_parents: bool = False
    ) -> int:
        """`os.open` of `relative` with `O_NOFOLLOW`, its folders walked without following."""

        def opened() -> int:
            with self.parent_of(relative, create=create_parents) as (parent, _):
                return self.open_at(parent, relative, flags, mode)

        return self._again_if_gone(opened) if flags & os.O_CREAT else opened()

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
        self._again_if_gone(lambda: self._write_atomically(relative, data))

    def _write_atomically(self, relative: Relative, data: bytes) -> None:
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

    def glance(self, relative: Relative) -> bool:
        """Whether something seems to be at `relative`: one `stat` from the held root,
        links on the way followed.  A hint for skipping work where nothing is, cheap
        enough for the event loop; never acted on, as what is then done there walks
        without following."""
        parts = _parts(relative)
        try:
            root, _ = self._base([], False, False)
            os.stat("/".join(parts) or ".", dir_fd=root, follow_symlinks=False)
        except OSError:
            return False
        return True

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
            move_checked(
                (src_dir, src_name),
                (dst_dir, dst_name),
                replace=replace,
                refuse=lambda: PlantedLink(str(source), str(self.root)),
                target_name=str(target),
            )
            if sync:
                os.fsync(dst_dir)
                if sync_source and not os.path.sameopenfile(src_dir, dst_dir):
                    os.fsync(src_dir)

    # --- reading a tree -------------------------------------------------------------

    def walk(self, relative: Relative) -> Iterator[tuple[str, list[str], list[str], int]]:
        """`os.fwalk` below `relative`: folders by descriptor, links listed, never entered."""
        with self.folder(relative) as fd:
            yield from os.fwalk(".", dir_fd=fd, follow_symlinks=False)
