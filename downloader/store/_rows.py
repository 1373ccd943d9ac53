"""Between records and table rows: time encoding, column lists, and the watchlist diff.

Pure and shared by every backend: a row is a plain tuple in the order of the
column lists below, whatever the database driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from downloader.store._lifecycle import ItemState
from downloader.store._models import (
    AssetRecord,
    AssetState,
    CensusRow,
    EventRecord,
    ItemRecord,
    ItemSummary,
    PackageRecord,
    SyncResult,
)

__all__ = [
    "ASSET_COLUMNS",
    "CENSUS_SQL",
    "EVENT_COLUMNS",
    "ITEM_COLUMNS",
    "PACKAGE_COLUMNS",
    "SUMMARY_COLUMNS",
    "asset_from_row",
    "census_row",
    "columns",
    "event_from_row",
    "from_micros",
    "item_from_row",
    "maybe_micros",
    "maybe_time",
    "package_from_row",
    "plan_redefined",
    "plan_sync",
    "reader",
    "summaries_from_rows",
    "summarize",
    "to_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

SUMMARY_COLUMNS = (
    "key, provider, kind, state, bytes_done, bytes_total, error, archive_path, updated_at, "
    "lease_owner, lease_expires_at, attempts, next_attempt_at"
)

Row = Sequence[Any]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def to_micros(when: datetime) -> int:
    """Microseconds since the Unix epoch; `when` must carry a timezone."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when.isoformat()} given to the state store; use UTC")
    return (when - _EPOCH) // _MICROSECOND


_FIRST, _LAST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


def from_micros(micros: int) -> datetime:
    """The time `micros` after the epoch; one past the calendar's ends (a lease set to
    run out "never" by hand or by another program) reads as its first or last moment,
    so that `next_due` is a time far off rather than an OverflowError in the loop."""
    try:
        return _EPOCH + micros * _MICROSECOND
    except OverflowError:
        return _LAST if micros > 0 else _FIRST


def maybe_micros(when: datetime | None) -> int | None:
    return None if when is None else to_micros(when)


def maybe_time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


_STATES = {state.value: state for state in ItemState}


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "ItemState": ItemState,
    "AssetState": AssetState,
    "bool": bool,
    "datetime": from_micros,
    "datetime | None": maybe_time,
}
"""How a column's value becomes a field's, by the field's type (else as it is)."""


def columns(cls: type[DataclassInstance]) -> str:
    """The columns of a record's table that make the record: its fields, in order."""
    return ", ".join(f.name for f in fields(cls))


def reader(cls: type[R]) -> Callable[[Row], R]:
    """How to read a `cls` from a row in `columns(cls)` order: each value converted by
    its field's type (`_CONVERT`).  The one rule for every record of the store."""
    steps = [_CONVERT.get(str(f.type)) for f in fields(cls)]

    def read(row: Row) -> R:
        return cls(*[v if step is None else step(v) for step, v in zip(steps, row, strict=True)])

    return read


ITEM_COLUMNS = columns(ItemRecord)
PACKAGE_COLUMNS = columns(PackageRecord)
ASSET_COLUMNS = columns(AssetRecord)
EVENT_COLUMNS = columns(EventRecord)
item_from_row = reader(ItemRecord)
package_from_row = reader(PackageRecord)
asset_from_row = reader(AssetRecord)
event_from_row = reader(EventRecord)


def summaries_from_rows(rows: Iterable[Row]) -> list[ItemSummary]:
    """`ItemSummary`s from rows in `SUMMARY_COLUMNS` order.

    One pass with a dict lookup for the state instead of a call per row: this
    runs once per item of the store on every `downloader status`.
    """
    states = _STATES
    return [
        ItemSummary(
            r[0], r[1], r[2], states[r[3]], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12]
        )
        for r in rows
    ]


def summarize(record: ItemRecord) -> ItemSummary:
    """The summary of a full record: what `list_summaries` reads for the same row."""
    return ItemSummary(
        key=record.key,
        provider=record.provider,
        kind=record.kind,
        state=record.state,
        bytes_done=record.bytes_done,
        bytes_total=record.bytes_total,
        error=record.error,
        archive_path=record.archive_path,
        updated_micros=to_micros(record.updated_at),
        lease_owner=record.lease_owner,
        lease_expires_micros=maybe_micros(record.lease_expires_at),
        attempts=record.attempts,
        next_attempt_micros=maybe_micros(record.next_attempt_at),
    )


def plan_redefined(
    known: Mapping[str, str | None], wanted: Mapping[str, str | None]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(keys whose definition changed, keys whose definition is only to be recorded),
    given each known key's stored definition and each wanted key's current one.

    A stored None is a row written before definitions were kept: it is filled in,
    not taken for a change, so an upgrade does not start every item over.
    """
    changed: list[str] = []
    recorded: list[str] = []
    for key, definition in wanted.items():
        if key not in known or definition == known[key]:
            continue
        (recorded if known[key] is None else changed).append(key)
    return tuple(sorted(changed)), tuple(sorted(recorded))


def plan_sync(known: Mapping[str, bool], wanted: set[str]) -> SyncResult:
    """What to change so that exactly `wanted` is active; `known` maps key -> active.

    A new key whose bag would nest with another item's (one id the other's parent
    folder) is refused, in the same transaction as the rest of the sync, so two
    processes cannot each add one half of such a pair.
    """
    # imported here: the archive package is no light load, and `status` reads the
    # store without ever syncing it
    from downloader.archive._layout import nesting_refusals

    new = wanted - known.keys()
    refused = nesting_refusals(new, known.keys())
    return SyncResult(
        added=tuple(sorted(new - refused.keys())),
        removed=tuple(sorted(k for k, active in known.items() if active and k not in wanted)),
        reactivated=tuple(sorted(k for k, active in known.items() if not active and k in wanted)),
        refused=tuple(sorted(refused.items())),
    )


CENSUS_SQL = (
    "SELECT state, provider, count(*), min(state_since) FROM items"
    " WHERE active = 1 GROUP BY state, provider"
)
"""The same in both dialects: no placeholder."""


def census_row(row: Sequence[object]) -> CensusRow:
    state, provider, count, since = row
    return CensusRow(
        ItemState(str(state)), str(provider), int(str(count)), from_micros(int(str(since)))
    )
