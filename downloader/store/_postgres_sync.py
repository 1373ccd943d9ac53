"""Reconciling the PostgreSQL store with the watchlist: added, removed, reactivated and
redefined items (see `StateStore.sync_watchlist` and `_definitions`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from downloader.items import ItemRef
from downloader.store._definitions import DefinitionSql, redefined_event
from downloader.store._lifecycle import ItemState
from downloader.store._models import SyncResult
from downloader.store._postgres_ops import SYNC_LOCK, Conn, add_event, held_item, transition
from downloader.store._rows import plan_redefined, plan_sync

__all__ = ["sync_watchlist"]

_SQL = DefinitionSql.of("%s")


async def sync_watchlist(conn: Conn, refs: Iterable[ItemRef], now: int) -> SyncResult:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SYNC_LOCK,))
    wanted = {ref.key: ref for ref in refs}
    rows = await (await conn.execute("SELECT key, active, definition FROM items")).fetchall()
    known = {str(key): bool(active) for key, active, _ in rows}
    definitions = {str(key): None if d is None else str(d) for key, _, d in rows}
    plan = plan_sync(known, set(wanted))
    for key in plan.added:
        ref = wanted[key]
        await conn.execute(
            "INSERT INTO items (key, provider, kind, state, active, created_at, updated_at,"
            " state_since, definition) VALUES (%s, %s, %s, %s, 1, %s, %s, %s, %s)",
            (key, ref.provider, ref.kind, ItemState.WAITING.value, now, now, now, ref.definition),
        )
        await add_event(conn, key, now, "added", "added to the watchlist")
    for key in plan.removed:
        await conn.execute(
            "UPDATE items SET active = 0, updated_at = %s WHERE key = %s", (now, key)
        )
        await add_event(conn, key, now, "removed", "removed from the watchlist; data kept")
    for key in plan.reactivated:
        await conn.execute(
            "UPDATE items SET active = 1, updated_at = %s WHERE key = %s", (now, key)
        )
        await add_event(conn, key, now, "reactivated", "back in the watchlist")
        item = await held_item(conn, key, None)
        if item.state is ItemState.FAILED:
            # Re-adding an entry is how a user says "try again".
            await transition(conn, key, ItemState.WAITING, now, None, None, None)
    changed, recorded = plan_redefined(
        definitions, {key: wanted[key].definition for key in wanted.keys() & known.keys()}
    )
    for key in (*changed, *recorded):
        await conn.execute(_SQL.record, (wanted[key].definition, key))
    for key in changed:
        await _restart(conn, key, now)
    return dataclasses.replace(plan, redefined=changed)


async def _restart(conn: Conn, key: str, now: int) -> None:
    item = await held_item(conn, key, None)
    await add_event(conn, key, now, "redefined", redefined_event(item.state))
    if item.state is ItemState.ARCHIVED:
        return
    for statement in _SQL.restart:
        await conn.execute(statement, (key,))
    await conn.execute(_SQL.reset_progress, (now, key))
    if item.state is ItemState.FAILED:
        await transition(conn, key, ItemState.WAITING, now, None, None, None)
