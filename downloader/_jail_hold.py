"""Descriptors of an archive root and of the service's own folders below it, held open.

Every file operation of the jail walks a path one folder at a time from the root.
Walking from a path (`open(root)`, then `.partial`, then `bags`, ...) for each call
cost some twenty `openat`/`close` pairs and an `mkdir` of the root per small item.
A `Hold` opens the root once (making it once, the `os.makedirs` of the operator's
folders above it included) and each folder of `HELD` once, the first time a path
goes through it, walked without following a link as any other folder; a path below
one then starts from its descriptor.  Every `Jail` of one root shares one hold.

What a held descriptor means:

- A link planted later at a held folder (`.partial` renamed away and a link put in
  its place) is not followed either: the service keeps working in the folder it
  opened, wherever it now is.  The folder was ours and holds only our files, so
  nothing lands in a place the link names.
- A root renamed away while the service runs stays the archive of the run (as a
  process's working folder would): bags keep going to the renamed folder, whole,
  never half there and half at the configured path.  The next run opens the
  configured path.
- A held folder removed (`rm -r .partial`, or the whole root) is noticed when an
  operation below it finds nothing (`ENOENT`) and its descriptor says it has no
  name left (`st_nlink == 0`): the hold forgets it and the operation is tried once
  more, walked from the path again, so the folders are made anew.

Descriptors forgotten so are kept open until `close`, never closed under a thread
that may be using them (a closed number is reused by the next `open`).  A service's
run `retain`s the hold and `release`s it at its end, when no operation is under way:
the last run of the root in the process to end closes them all, as does the last
`Jail` of the root going away.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

__all__ = ["HELD", "Hold", "hold_of"]

HELD: frozenset[tuple[str, ...]] = frozenset(
    {(".partial",), (".partial", "bags"), (".partial", "transfers")}
)
"""The service's folders below the root whose descriptors are held once opened."""

_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

Step = Callable[[int, str, tuple[str, ...], bool, bool], int]
"""Opens folder `name` below the descriptor given, never following a link:
(parent, name, parts walked so far, create, durable) -> its descriptor."""


def _close_all(fds: dict[tuple[str, ...], int], retired: list[int]) -> None:
    for fd in [*fds.values(), *retired]:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
    retired.clear()


class Hold:
    """The held descriptors of one archive root; see the module's docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._fds: dict[tuple[str, ...], int] = {}
        self._retired: list[int] = []
        self._made = False
        self._runs = 0
        weakref.finalize(self, _close_all, self._fds, self._retired)

    def base(self, parts: list[str], *, create: bool, durable: bool, step: Step) -> tuple[int, int]:
        """The descriptor (borrowed: not to be closed) of the deepest held folder on the
        way to `parts` (the root if none), and how many of `parts` it stands for."""
        fds = self._fds
        depth = 0
        while depth < len(parts) and tuple(parts[: depth + 1]) in HELD:
            depth += 1
        while depth:
            fd = fds.get(tuple(parts[:depth]))
            if fd is not None:
                break
            depth -= 1
        else:
            fd = fds.get(())
            if fd is None or (create and not self._made):
                fd = self._open_root(create)
        # open the held folders still missing on the way, one at a time, under the lock
        while depth < len(parts) and tuple(parts[: depth + 1]) in HELD:
            fd = self._open_held(fd, tuple(parts[: depth + 1]), create, durable, step)
            depth += 1
        return fd, depth

    def _open_root(self, create: bool) -> int:
        with self._lock:
            if create and not self._made:
                # the root and the folders above it are the operator's, trusted
                os.makedirs(self.root, 0o750, exist_ok=True)
                self._made = True
            fd = self._fds.get(())
            if fd is None:
                fd = self._fds[()] = os.open(self.root, _ROOT_FLAGS)
            return fd

    def _open_held(
        self, parent: int, key: tuple[str, ...], create: bool, durable: bool, step: Step
    ) -> int:
        with self._lock:
            fd = self._fds.get(key)
            if fd is None:
                fd = self._fds[key] = step(parent, key[-1], key, create, durable)
            return fd

    def forget_if_gone(self) -> bool:
        """Whether a held folder was removed since it was opened (then every held
        descriptor is forgotten, to be opened again from the path)."""
        with self._lock:
            for fd in self._fds.values():
                try:
                    gone = os.fstat(fd).st_nlink == 0
                except OSError:
                    gone = True
                if gone:
                    self._retired.extend(self._fds.values())
                    self._fds.clear()
                    self._made = False
                    return True
        return False

    def retain(self) -> None:
        """A run begins that will `release` the hold at its end."""
        with self._lock:
            self._runs += 1

    def release(self) -> None:
        """A run ends: the last one closes every held descriptor (so one run ending never
        closes them under another run of the same root in this process)."""
        with self._lock:
            self._runs = max(0, self._runs - 1)
            if self._runs:
                return
        self.close()

    def close(self) -> None:
        """Close every held descriptor; the next operation opens them again."""
        with self._lock:
            _close_all(self._fds, self._retired)
            self._made = False


_HOLDS: weakref.WeakValueDictionary[Path, Hold] = weakref.WeakValueDictionary()
_HOLDS_LOCK = threading.Lock()


def hold_of(root: Path) -> Hold:
    """The hold of `root` shared by every `Jail` of it alive now (no I/O here)."""
    with _HOLDS_LOCK:
        hold = _HOLDS.get(root)
        if hold is None:
            hold = _HOLDS[root] = Hold(root)
        return hold
