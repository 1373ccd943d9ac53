"""`downloader status`: what every item is doing, read from the store.

Status reads `ItemSummary`s, not full records, and formats times from the
stored microseconds; the plain text is made straight from the summaries,
without a JSON object per item in between.  On a store of 100,000 items that
is the difference between seconds and a fraction of one.  `item_json` of a
full record gives the same object as the summary path, which the tests hold
it to, and every item line is laid out by `_line` alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from downloader.runners import _human as human
from downloader.runners._status_sources import render_sources
from downloader.store import ItemState, StateStore
from downloader.store._models import REPAIRED, AssetRecord, ItemRecord, ItemSummary
from downloader.store._rows import maybe_micros, summarize

_MICROS_PER_SECOND = 1_000_000


def lease_holder(record: ItemRecord, now: datetime | None) -> str | None:
    """The node working the item now: its lease owner while the lease runs, else None."""
    return summary_node(summarize(record), maybe_micros(now))


def summary_node(item: ItemSummary, now_micros: int | None) -> str | None:
    """The lease owner while the lease runs at `now_micros` (any lease when None)."""
    expires = item.lease_expires_micros
    if expires is None or (now_micros is not None and expires <= now_micros):
        return None
    return item.lease_owner


@lru_cache(maxsize=4096)
def utc_text(seconds: int) -> str:
    """A time as the contract writes it (`2026-11-23T10:00:00Z`), from whole epoch seconds.

    Cached: the items of one watchlist sync, or of one busy second, share it.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def summary_json(
    item: ItemSummary, now_micros: int | None, source: str | None = None
) -> dict[str, Any]:
    """One item as the contract's `status --json` object, plus `node` (who works it);
    `source` is the source that listed it (None: named by its own entry)."""
    return {
        "item": item.key,
        "provider": item.provider,
        "kind": item.kind,
        "state": str(item.state),
        "bytes_done": item.bytes_done,
        "bytes_total": item.bytes_total,
        "error": item.error,
        "archive_path": item.archive_path,
        # floor division: a time is shown down to its second, never rounded up
        "updated_at": utc_text(item.updated_micros // _MICROS_PER_SECOND),
        "node": summary_node(item, now_micros),
        "source": source,
    }


def item_json(record: ItemRecord, now: datetime | None = None) -> dict[str, Any]:
    """`summary_json` of a full record, judged at `now`."""
    return summary_json(summarize(record), maybe_micros(now))


def asset_json(asset: AssetRecord) -> dict[str, Any]:
    return {
        "asset": asset.asset_key,
        "name": asset.name,
        "state": str(asset.state),
        "bytes_done": asset.bytes_done,
        "bytes_total": asset.size,
        "sha256": asset.sha256,
    }


async def collect_status(
    store: StateStore, *, verbose: bool, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every active item; `node` is judged at `now` (an expired lease holds nothing).

    Verbose rows also carry the item's `assets` and `repairs`: how often a file of it
    that failed a check was fetched again (in part or whole).
    """
    now_micros = maybe_micros(now)
    sources = await store.sources().item_sources()
    rows = [
        summary_json(item, now_micros, sources.get(item.key))
        for item in await store.list_summaries()
    ]
    if verbose:
        for row in rows:
            row["assets"] = [asset_json(a) for a in await store.assets(row["item"])]
            events = await store.events(row["item"])
            row["repairs"] = sum(1 for event in events if event.kind == REPAIRED)
    return rows


class StatusOutput(NamedTuple):
    text: str
    failed: bool
    """Whether any item is failed (`status` then exits 1)."""


async def status_output(
    store: StateStore, *, as_json: bool, verbose: bool, now: datetime | None = None
) -> StatusOutput:
    """What `downloader status` prints: a line per item (and asset), or a JSON array."""
    if as_json or verbose:
        rows = await collect_status(store, verbose=verbose, now=now)
        failed = any(row["state"] == ItemState.FAILED for row in rows)
        if as_json:
            return StatusOutput(render_json(rows), failed)
        listed = render_sources(await store.sources().list_sources())
        return StatusOutput("\n".join([render_text(rows), *listed]).strip("\n"), failed)
    items = await store.list_summaries()
    failed = any(item.state is ItemState.FAILED for item in items)
    sources = await store.sources().item_sources()
    return StatusOutput(render_summaries(items, maybe_micros(now), sources), failed)


def _line(
    item: str,
    state: str,
    done: int,
    total: int | None,
    archive_path: str | None,
    error: str | None,
    node: str | None,
    source: str | None = None,
) -> str:
    size = f"{human.size(done)}/{human.size(total)}"
    tail = archive_path or error or ""
    if node:
        tail = f"[{node}] {tail}"
    if source:
        tail = f"<{source}> {tail}"
    return f"{item:50} {state:11} {size:>21}  {tail}".rstrip()


def render_text(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        lines.append(
            _line(
                row["item"],
                row["state"],
                row["bytes_done"],
                row["bytes_total"],
                row["archive_path"],
                row["error"],
                row.get("node"),
                row.get("source"),
            )
        )
        for asset in row.get("assets", []):
            done = human.size(asset["bytes_done"])
            lines.append(f"    {asset['name']:46} {asset['state']:11} {done:>21}")
        if row.get("repairs"):
            lines.append(f"    repairs: {row['repairs']}")
    return "\n".join(lines)


def render_summaries(
    items: Iterable[ItemSummary],
    now_micros: int | None,
    sources: Mapping[str, str] | None = None,
) -> str:
    """`render_text` of the items' `summary_json` objects (with `source` from `sources`,
    item key -> source key), without making them."""
    sources = sources or {}
    return "\n".join(
        _line(
            item.key,
            str(item.state),
            item.bytes_done,
            item.bytes_total,
            item.archive_path,
            item.error,
            summary_node(item, now_micros),
            sources.get(item.key),
        )
        for item in items
    )


def render_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=None)
