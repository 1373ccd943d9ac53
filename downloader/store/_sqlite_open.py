"""Opening an SQLite state database: recognise it, check it, migrate it.

Blocking code, run in a worker thread by `SQLiteStore`.  A file is ours when its
header carries our `application_id`; its schema version is `user_version`.  A
brand-new (empty) file is initialised; anything else that is not ours, a
damaged file, or a schema newer than this program knows is refused with a
`StoreError` that says which file and why.  The program never starts over with
an empty state on its own: that would re-request every package.

Durability: the database runs in WAL mode.  With `synchronous=NORMAL` a commit
is in the WAL file (in the OS page cache) when it returns, so it survives the
process being killed (`kill -9`, OOM); only a power loss or OS crash can lose
the last commits, never corrupt the file.  Commits that record what a platform
did for us (a requested package, a state change) are made with
`synchronous=FULL`, which also syncs the WAL, so they survive a power loss too.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from downloader.errors import StoreError
from downloader.store._migrations import MIGRATIONS, SCHEMA_VERSION, render

__all__ = ["APPLICATION_ID", "MEMORY", "busy_timeout", "connect"]

APPLICATION_ID = 0x444C5354
"""Written in the header of every state database we create ("DLST")."""

MEMORY = ":memory:"

_FILE_MODE = 0o640
_DIR_MODE = 0o750


def connect(path: str, *, busy_timeout: float) -> sqlite3.Connection:
    """An open, checked, up-to-date connection to the state database at `path`.

    `path` may be `MEMORY`.  Raises `StoreError` for anything that is not a
    usable state database of ours.
    """
    if path != MEMORY:
        _create_file(Path(path))
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"state database {path}: cannot open it: {exc}") from exc
    try:
        _prepare(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _create_file(path: Path) -> None:
    # Created here rather than by SQLite so the mode is ours (SQLite copies it to
    # the -wal and -shm files); the state names every item and package.
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE))
    except FileExistsError as exc:
        if not path.is_file():  # a race with another process is fine, anything else is not
            raise StoreError(f"state database {path}: cannot create it: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"state database {path}: cannot create it: {exc}") from exc


def _prepare(conn: sqlite3.Connection, path: str) -> None:
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        app_id, version, tables = _identify(conn)
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise StoreError(f"state database {path}: cannot read it: {exc}") from exc
        raise StoreError(
            f"state database {path} is locked by another process (waited "
            f"{busy_timeout(conn):g}s); is another downloader using it?"
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"state database {path} is not an SQLite database or is damaged ({exc}); "
            "move it aside to start with an empty state"
        ) from exc
    _check_ours(path, app_id, version, tables)
    try:
        if app_id == APPLICATION_ID:
            _check_integrity(conn, path)
        if path != MEMORY and _pragma(conn, "journal_mode") != "wal":
            mode = _switch_to_wal(conn)
            if mode != "wal":
                raise StoreError(f"state database {path}: cannot use WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION or app_id != APPLICATION_ID:
            _migrate(conn, path)
    except sqlite3.Error as exc:
        raise StoreError(f"state database {path}: {exc}") from exc


def busy_timeout(conn: sqlite3.Connection) -> float:
    """The connection's busy timeout in seconds (0 when it cannot be read)."""
    try:
        return float(conn.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000
    except sqlite3.Error:
        return 0.0


def _switch_to_wal(conn: sqlite3.Connection, patience: float = 10.0) -> object:
    # Changing the journal mode does not wait on the busy timeout: while another
    # process migrates the same new file it fails with "locked" at once, so wait here.
    deadline = time.monotonic() + patience
    while True:
        try:
            return _pragma(conn, "journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _pragma(conn: sqlite3.Connection, statement: str) -> object:
    row = conn.execute(f"PRAGMA {statement}").fetchone()
    return None if row is None else row[0]


def _identify(conn: sqlite3.Connection) -> tuple[int, int, int]:
    # one read transaction: all three from the same snapshot, even while another
    # process is migrating the same new file (else: its tables without its id)
    conn.execute("BEGIN")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        conn.execute("COMMIT")
    return int(app_id), int(version), int(tables)


def _check_ours(path: str, app_id: int, version: int, tables: int) -> None:
    if app_id == 0 and version == 0 and tables == 0:
        return  # a new, empty file
    if app_id != APPLICATION_ID:
        raise StoreError(
            f"state database {path} is an SQLite database of some other program "
            f"(application_id {app_id:#x}, {tables} schema objects); refusing to touch it"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"state database {path} has schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this version of downloader knows; upgrade downloader"
        )


def _check_integrity(conn: sqlite3.Connection, path: str) -> None:
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        raise StoreError(
            f"state database {path} is damaged: {'; '.join(problems)}; "
            "restore a backup or move it aside to start with an empty state"
        )


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    # IMMEDIATE takes the write lock first, so two processes opening a new file at
    # once migrate it one after the other; the version is re-read under the lock.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(f"state database {path} was upgraded by a newer downloader")
        for migration in MIGRATIONS[version:]:
            for statement in render(migration, "sqlite"):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migration.version}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
