"""The state store: what is known about every item, kept across restarts.

`open_store(url)` picks the backend from `state.url`; the rest of the program
sees only the `StateStore` protocol, the records and the item life cycle::

    async with open_store("sqlite:////var/lib/downloader/state.db") as store:
        await store.sync_watchlist(refs, now=clock.utcnow())

`sqlite:///PATH` is the embedded store of one host; `postgresql://USER@HOST/DB`
is a database shared by several hosts that split the work by leases.  Each
backend (sqlite3, psycopg) is loaded on first use, so importing the pure parts,
such as `downloader.store._lifecycle`, pulls in no I/O library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from downloader.errors import StoreError
from downloader.store._lifecycle import (
    TERMINAL,
    TRANSITIONS,
    ItemState,
    check_transition,
    is_terminal,
)
from downloader.store._models import (
    AssetRecord,
    AssetState,
    EventRecord,
    ItemRecord,
    ItemSummary,
    PackageRecord,
    SyncResult,
)
from downloader.store._store import StateStore

if TYPE_CHECKING:
    from downloader.observe import Observer
    from downloader.store._postgres import PostgresStore
    from downloader.store._sqlite import SQLiteStore

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "AssetRecord",
    "AssetState",
    "EventRecord",
    "ItemRecord",
    "ItemState",
    "ItemSummary",
    "PackageRecord",
    "PostgresStore",
    "SQLiteStore",
    "StateStore",
    "SyncResult",
    "check_transition",
    "is_terminal",
    "open_early",
    "open_store",
    "sqlite_path",
]

_SQLITE = "sqlite://"
_MEMORY_FORMS = ("sqlite://:memory:", "sqlite:///:memory:")


def sqlite_path(url: str) -> str:
    """The file named by a `sqlite:` URL: `sqlite:///relative`, `sqlite:////absolute`.

    `sqlite://:memory:` (or `sqlite:///:memory:`) gives `:memory:`, a private
    database that lives as long as the store.  Raises `StoreError` otherwise.
    """
    if url in _MEMORY_FORMS:
        return ":memory:"
    if not url.startswith(_SQLITE + "/") or len(url) <= len(_SQLITE) + 1:
        raise StoreError(
            f"{url!r} is not a SQLite state URL: write sqlite:////absolute/path.db "
            "or sqlite:///relative/path.db"
        )
    return url[len(_SQLITE) + 1 :]


def open_early(url: str, *, busy_timeout: float = 10.0) -> None:
    """Begin opening the SQLite database `url` names, on a thread of its own, for the
    `open_store(url)` that follows to take (`_early`): the program's imports run
    meanwhile.  Any other URL, or one that is no database URL, is left to `open_store`."""
    if url.partition("://")[0] != "sqlite":
        return
    try:
        path = sqlite_path(url)
    except StoreError:  # said by `open_store`, where it is handled
        return
    from downloader.store._early import open_early as begin

    begin(path, busy_timeout=busy_timeout)


def open_store(
    url: str, *, busy_timeout: float = 10.0, observer: Observer | None = None
) -> StateStore:
    """The state store `state.url` names, not yet opened (use `async with`); `observer`
    is told of each write transaction it commits."""
    scheme = url.partition("://")[0]
    if scheme == "sqlite":
        from downloader.store._sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url), busy_timeout=busy_timeout, observer=observer)
    if scheme in ("postgresql", "postgres"):
        from downloader.store._postgres import PostgresStore

        return PostgresStore(url, timeout=max(busy_timeout, 30.0), observer=observer)
    # Only the scheme: the rest of a database URL may hold a password.
    raise StoreError(
        f"state.url: unknown scheme {scheme!r}; use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def __getattr__(name: str) -> Any:
    if name == "SQLiteStore":
        from downloader.store._sqlite import SQLiteStore

        return SQLiteStore
    if name == "PostgresStore":
        from downloader.store._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
