"""The scheduler's two questions to the store, against their plain definition.

`claim` takes the due items (active, unfinished, their time come, not leased or their
lease run out) in order of due time (none set counts as 0), then age, then key;
`next_due` is the soonest moment anything not leased to the asker is due.  The SQL
answers both in parts through an index, so that 10,000 parked items cost nothing;
here it is held to the definition on many random tables (the next due time on
PostgreSQL too, whose query is written in the same parts).
"""

from __future__ import annotations

import random
import sqlite3

import psycopg

from downloader.store import _item_ops as ops
from downloader.store._db import Db
from downloader.store._dialect import POSTGRES, SQLITE
from downloader.store._lifecycle import ItemState, is_terminal
from downloader.store._migrations import MIGRATIONS, render

STATES = [s.value for s in ItemState]


def _schema() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for migration in MIGRATIONS:
        for statement in render(migration, "sqlite"):
            conn.execute(statement)
    return conn


Row = tuple[str, str, int, int | None, str | None, int | None, int]


def _random_rows(rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    for n in range(rng.randint(0, 40)):
        leased = rng.random() < 0.3
        rows.append(
            (
                f"k{n:02d}",
                rng.choice(STATES),
                rng.choice([0, 1, 1, 1]),
                None if rng.random() < 0.4 else rng.randint(0, 100),
                rng.choice(["me", "other"]) if leased else None,
                rng.randint(0, 100) if leased else None,
                rng.randint(0, 5),
            )
        )
    return rows


def _unfinished(row: Row) -> bool:
    return row[2] == 1 and not is_terminal(ItemState(row[1]))


def _expected_due(rows: list[Row], now: int, limit: int) -> list[str]:
    due = [
        r
        for r in rows
        if _unfinished(r)
        and (r[3] is None or r[3] <= now)
        and (r[4] is None or (r[5] is not None and r[5] <= now))
    ]
    due.sort(key=lambda r: (r[3] or 0, r[6], r[0]))
    return [r[0] for r in due[:limit]]


def _expected_next(rows: list[Row], owner: str) -> int | None:
    times = [
        max(r[3] or 0, 0 if r[4] is None else (r[5] or 0))
        for r in rows
        if _unfinished(r) and r[4] != owner
    ]
    return min(times) if times else None


def test_due_items_and_the_next_due_time_agree_with_their_definition() -> None:
    rng = random.Random(20261203)
    for _ in range(400):
        conn = _schema()
        rows = _random_rows(rng)
        conn.executemany(
            "INSERT INTO items (key, provider, kind, state, active, next_attempt_at,"
            " lease_owner, lease_expires_at, created_at, updated_at, state_since)"
            " VALUES (?, 'http', 'file', ?, ?, ?, ?, ?, ?, 0, 0)",
            rows,
        )
        now, limit = rng.randint(0, 100), rng.randint(0, 10)
        owner = rng.choice(["me", "other", "nobody"])
        db = Db(conn, SQLITE)
        assert ops.next_due(db, owner) == _expected_next(rows, owner), rows
        conn.execute("BEGIN IMMEDIATE")
        claimed = [item.key for item in ops.claim(db, owner, now, now + 30, limit, None)]
        assert claimed == _expected_due(rows, now, limit), (rows, now, limit)
        leased = dict(
            conn.execute(
                "SELECT key, lease_owner FROM items WHERE lease_owner = ?", (owner,)
            ).fetchall()
        )
        assert set(claimed) <= set(leased)
        conn.execute("ROLLBACK")


def test_the_questions_read_through_the_index_not_every_waiting_item() -> None:
    conn = _schema()
    plans = [
        row[3]
        for sql, args in (
            SQLITE.due(0, 8, None),
            SQLITE.due(0, 8, ["pixxel:job"]),
            (ops._next_due_sql(Db(conn, SQLITE)), ("me",)),
        )
        for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args)
        if "items" in row[3]
    ]
    assert plans
    assert all("USING INDEX items_turns" in p for p in plans), plans


def test_the_next_due_time_on_postgresql_agrees_with_its_definition(pg_url: str) -> None:
    rng = random.Random(20261204)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for migration in MIGRATIONS:
            for statement in render(migration, "postgresql"):
                conn.execute(statement.encode())
        for _ in range(60):
            rows = _random_rows(rng)
            conn.execute("DELETE FROM items")
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO items (key, provider, kind, state, active, next_attempt_at,"
                    " lease_owner, lease_expires_at, created_at, updated_at, state_since)"
                    " VALUES (%s, 'http', 'file', %s, %s, %s, %s, %s, %s, 0, 0)",
                    rows,
                )
            for owner in ("me", "other", "nobody"):
                assert ops.next_due(Db(conn, POSTGRES), owner) == _expected_next(rows, owner), rows
