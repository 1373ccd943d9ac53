"""Reconciling the store with the watchlist: added, removed, reactivated and redefined
items (see `StateStore.sync_watchlist` and `_definitions`), once for both databases.

The read of what is known and the writes it decides run under the dialect's sync
lock (SQLite's `BEGIN IMMEDIATE` is one already), so two hosts never sync at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from downloader.items import ItemRef
from downloader.store._db import Db
from downloader.store._definitions import DefinitionSql, redefined_event
from downloader.store._item_ops import add_event, held_item, transition
from downloader.store._lifecycle import ItemState
from downloader.store._models import SyncResult
from downloader.store._rows import plan_redefined, plan_sync

__all__ = ["sync_watchlist"]

_SQL = DefinitionSql.of("?")
_INSERT = (
    "INSERT INTO items (key, provider, kind, state, active, created_at, updated_at,"
    " state_since, definition) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)"
)
_SET_ACTIVE = "UPDATE items SET active = ?, updated_at = ? WHERE key = ?"
_EVENT = "INSERT INTO events (item_key, at, kind, detail) VALUES (?, ?, ?, ?)"


def sync_watchlist(db: Db, refs: Iterable[ItemRef], now: int) -> SyncResult:
    db.lock_sync()
    wanted = {ref.key: ref for ref in refs}
    known: dict[str, bool] = {}
    definitions: dict[str, str | None] = {}
    for key, active, definition in db.rows("SELECT key, active, definition FROM items"):
        known[str(key)] = bool(active)
        definitions[str(key)] = None if definition is None else str(definition)
    plan = plan_sync(known, set(wanted))
    waiting = ItemState.WAITING.value
    # a new watchlist of 100,000 entries: two statements run over all rows each, not
    # 200,000 single ones (the events get the same ids, in the same key order)
    added = [wanted[key] for key in plan.added]
    row = (waiting, now, now, now)
    db.many(_INSERT, ((r.key, r.provider, r.kind, *row, r.definition) for r in added))
    db.many(_EVENT, ((key, now, "added", "added to the watchlist") for key in plan.added))
    for key in plan.removed:
        db.run(_SET_ACTIVE, (0, now, key))
        add_event(db, key, now, "removed", "removed from the watchlist; data kept")
    for key in plan.reactivated:
        db.run(_SET_ACTIVE, (1, now, key))
        add_event(db, key, now, "reactivated", "back in the watchlist")
        item = held_item(db, key, None)
        if item.state is ItemState.FAILED:
            # Re-adding an entry is how a user says "try again".
            transition(db, key, ItemState.WAITING, now, None, None, None)
    changed, recorded = plan_redefined(
        definitions, {key: wanted[key].definition for key in wanted.keys() & known.keys()}
    )
    for key in (*changed, *recorded):
        db.run(_SQL.record, (wanted[key].definition, key))
    for key in changed:
        _restart(db, key, now)
    return dataclasses.replace(plan, redefined=changed)


def _restart(db: Db, key: str, now: int) -> None:
    item = held_item(db, key, None)
    add_event(db, key, now, "redefined", redefined_event(item.state))
    if item.state is ItemState.ARCHIVED:
        return
    for statement in _SQL.restart:
        db.run(statement, (key,))
    db.run(_SQL.reset_progress, (now, key))
    if item.state is ItemState.FAILED:
        transition(db, key, ItemState.WAITING, now, None, None, None)
