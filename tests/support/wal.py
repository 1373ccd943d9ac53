"""Reading an SQLite WAL file from outside: how many transactions it holds.

A WAL file is a 32-byte header, then frames of a 24-byte header and one page.  A
frame whose second word (the database's size in pages) is not zero ends a
committed transaction; a frame counts only while its salts equal the header's
(older frames left behind by a restarted WAL do not).  Counting those frames
tells how many write transactions reached the log, with no help from the code
that wrote them (https://www.sqlite.org/fileformat.html#the_write_ahead_log).
"""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["wal_commits"]

_HEADER = 32
_FRAME_HEADER = 24


def wal_commits(database: Path) -> int:
    """Committed transactions in `database`'s WAL (0 when there is none)."""
    try:
        data = Path(f"{database}-wal").read_bytes()
    except FileNotFoundError:
        return 0
    if len(data) < _HEADER:
        return 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    commits = 0
    offset = _HEADER
    while offset + _FRAME_HEADER + page_size <= len(data):
        header = data[offset : offset + _FRAME_HEADER]
        if header[8:16] != salts:
            break
        if struct.unpack(">I", header[4:8])[0] != 0:
            commits += 1
        offset += _FRAME_HEADER + page_size
    return commits
