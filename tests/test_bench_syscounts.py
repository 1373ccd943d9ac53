"""The per-item costs read from strace: every sync counted, the store's own apart, and
each write transaction of the store counted once, by its WAL commit frame."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.syscounts import count, strace


def _hex(text: str) -> str:
    return "".join(f"\\x{b:02x}" for b in text.encode())


def _line(call: str, path: str, rest: str = "") -> str:
    return f"4242 {call}(7<{_hex(path)}>{rest}"


def test_syncs_and_commit_frames_are_told_apart() -> None:
    db = "/run/state.db"
    commit = '"\\x00\\x00\\x00\\x03\\x00\\x00\\x00\\x03"..., 24, 16512) = 24'
    page = '"\\x00\\x00\\x00\\x02\\x00\\x00\\x00\\x00"..., 24, 12392) = 24'
    lines = [
        _line("pwrite64", f"{db}-wal", ", " + page),  # a frame, not the last of its commit
        _line("pwrite64", f"{db}-wal", ", " + commit),
        # a page that starts like a commit header but is 4096 bytes long
        _line(
            "pwrite64",
            f"{db}-wal",
            ', "\\x00\\x00\\x00\\x03\\x00\\x00\\x00\\x03"..., 4096, 0) = 4096',
        ),
        # a thread's call split by another's: the first half has what is counted
        _line("pwrite64", f"{db}-wal", ", " + commit.split(")")[0] + " <unfinished ...>"),
        "4243 <... pwrite64 resumed>) = 24",
        _line("fdatasync", f"{db}-wal", ") = 0"),
        _line("fsync", "/run/archive/http/w3-00001/data/00001.bin", ") = 0"),
        _line("fsync", "/run/archive/http/w3-00001", " <unfinished ...>"),
        _line("syncfs", "/run/archive", ") = 0"),
        # the payload's own positional write, 24 bytes by chance: not the store's
        _line("pwrite64", "/run/archive/x.bin-wal.part", ", " + commit),
    ]
    counts = count(lines, db)
    assert (counts.fsyncs, counts.store_fsyncs, counts.store_commits) == (4, 1, 2)
    assert counts.folder_fsyncs == 2  # the item's folder and the archive (syncfs)
    assert counts.per_item(2) == {
        "fsyncs/item": 2.0,
        "folder fsyncs/item": 1.0,
        "store fsyncs/item": 0.5,
        "store transactions/item": 1.0,
    }


SQLITE = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode = WAL")
c.execute("CREATE TABLE t (x)")
for i in range(3):  # three write transactions of two pages or more each
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO t VALUES (?)", ("x" * 5000,))
    c.execute("INSERT INTO t VALUES (?)", (i,))
    c.execute("COMMIT")
c.execute("BEGIN")  # a read: no round trip that changes the store
c.execute("SELECT * FROM t").fetchall()
c.execute("COMMIT")
c.close()
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is a bench tool")
def test_a_real_sqlite_program_under_strace_shows_each_write_transaction(tmp_path: Path) -> None:
    db, log = tmp_path / "state.db", tmp_path / "strace.log"
    cmd = strace([sys.executable, "-c", SQLITE, str(db)], log)
    subprocess.run(cmd, check=True, timeout=120)
    with log.open() as lines:
        counts = count(lines, str(db))
    assert counts.store_commits == 4  # CREATE TABLE and the three inserts
    assert counts.store_fsyncs >= 1  # at least the checkpoint when the last connection closes
    assert counts.fsyncs >= counts.store_fsyncs
