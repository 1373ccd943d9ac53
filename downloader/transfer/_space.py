"""Free space on the archive's filesystem: writes wait rather than fill the disk.

`SpaceGuard.write` is the one place the engine puts bytes on disk.  Before a
write it asks the filesystem how much is free; below `min_free_space` (plus the
write itself) the transfer pauses, says so once in the log and to the caller's
`on_wait` (which the pipeline shows as the item's status), re-checks every
`interval` seconds on the injected clock, and goes on when space is freed.  A
write the filesystem refuses with ENOSPC or EDQUOT waits the same way and is
then repeated at the same offset, so a full disk never fails an item, never
loses the checkpoint and never leaves a short file under a final name (only
the transfer's `.part` file is ever written here).

Before the first byte of a file whose size is known, `room_for_file` asks for room
for all of it: a file larger than the free space waits (with that reason) before it
writes anything, rather than filling the disk down to the minimum and waiting
there, and a file that could not fit even on the empty filesystem fails at once.
The room granted is promised to that transfer until it is written: other transfers
count it as taken, so two files that each fit alone do not fill the disk together.

The filesystem is asked (`statvfs`) at most once per `FRESH_FOR`, and again once
`FRESH_BYTES` were written since: in between, its last answer less what was written
since stands for it (`is_fresh`).  Many small files a second asked three times each
before; what is promised is counted by the reservations either way, and a transfer
that waits for room asks anew at every look.

`shortfall`, `can_ever_fit`, `is_fresh` and `is_disk_full` are the pure decisions; the
rest is the shell.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import structlog

from downloader.clock import Clock
from downloader.errors import FilesystemError

__all__ = [
    "FRESH_BYTES",
    "FRESH_FOR",
    "SpaceGuard",
    "can_ever_fit",
    "free_bytes",
    "is_disk_full",
    "is_fresh",
    "shortfall",
    "total_bytes",
]

log = structlog.get_logger("downloader.transfer")

Notify = Callable[[str | None], Awaitable[None]]
"""Told why a transfer waits (a sentence for people), then None when it goes on."""

FRESH_FOR = 1.0  # seconds an answer of the filesystem's is reused...
FRESH_BYTES = 64 << 20  # ...while fewer bytes than this were written since

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_CAUSES = {"full": "ENOSPC", "low": "below min_free_space", "file": "file larger than free space"}


def shortfall(free: int, need: int, minimum: int) -> int:
    """Bytes missing for a write of `need` to leave at least `minimum` free (0: none)."""
    return max(0, minimum + need - free)


def can_ever_fit(need: int, capacity: int, minimum: int) -> bool:
    """Whether `need` bytes could be written with `minimum` left free on an empty filesystem
    of `capacity` bytes."""
    return need + minimum <= capacity


def is_fresh(age: float, written: int) -> bool:
    """Whether a free count measured `age` seconds ago, `written` bytes ago, still stands."""
    return 0 <= age <= FRESH_FOR and written < FRESH_BYTES


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` is the filesystem saying it (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def total_bytes(path: Path) -> int:
    """The size of the filesystem holding `path`, as an unprivileged writer may use it."""
    st = os.statvfs(path)
    return (st.f_blocks - (st.f_bfree - st.f_bavail)) * st.f_frsize


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


class SpaceGuard:
    """Keeps `minimum` bytes free on the filesystem of `path`; shared by all transfers."""

    def __init__(
        self,
        path: Path,
        minimum: int,
        clock: Clock,
        *,
        interval: float = 5.0,
        measure: Callable[[Path], int] = free_bytes,
        capacity: Callable[[Path], int] = total_bytes,
    ) -> None:
        self.path = path
        self.minimum = minimum
        self.interval = interval
        self._clock = clock
        self._measure = measure
        self._capacity = capacity
        self._reserved: dict[str, int] = {}
        """Per transfer (by key): the bytes its file still needs, promised by `reserve`."""
        self._seen: tuple[int, float] | None = None  # the last free count, and when
        self._written = 0  # bytes written since it

    def _free(self, key: str | None = None, *, fresh: bool = False) -> int | None:
        """The free bytes, less what other transfers than `key`'s were promised;
        measured anew when `fresh` or when the last count is too old (`is_fresh`)."""
        now = self._clock.monotonic()
        seen = self._seen
        if fresh or seen is None or not is_fresh(now - seen[1], self._written):
            try:
                seen = self._seen = (self._measure(self.path), now)
            except OSError:
                self._seen = None
                return None  # the folder is gone or unreadable: the write itself will say why
            self._written = 0
        free = seen[0] - self._written
        if key is None:
            return free
        return free - sum(n for other, n in self._reserved.items() if other != key)

    async def room_for(self, need: int, notify: Notify | None = None, *, key: str = "") -> None:
        """Return once `need` more bytes leave at least `minimum` free; wait until then."""
        free = self._free(key)
        if free is None or not shortfall(free, need, self.minimum):
            return
        await self._wait(need, free, notify, key=key, reason="low")

    def reserve(self, need: int, *, key: str) -> bool:
        """Promise the `need` bytes a file of transfer `key` still needs, if they fit above
        `minimum` besides every other promise; whether they did.  Each write of `key`
        uses up its promise, and `release` drops what is left of it."""
        free = self._free(key)
        if free is not None and shortfall(free, need, self.minimum):
            return False
        self._reserved[key] = need
        return True

    def release(self, key: str) -> None:
        """Transfer `key` writes no more: its promise, if any, is given back."""
        self._reserved.pop(key, None)

    async def room_for_file(
        self, need: int, notify: Notify | None = None, *, key: str = ""
    ) -> None:
        """Before writing a file that still needs `need` bytes: return once all of them fit
        above `minimum` (and are promised to `key`, as by `reserve`), waiting and saying
        why until then; raise `FilesystemError` (ENOSPC, not retryable) when they could
        not fit even on the empty filesystem."""
        try:
            capacity = self._capacity(self.path)
        except OSError:
            capacity = None
        if capacity is not None and not can_ever_fit(need, capacity, self.minimum):
            raise FilesystemError(
                f"the file needs {_mib(need)}, more than the {_mib(capacity)} of the whole "
                f"filesystem less min_free_space ({_mib(self.minimum)})",
                path=str(self.path),
                errno=errno.ENOSPC,
                retryable=False,
            )
        while not self.reserve(need, key=key):
            free = self._free(key)
            await self._wait(need, 0 if free is None else free, notify, key=key, reason="file")

    async def write(
        self,
        write: Callable[[], object],
        need: int,
        notify: Notify | None = None,
        *,
        key: str = "",
    ) -> None:
        """Run the blocking `write` of `need` bytes in a thread once there is room for it.

        `write` must be safe to repeat (a positional write of the same bytes): after
        ENOSPC it runs again, from the start, once space has been freed.
        """
        await self.room_for(need, notify, key=key)
        while True:
            try:
                await anyio.to_thread.run_sync(write)
                self.used(need, key=key)
                return
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                await self.after_full(need, notify, key=key)

    def used(self, written: int, *, key: str) -> None:
        """`written` bytes of transfer `key` are on disk: that much of its promise is used."""
        self._written += written
        if key in self._reserved:
            self._reserved[key] = max(0, self._reserved[key] - written)

    async def after_full(self, need: int, notify: Notify | None = None, *, key: str = "") -> None:
        """After a write of `need` bytes met a full disk: return once it may be tried again."""
        free = self._free(fresh=True)
        await self._wait(need, 0 if free is None else free, notify, key=key, reason="full")

    async def _wait(
        self, need: int, free: int, notify: Notify | None, *, key: str, reason: str
    ) -> None:
        # after ENOSPC the filesystem's own count is not trusted alone: wait for the
        # write plus the minimum (at least the write twice over when the minimum is 0)
        minimum = max(self.minimum, need) if reason == "full" else self.minimum
        message = (
            f"waiting for disk space: {_mib(free)} free on {self.path}, "
            f"min_free_space is {_mib(self.minimum)}"
        )
        if reason == "file":
            message += f"; the file needs {_mib(need)} more"
        log.warning(
            "disk.waiting_for_space",
            key=key,
            path=str(self.path),
            free=free,
            min_free_space=self.minimum,
            cause=_CAUSES[reason],
            need=need,
        )
        if notify is not None:
            await notify(message)
        started = self._clock.monotonic()
        while True:
            await self._clock.sleep(self.interval)
            now_free = self._free(key, fresh=True)
            if now_free is None or not shortfall(now_free, need, minimum):
                break
        log.info(
            "disk.space_available",
            key=key,
            path=str(self.path),
            free=now_free,
            waited=round(self._clock.monotonic() - started, 3),
        )
        if notify is not None:
            await notify(None)
