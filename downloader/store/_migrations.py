"""The schema of the state store, as an ordered list of migrations.

Shared by every backend, so the SQL is kept portable (SQLite and PostgreSQL):
`TEXT`, `BIGINT`, `INTEGER`, `CHECK`, foreign keys, plain indexes.  The few
things that differ between dialects are `{placeholders}` filled in by
`render`.  Times are `BIGINT` microseconds since the Unix epoch, UTC: exact,
compared as numbers, and the same in both databases.  Booleans are `INTEGER`
0/1 for the same reason.

A migration is never edited once released; a change is a new migration at the
end.  The schema version of a database is the number of migrations applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from downloader.store._lifecycle import ItemState
from downloader.store._models import AssetState

__all__ = ["DIALECTS", "MIGRATIONS", "SCHEMA_VERSION", "Migration", "render"]

DIALECTS: dict[str, dict[str, str]] = {
    "sqlite": {"serial_key": "INTEGER PRIMARY KEY"},
    "postgresql": {"serial_key": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
}
"""Per dialect, what each placeholder of the migration scripts becomes."""


def _quoted(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_ITEM_STATES = _quoted([s.value for s in ItemState])
_ASSET_STATES = _quoted([s.value for s in AssetState])


@dataclass(frozen=True)
class Migration:
    """One step of the schema: statements run in one transaction."""

    version: int
    """The schema version once this migration is applied (1, 2, ...)."""
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "items, packages, assets, segments and events",
        (
            f"""CREATE TABLE items (
                key TEXT PRIMARY KEY,
                provider TEXT NOT NULL,
                kind TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ({_ITEM_STATES})),
                active INTEGER NOT NULL CHECK (active IN (0, 1)),
                error TEXT,
                archive_path TEXT,
                bytes_done BIGINT NOT NULL DEFAULT 0,
                bytes_total BIGINT,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at BIGINT,
                lease_owner TEXT,
                lease_expires_at BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                state_since BIGINT NOT NULL
            )""",
            "CREATE INDEX items_due ON items (active, state, next_attempt_at)",
            """CREATE TABLE packages (
                item_key TEXT PRIMARY KEY REFERENCES items (key),
                download_id TEXT,
                status TEXT,
                url_expires_at BIGINT,
                data TEXT NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            f"""CREATE TABLE assets (
                item_key TEXT NOT NULL REFERENCES items (key),
                asset_key TEXT NOT NULL,
                name TEXT NOT NULL,
                url_hint TEXT,
                size BIGINT,
                sha256 TEXT,
                state TEXT NOT NULL CHECK (state IN ({_ASSET_STATES})),
                bytes_done BIGINT NOT NULL DEFAULT 0,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (item_key, asset_key)
            )""",
            """CREATE TABLE segments (
                item_key TEXT NOT NULL,
                asset_key TEXT NOT NULL,
                range_start BIGINT NOT NULL,
                range_end BIGINT,
                pos BIGINT NOT NULL,
                PRIMARY KEY (item_key, asset_key, range_start),
                FOREIGN KEY (item_key, asset_key)
                    REFERENCES assets (item_key, asset_key) ON DELETE CASCADE
            )""",
            """CREATE TABLE events (
                id {serial_key},
                item_key TEXT NOT NULL REFERENCES items (key),
                at BIGINT NOT NULL,
                kind TEXT NOT NULL,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX events_by_item ON events (item_key, id)",
        ),
    ),
    Migration(
        2,
        "an index of the unfinished items by lease holder and due time",
        (
            # the scheduler asks "what is due, and when is the next one" after every
            # turn: with this index both read the few items they answer with, in the
            # order asked for, not every item that waits (10,000 parked items cost
            # 4 ms a question without)
            "CREATE INDEX items_turns ON items (lease_owner, next_attempt_at, created_at, key)"
            " WHERE active = 1 AND state NOT IN ('archived', 'failed')",
        ),
    ),
    Migration(
        3,
        "the definition each item was last listed with",
        (
            # a fingerprint (ItemRef.definition), so that an entry listed again under
            # its key with another URL or digest is worked again; NULL: not yet known
            "ALTER TABLE items ADD COLUMN definition TEXT",
        ),
    ),
    Migration(
        4,
        "sources: watchlist entries that list items, and which items each listed",
        (
            # a source's lease is held only while it is being listed: one host lists
            # it at a time, and a dead host's source is listed again once it runs out
            """CREATE TABLE sources (
                key TEXT PRIMARY KEY,
                definition TEXT NOT NULL,
                active INTEGER NOT NULL CHECK (active IN (0, 1)),
                cursor TEXT,
                interval_ms BIGINT,
                next_listing_at BIGINT,
                lease_owner TEXT,
                lease_expires_at BIGINT,
                listed_at BIGINT,
                items_listed INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            """CREATE TABLE source_items (
                source_key TEXT NOT NULL REFERENCES sources (key),
                item_key TEXT NOT NULL REFERENCES items (key),
                listed_at BIGINT NOT NULL,
                PRIMARY KEY (source_key, item_key)
            )""",
            "CREATE INDEX source_items_by_item ON source_items (item_key)",
        ),
    ),
    Migration(
        5,
        "the outbox of hook events, written with the transition that causes them",
        (
            # one row per (event, hook): delivered from here, so that an event recorded
            # with its item's transition survives any crash until its hook has it
            """CREATE TABLE outbox (
                event_id TEXT PRIMARY KEY,
                item_key TEXT NOT NULL REFERENCES items (key),
                hook TEXT NOT NULL,
                kind TEXT NOT NULL,
                document TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at BIGINT NOT NULL,
                delivered_at BIGINT,
                last_error TEXT,
                lease_owner TEXT,
                lease_expires_at BIGINT
            )""",
            # the deliverer only ever asks about the undelivered rows, soonest first
            "CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at)"
            " WHERE delivered_at IS NULL",
        ),
    ),
)
"""Every migration, in order; `MIGRATIONS[i].version == i + 1`."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this program writes and understands."""


def render(migration: Migration, dialect: str) -> list[str]:
    """The statements of `migration` in `dialect` ("sqlite" or "postgresql")."""
    values = DIALECTS[dialect]
    return [statement.format_map(values) for statement in migration.statements]
