"""What one archived item costs in syscalls: fsyncs, and store round trips.

The downloader runs once under `strace -f --seccomp-bpf` (only the traced calls stop
it), tracing the syncs and the positional writes, with each descriptor's path
(`-y`) and the first 8 bytes written (`-xx -s 8`).  From that log:

- fsyncs: every `fsync`, `fdatasync` and `syncfs`, of any file, folder or file
  system; those of folders (a path whose last part has no `.`: every file the
  bench makes has a suffix, `.bin`, `.txt`, `.json`, `.part`, `.tmp`) and those of
  the state database's files are also counted on their own;
- store round trips: the write transactions that reached the database, counted as
  its WAL's commit frames.  SQLite (WAL mode) writes each frame as a 24-byte header
  then the page; a header whose bytes 4-7 (the database size after the commit) are
  not zero ends a transaction.  A transaction that only reads writes nothing and is
  not counted: these figures are the round trips that change the store.

The counts are divided by the items archived.  strace slows the process, so this
row's times are not compared with anything; only its counts are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SYNCS = ("fsync", "fdatasync", "syncfs")
TRACED = "trace=fsync,fdatasync,syncfs,pwrite64"
WAL_FRAME_HEADER = 24

_CALL = re.compile(
    r"^\d+\s+(?P<call>\w+)\((?P<fd>-?\d+)<(?P<path>[^>]*)>"
    r'(?:, "(?P<data>(?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, (?P<count>\d+))?'
)


def strace(cmd: Sequence[str], log: Path) -> list[str]:
    """`cmd` under strace, its log in `log`."""
    return [
        "strace",
        "-f",
        "--seccomp-bpf",
        "-qq",
        "-e",
        "signal=none",
        "-e",
        TRACED,
        "-y",
        "-xx",
        "-s",
        "8",
        "-o",
        str(log),
        *cmd,
    ]


def _unescape(text: str) -> bytes:
    """`-xx` writes every byte as `\\xNN`."""
    return bytes.fromhex(text.replace("\\x", ""))


@dataclass(frozen=True)
class Counts:
    fsyncs: int
    folder_fsyncs: int
    store_fsyncs: int
    store_commits: int

    def per_item(self, items: int) -> dict[str, float]:
        return {
            "fsyncs/item": self.fsyncs / items,
            "folder fsyncs/item": self.folder_fsyncs / items,
            "store fsyncs/item": self.store_fsyncs / items,
            "store transactions/item": self.store_commits / items,
        }


def count(lines: Iterable[str], store: str) -> Counts:
    """The syncs and the store's commits in an strace log; `store` is the database's
    path (its `-wal` and `-journal` files are its own too)."""
    fsyncs = folder_fsyncs = store_fsyncs = commits = 0
    for line in lines:
        m = _CALL.match(line)
        if m is None:
            continue
        path = _unescape(m["path"]).decode(errors="replace")
        ours = path.startswith(store)
        if m["call"] in SYNCS:
            fsyncs += 1
            store_fsyncs += ours
            folder_fsyncs += "." not in path.rsplit("/", 1)[-1]
        elif (
            m["call"] == "pwrite64"
            and ours
            and path.endswith("-wal")
            and m["count"] == str(WAL_FRAME_HEADER)
            and m["data"] is not None
        ):
            head = _unescape(m["data"])
            commits += len(head) >= 8 and head[4:8] != b"\0\0\0\0"
    return Counts(fsyncs, folder_fsyncs, store_fsyncs, commits)
