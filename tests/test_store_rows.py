"""The store's one rule for reading records from rows, and its dialects: pure, no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from downloader.store._dialect import POSTGRES, SQLITE, Dialect
from downloader.store._lifecycle import ItemState
from downloader.store._models import AssetRecord, AssetState, EventRecord, ItemRecord
from downloader.store._outbox_models import OutboxRecord
from downloader.store._rows import _CONVERT, ITEM_COLUMNS, columns, item_from_row, reader, to_micros

T = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PLAIN = {"str", "int", "str | None", "int | None"}


def test_every_field_of_a_stored_record_is_plain_or_has_its_conversion() -> None:
    for cls in (ItemRecord, AssetRecord, EventRecord, OutboxRecord):
        for field in dataclasses.fields(cls):
            assert str(field.type) in PLAIN | _CONVERT.keys(), (cls.__name__, field.name)


def test_a_record_is_read_from_its_columns_in_field_order_each_converted_by_type() -> None:
    assert ITEM_COLUMNS.startswith("key, provider, kind, state, active, error")
    micros = to_micros(T)
    row: tuple[object, ...] = ("http:file:x", "http", "file", "waiting", 1, None, None, 5)
    row += (None, 2, micros, "me", None, micros, micros, micros)
    item = item_from_row(row)
    assert (item.state, item.active, item.next_attempt_at, item.lease_expires_at) == (
        ItemState.WAITING,
        True,
        T,
        None,
    )
    asset = reader(AssetRecord)(("k", "a", "n.tif", None, 10, None, "done", 10))
    assert asset == AssetRecord("k", "a", "n.tif", size=10, state=AssetState.DONE, bytes_done=10)
    assert columns(EventRecord) == "item_key, at, kind, detail"


def test_the_dialects_differ_only_in_their_spellings() -> None:
    statement = "SELECT 1 FROM items WHERE key = ? AND error LIKE '50%'"
    assert SQLITE.sql(statement) == statement
    assert POSTGRES.sql(statement) == "SELECT 1 FROM items WHERE key = %s AND error LIKE '50%%'"
    assert SQLITE.keys_value({"b", "a"}) == '["a", "b"]'
    assert POSTGRES.keys_value({"b", "a"}) == ["a", "b"]
    assert {f.name for f in dataclasses.fields(Dialect)} == {
        f.name
        for f in dataclasses.fields(Dialect)
        if getattr(SQLITE, f.name) != getattr(POSTGRES, f.name)
    }
