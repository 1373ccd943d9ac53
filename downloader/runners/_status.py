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
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from downloader.redact import scrub
from downloader.store import StateStore
from downloader.store._models import AssetRecord, ItemRecord, ItemSummary
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


def summary_json(item: ItemSummary, now_micros: int | None) -> dict[str, Any]:
    """One item as the contract's `status --json` object, plus `node` (who works it)."""
    return {
        "item": item.key,
        "provider": item.provider,
        "kind": item.kind,
        "state": str(item.state),
        "bytes_done": item.bytes_done,
        "bytes_total": item.bytes_total,
        "error": _shown(item.error),
        "archive_path": item.archive_path,
        # floor division: a time is shown down to its second, never rounded up
        "updated_at": utc_text(item.updated_micros // _MICROS_PER_SECOND),
        "node": summary_node(item, now_micros),
    }


def _shown(error: str | None) -> str | None:
    # Stored errors are scrubbed on write; a database written by an older version may
    # still hold a signed URL or a token, and status is where an operator would copy it.
    return scrub(error) if error else error


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
    """Every active item; `node` is judged at `now` (an expired lease holds nothing)."""
    now_micros = maybe_micros(now)
    rows = [summary_json(item, now_micros) for item in await store.list_summaries()]
    if verbose:
        for row in rows:
            row["assets"] = [asset_json(a) for a in await store.assets(row["item"])]
    return rows


async def status_output(
    store: StateStore, *, as_json: bool, verbose: bool, now: datetime | None = None
) -> str:
    """What `downloader status` prints: a line per item (and asset), or a JSON array."""
    if as_json or verbose:
        rows = await collect_status(store, verbose=verbose, now=now)
        return render_json(rows) if as_json else render_text(rows)
    return render_summaries(await store.list_summaries(), maybe_micros(now))


def _line(
    item: str,
    state: str,
    done: int,
    total: int | None,
    archive_path: str | None,
    error: str | None,
    node: str | None,
) -> str:
    size = f"{done}/{total if total is not None else '?'}"
    tail = archive_path or error or ""
    if node:
        tail = f"[{node}] {tail}"
    return f"{item:50} {state:11} {size:>24}  {tail}".rstrip()


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
            )
        )
        for asset in row.get("assets", []):
            lines.append(f"    {asset['name']:46} {asset['state']:11} {asset['bytes_done']:>24}")
    return "\n".join(lines)


def render_summaries(items: Iterable[ItemSummary], now_micros: int | None) -> str:
    """`render_text` of the items' `summary_json` objects, without making them."""
    return "\n".join(
        _line(
            item.key,
            str(item.state),
            item.bytes_done,
            item.bytes_total,
            item.archive_path,
            _shown(item.error),
            summary_node(item, now_micros),
        )
        for item in items
    )


def render_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=None)
