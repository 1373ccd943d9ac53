"""Reconciling the SQLite store with the watchlist: added, removed, reactivated and
redefined items (see `StateStore.sync_watchlist` and `_definitions`)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable

from downloader.items import ItemRef
from downloader.store._definitions import DefinitionSql, redefined_event
from downloader.store._lifecycle import ItemState
from downloader.store._models import SyncResult
from downloader.store._rows import plan_redefined, plan_sync
from downloader.store._sqlite_ops import add_event, held_item, transition

__all__ = ["sync_watchlist"]

_SQL = DefinitionSql.of("?")


def sync_watchlist(conn: sqlite3.Connection, refs: Iterable[ItemRef], now: int) -> SyncResult:
    wanted = {ref.key: ref for ref in refs}
    known: dict[str, bool] = {}
    definitions: dict[str, str | None] = {}
    for key, active, definition in conn.execute("SELECT key, active, definition FROM items"):
        known[key], definitions[key] = bool(active), definition
    plan = plan_sync(known, set(wanted))
    for key in plan.added:
        ref = wanted[key]
        conn.execute(
            "INSERT INTO items (key, provider, kind, state, active, created_at, updated_at,"
            " state_since, definition) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (key, ref.provider, ref.kind, ItemState.WAITING.value, now, now, now, ref.definition),
        )
        add_event(conn, key, now, "added", "added to the watchlist")
    for key in plan.removed:
        conn.execute("UPDATE items SET active = 0, updated_at = ? WHERE key = ?", (now, key))
        add_event(conn, key, now, "removed", "removed from the watchlist; data kept")
    for key in plan.reactivated:
        conn.execute("UPDATE items SET active = 1, updated_at = ? WHERE key = ?", (now, key))
        add_event(conn, key, now, "reactivated", "back in the watchlist")
        item = held_item(conn, key, None)
        if item.state is ItemState.FAILED:
            # Re-adding an entry is how a user says "try again".
            transition(conn, key, ItemState.WAITING, now, None, None, None)
    changed, recorded = plan_redefined(
        definitions, {key: wanted[key].definition for key in wanted.keys() & known.keys()}
    )
    for key in (*changed, *recorded):
        conn.execute(_SQL.record, (wanted[key].definition, key))
    for key in changed:
        _restart(conn, key, now)
    return dataclasses.replace(plan, redefined=changed)


def _restart(conn: sqlite3.Connection, key: str, now: int) -> None:
    item = held_item(conn, key, None)
    add_event(conn, key, now, "redefined", redefined_event(item.state))
    if item.state is ItemState.ARCHIVED:
        return
    for statement in _SQL.restart:
        conn.execute(statement, (key,))
    conn.execute(_SQL.reset_progress, (now, key))
    if item.state is ItemState.FAILED:
        transition(conn, key, ItemState.WAITING, now, None, None, None)
