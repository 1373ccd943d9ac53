"""The daemon's decisions, kept pure: facts in, answers out.

What the status line says, how fast bytes are moving over a recent window,
whether the watchlist file changed since it was last read, whether a freshly
read watchlist can be trusted at all, and which changed settings only a
restart can apply.  No anyio, no sockets, no file I/O here: the shell in
`_daemon.py` gathers the facts (a `stat`, store counts, the monotonic clock)
and acts on the answers.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from downloader.config import Settings
from downloader.store import ItemState
from downloader.watchlist import WatchlistParse

__all__ = [
    "FileStamp",
    "Throughput",
    "format_rate",
    "has_changed",
    "is_whole_file_failure",
    "restart_keys",
    "status_text",
]


@dataclass(frozen=True)
class FileStamp:
    """What a cheap `stat` says about a file; a different stamp means "read it again"."""

    mtime_ns: int
    size: int
    inode: int


def has_changed(previous: FileStamp | None, current: FileStamp | None) -> bool:
    """Whether the watchlist should be read again.

    Any difference counts (an editor that saves by renaming changes the inode
    even when size and time look alike).  A file that vanished is not a change
    to act on: the entries stay as they are until a file is back.
    """
    if current is None:
        return False
    return previous != current


def is_whole_file_failure(parse: WatchlistParse) -> bool:
    """True when nothing of the file can be trusted: unreadable, not UTF-8, or a TOML
    syntax error.  Such a file keeps the previous item set; a file with a few bad
    entries does not (its good entries are used).
    """
    return not parse.items and any(p.key == "" for p in parse.problems)


class Throughput:
    """Bytes per second over the last `window` seconds, from samples of a byte total.

    The total is what the store says is on disk for all items; it may drop
    (an item removed from the watchlist, a transfer that restarts from zero),
    so only increases count as bytes moved.
    """

    def __init__(self, window: float = 20.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, total: int) -> None:
        """Record the byte total seen at monotonic time `at`."""
        self._samples.append((at, total))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rate(self) -> float:
        """Bytes per second over the samples kept; 0.0 until two samples exist."""
        if len(self._samples) < 2:
            return 0.0
        span = self._samples[-1][0] - self._samples[0][0]
        if span <= 0:
            return 0.0
        samples = list(self._samples)
        moved = sum(max(0, b[1] - a[1]) for a, b in itertools.pairwise(samples))
        return moved / span


def format_rate(bytes_per_s: float) -> str:
    """`12.5 MB/s`: decimal units, as network speeds are usually written."""
    for unit, scale in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if bytes_per_s >= scale:
            return f"{bytes_per_s / scale:.1f} {unit}"
    return f"{bytes_per_s:.0f} B/s"


# the order a reader scans: what moves first, then what is done
_STATUS_ORDER = (
    ItemState.DOWNLOADING,
    ItemState.VERIFYING,
    ItemState.PREPARING,
    ItemState.REQUESTED,
    ItemState.WAITING,
    ItemState.ARCHIVED,
    ItemState.FAILED,
)


def status_text(counts: Mapping[ItemState, int], bytes_per_s: float, *, stopping: bool) -> str:
    """The one-line STATUS= text: counts per state (zeros left out) and throughput."""
    parts = [f"{counts[s]} {s.value}" for s in _STATUS_ORDER if counts.get(s, 0)]
    head = ", ".join(parts) if parts else "no items"
    prefix = "stopping: " if stopping else ""
    return f"{prefix}{head}; {format_rate(bytes_per_s)}"


# Settings a running daemon takes over on SIGHUP; every other difference needs a restart.
LIVE_KEYS = frozenset(
    {"watchlist.path", "watchlist.check_interval", "service.grace_period"}
    | {f"poll.{f.name}" for f in fields(Settings().poll)}
    | {f"retry.{f.name}" for f in fields(Settings().retry)}
)
_LIVE_TABLES = ("providers",)


def _flatten(settings: Settings) -> dict[str, Any]:
    """`table.key` -> value, named as in the config file."""
    flat: dict[str, Any] = {}
    for table in (
        "archive",
        "state",
        "watchlist",
        "poll",
        "retry",
        "service",
        "providers",
        "metrics",
    ):
        value = getattr(settings, table)
        for f in fields(value):
            flat[f"{table}.{f.name}"] = getattr(value, f.name)
    limits, timeouts = settings.transfer.limits, settings.transfer.timeouts
    for f in fields(limits):
        flat[f"transfer.{f.name}"] = getattr(limits, f.name)
    for f in fields(timeouts):
        flat[f"transfer.{f.name}_timeout"] = getattr(timeouts, f.name)
    return flat


def restart_keys(old: Settings, new: Settings) -> list[str]:
    """Changed keys that a reload cannot apply (sorted); the daemon keeps their old values."""
    before, after = _flatten(old), _flatten(new)
    return sorted(
        key
        for key in before
        if before[key] != after[key]
        and key not in LIVE_KEYS
        and not key.startswith(tuple(f"{t}." for t in _LIVE_TABLES))
    )
