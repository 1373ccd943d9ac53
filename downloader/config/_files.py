"""Reading the files a config names: regular files only, each within a size bound.

A FIFO given as a secret or watchlist file would block every command forever, a
device such as `/dev/zero` would be read until memory runs out.  Both are refused
before a byte is read: the path is looked at first, opened without blocking, and
looked at again through the open file (it may have been swapped in between).
Every failure is a `ValueError` whose message is the reason alone; the caller
says which file it was.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CA_FILE_LIMIT",
    "CONFIG_LIMIT",
    "SECRET_LIMIT",
    "WATCHLIST_LIMIT",
    "RegularFile",
    "check_path_text",
    "expand_path",
    "kind_of",
    "read_regular",
]

CONFIG_LIMIT = 1 << 20
WATCHLIST_LIMIT = 64 << 20
"""About a million entries; 100,000 entries take some 6 MiB."""
SECRET_LIMIT = 64 << 10
CA_FILE_LIMIT = 16 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True)
class RegularFile:
    data: bytes
    mode: int


def check_path_text(text: str) -> None:
    """Raise `ValueError` for a path no system call can take (a NUL byte in it)."""
    if "\x00" in text:
        raise ValueError("the path contains a NUL byte")


def kind_of(mode: int) -> str | None:
    """None for a regular file, else what it is instead."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "a file of an unknown kind")


def read_regular(path: Path, *, limit: int) -> RegularFile:
    """The bytes and mode of the regular file at `path`, at most `limit` bytes of it."""
    check_path_text(str(path))
    try:
        kind = kind_of(os.stat(path).st_mode)
        if kind is not None:
            raise ValueError(f"{kind}, not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        kind = kind_of(status.st_mode)
        if kind is not None:
            raise ValueError(f"{kind}, not a regular file")
        if status.st_size > limit:
            raise ValueError(f"larger than {limit >> 10} KiB")
        try:
            data = handle.read(limit + 1)  # it may have grown since
        except OSError as exc:
            raise ValueError(exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise ValueError(f"larger than {limit >> 10} KiB")
    return RegularFile(data, status.st_mode)


def expand_path(text: str) -> Path:
    """`text` as a path with `~` and `~user` expanded; `ValueError` when that cannot be."""
    check_path_text(text)
    try:
        return Path(text).expanduser()
    except RuntimeError:  # no such user, or no home directory to be found
        user = text[1:].partition("/")[0]
        whose = f"user {user!r}" if user else "the current user"
        raise ValueError(f"{text!r}: the home directory of {whose} cannot be found") from None
