"""Opening a PostgreSQL state database: name it safely, recognise it, migrate it.

A database (more exactly: the first schema on its `search_path`) is ours when
it holds the table `downloader_schema`, whose one row names the program and the
schema version.  An empty schema is initialised; one that holds other tables
but not ours, or ours at a version newer than this program knows, is refused
with a `StoreError` that says which database and why.  Several hosts starting
at once migrate one after the other: the migration holds a transaction-level
advisory lock and reads the version again under it.

The URL may hold a password, so nothing here ever shows it: `describe` gives
the form used in every message, and `scrub` takes the password out of a
driver's text in case the driver quoted it.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg

from downloader.errors import StoreError
from downloader.store._migrations import MIGRATIONS, SCHEMA_VERSION, render

__all__ = ["APPLICATION", "MIGRATION_LOCK", "describe", "prepare", "scrub", "secrets_of"]

APPLICATION = "downloader"
"""Written in `downloader_schema.application` of every database we create."""

MIGRATION_LOCK = 0x444C5354_0001
"""The advisory lock taken while checking and migrating the schema."""

_MARKER = "downloader_schema"


def describe(url: str) -> str:
    """`url` without password or query: `postgresql://user@host:port/db`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://(unreadable URL)"
    user = f"{parts.username}@" if parts.username else ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def secrets_of(url: str) -> tuple[str, ...]:
    """Every form in which `url`'s password might be quoted back at us."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            found |= {parts.password, unquote(parts.password)}
        for pair in parts.query.split("&"):
            name, _, value = pair.partition("=")
            if name == "password" and value:
                found |= {value, unquote(value)}
    except ValueError:
        pass
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by `***`."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def prepare(conn: psycopg.Connection[tuple[object, ...]], where: str) -> None:
    """Refuse a database that is not ours, then bring its schema up to date."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        version = _version(conn, where)
        if version == SCHEMA_VERSION:
            return
        if version is None:  # an empty schema: make it ours
            version = 0
            conn.execute(
                f"CREATE TABLE {_MARKER} (application TEXT NOT NULL, version INTEGER NOT NULL)"
            )
            conn.execute(
                f"INSERT INTO {_MARKER} (application, version) VALUES (%s, 0)",  # noqa: S608
                (APPLICATION,),
            )
        for migration in MIGRATIONS[version:]:
            for statement in render(migration, "postgresql"):
                conn.execute(statement.encode())
            conn.execute(
                f"UPDATE {_MARKER} SET version = %s",  # noqa: S608
                (migration.version,),
            )


def _version(conn: psycopg.Connection[tuple[object, ...]], where: str) -> int | None:
    """The schema version of a database of ours; None for an empty one."""
    cursor = conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() ORDER BY table_name"
    )
    tables = [str(row[0]) for row in cursor.fetchall()]
    if not tables:
        return None
    if _MARKER not in tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"state database {where} holds tables of some other program ({shown}) and no "
            f"{_MARKER}; refusing to touch it: give downloader a database of its own"
        )
    cursor = conn.execute(f"SELECT application, version FROM {_MARKER}")  # noqa: S608
    rows = cursor.fetchall()
    if len(rows) != 1 or rows[0][0] != APPLICATION:
        raise StoreError(
            f"state database {where}: {_MARKER} does not name {APPLICATION}; refusing to touch it"
        )
    version = int(str(rows[0][1]))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"state database {where} has schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this version of downloader knows; upgrade downloader"
        )
    return version
