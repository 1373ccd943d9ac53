"""What SQLite and PostgreSQL spell differently, and nothing else.

The store's operations (`_item_ops`, `_store`, `_sync_ops`, `_source_ops`,
`_outbox_ops`) are written once, in SQL with `?` placeholders, and ask a
`Dialect` for the few pieces that differ: the placeholder itself, the row locks
that make a read-check-write one step on PostgreSQL (SQLite's `BEGIN IMMEDIATE`
already holds the whole database), how a list of keys is passed, the name of
the two-argument maximum, the collation that orders keys byte by byte, the lock
that serialises watchlist syncs across hosts, and the shape of the query that
finds due items.  Pure: no database driver is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from downloader.store._lifecycle import TERMINAL, ItemState

__all__ = ["POSTGRES", "SQLITE", "SYNC_LOCK", "UNFINISHED", "Dialect"]

SYNC_LOCK = 0x444C5354_0002
"""Advisory lock (PostgreSQL): one watchlist sync at a time across all hosts."""

# Queries are put together from constant column lists and state names only;
# every value goes through a placeholder.
_TERMINAL_SQL = ", ".join(f"'{state.value}'" for state in sorted(TERMINAL))
UNFINISHED = f"active = 1 AND state NOT IN ({_TERMINAL_SQL})"
_WAITING_KINDS = f" AND state = '{ItemState.WAITING.value}' AND provider || ':' || kind"


@lru_cache(maxsize=256)
def _percent_s(statement: str) -> str:
    return statement.replace("%", "%%").replace("?", "%s")


@dataclass(frozen=True)
class Dialect:
    """One database's spelling of the store's SQL (see the module's docstring)."""

    name: str
    parts_due: bool
    """Due items found in parts that walk the `items_turns` index (SQLite, whose
    planner would otherwise read every active item); else one query with row locks."""
    turns: str
    """The items table as the scheduler's questions read it."""
    row_lock: str
    """Appended to a read whose row a write of the same transaction depends on."""
    skip_locked: str
    """Appended to a claim's read: rows another claimer holds are skipped."""
    greatest: str
    collate: str
    """Appended to an ORDER BY on keys: byte order, as SQLite's default."""
    sync_lock: str | None
    """Taken before a watchlist sync or a listing's additions (None: not needed)."""
    placeholder: str = "?"

    def sql(self, statement: str) -> str:
        """`statement`, written with `?` placeholders, in this dialect."""
        return statement if self.placeholder == "?" else _percent_s(statement)

    def keys_in(self, column: str) -> str:
        """`column` is one of the keys passed as one value (see `keys_value`)."""
        if self.name == "sqlite":
            return f"{column} IN (SELECT value FROM json_each(?))"  # noqa: S608
        return f"{column} = ANY(?)"

    def keys_value(self, keys: Collection[str]) -> object:
        listed = sorted(keys)
        return json.dumps(listed) if self.name == "sqlite" else listed

    def due(
        self, now: int, limit: int, kinds: Collection[str] | None
    ) -> tuple[str, Sequence[object]]:
        """The query (with `?` placeholders) of up to `limit` due keys, soonest first,
        and its values."""
        only = "" if kinds is None else f"{_WAITING_KINDS} {'IN' if self.parts_due else '='} "
        if kinds is not None:
            only += "(SELECT value FROM json_each(?))" if self.parts_due else "ANY(?)"
        if self.parts_due:
            return _parts_due(self.turns + only), _parts_values(
                now, limit, None if kinds is None else self.keys_value(kinds)
            )
        sql = (
            f"SELECT key FROM items WHERE {UNFINISHED}{only}"  # noqa: S608
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " AND (lease_owner IS NULL OR lease_expires_at <= ?)"
            f" ORDER BY COALESCE(next_attempt_at, 0), created_at, key{self.collate}"
            f" LIMIT ?{self.skip_locked}"
        )
        values = () if kinds is None else (self.keys_value(kinds),)
        return sql, (*values, now, now, limit)


def _parts_due(turns: str) -> str:
    # three parts the `items_turns` index answers without reading the items that are
    # not due: unleased with no time set (due now), unleased and due by now, and those
    # under a lease that ran out; the first two read in the index's order and stop at
    # `limit`, however many are due
    return (
        "SELECT key FROM ("  # noqa: S608
        f" SELECT * FROM (SELECT key, 0 AS due, created_at FROM {turns}"
        " AND lease_owner IS NULL AND next_attempt_at IS NULL"
        " ORDER BY created_at, key LIMIT ?)"
        " UNION ALL"
        f" SELECT * FROM (SELECT key, next_attempt_at, created_at FROM {turns}"
        " AND lease_owner IS NULL AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at, created_at, key LIMIT ?)"
        " UNION ALL"
        f" SELECT key, COALESCE(next_attempt_at, 0), created_at FROM {turns}"
        " AND lease_owner IS NOT NULL AND lease_expires_at <= ?"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        ") ORDER BY due, created_at, key LIMIT ?"
    )


def _parts_values(now: int, n: int, kinds: object | None) -> tuple[object, ...]:
    if kinds is None:
        return (n, now, n, now, now, n)
    return (kinds, n, kinds, now, n, kinds, now, now, n)


# The two spellings side by side, one row per difference (`Dialect`'s fields).
# SQLite's items table is named with its index: without statistics SQLite would
# walk every active item instead.
_SPELLINGS: dict[str, tuple[Any, Any]] = {
    # field: (SQLite's, PostgreSQL's)
    "name": ("sqlite", "postgresql"),
    "parts_due": (True, False),
    "turns": (f"items INDEXED BY items_turns WHERE {UNFINISHED}", f"items WHERE {UNFINISHED}"),
    "row_lock": ("", " FOR UPDATE"),
    "skip_locked": ("", " FOR UPDATE SKIP LOCKED"),
    "greatest": ("MAX", "GREATEST"),
    "collate": ("", ' COLLATE "C"'),
    "sync_lock": (None, "SELECT pg_advisory_xact_lock(?)"),
    "placeholder": ("?", "%s"),
}
SQLITE = Dialect(**{field: spelled[0] for field, spelled in _SPELLINGS.items()})
POSTGRES = Dialect(**{field: spelled[1] for field, spelled in _SPELLINGS.items()})
