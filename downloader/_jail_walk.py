"""One folder at a time below the archive root, never through a link: the jail's walk.

Each folder is opened with `O_NOFOLLOW | O_DIRECTORY` relative to the one before it;
a link met on the way raises `PlantedLink` naming its place, and an `OSError` names
the whole path rather than the bare name a `dir_fd` call was given.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from downloader.errors import PlantedLink

__all__ = ["DIR_FLAGS", "named", "raise_if_link", "step", "walk_down"]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# what open(2) says of a link where O_NOFOLLOW (or O_DIRECTORY) forbids one
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EMLINK})


@contextlib.contextmanager
def named(root: Path, relative: PurePosixPath | str) -> Iterator[None]:
    """An OSError raised inside names the whole path, not the bare name of a `dir_fd` call."""
    try:
        yield
    except OSError as exc:
        if not (isinstance(exc.filename, str) and os.path.isabs(exc.filename)):
            exc.filename = os.path.normpath(root / relative)
            exc.filename2 = None
        raise


def raise_if_link(
    root: Path, exc: OSError, parent: int, name: str, walked: PurePosixPath | str
) -> None:
    """Raise `PlantedLink` when `exc` came of a link at `name` below `parent`."""
    if exc.errno not in _LINK_ERRNOS:
        return
    try:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        return
    if stat.S_ISLNK(mode):
        raise PlantedLink(str(walked), str(root)) from exc


def step(
    root: Path, parent: int, name: str, walked: PurePosixPath, *, create: bool, durable: bool
) -> int:
    """Open the folder `name` below `parent` (at `walked`) without following it, made
    if `create` (its entry fsynced in `parent` with `durable`)."""
    with named(root, walked):
        try:
            try:
                return os.open(name, DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o750, dir_fd=parent)
                if durable:  # the new folder's entry survives a power cut
                    os.fsync(parent)
            return os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise_if_link(root, exc, parent, name, walked)
            raise


def walk_down(
    root: Path, base: int, depth: int, parts: list[str], *, create: bool, durable: bool
) -> int:
    """A descriptor of the folder `parts` names, walked from `base` (a descriptor of the
    folder of its first `depth` parts, not closed here) one part at a time."""
    if depth == len(parts):  # `base` itself: a description of its own
        return os.open(".", DIR_FLAGS, dir_fd=base)
    fd, walked = base, PurePosixPath(*parts[:depth])
    try:
        for name in parts[depth:]:
            walked /= name
            parent, fd = fd, -1
            try:
                fd = step(root, parent, name, walked, create=create, durable=durable)
            finally:
                if parent != base:
                    os.close(parent)
    except BaseException:
        if fd >= 0 and fd != base:
            os.close(fd)
        raise
    return fd
