"""`downloader status`: what every item is doing, read from the store.

Status reads `ItemSummary`s, not full records, and formats times from the
stored microseconds; the plain text is made straight from the summaries,
without a JSON object per item in between.  On a store of 100,000 items that
is the difference between seconds and a fraction of one.  `item_json` of a
full record gives the same object as the summary path, which the tests hold
it to, and every item line is laid out by `_line` alone.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from downloader.redact import scrub
from downloader.runners import _human as human
from downloader.runners._retry import retrying_text
from downloader.store import ItemState, StateStore, is_terminal
from downloader.store._models import REPAIRED, AssetRecord, ItemRecord, ItemSummary
from downloader.store._rows import from_micros, maybe_micros, summarize

_MICROS_PER_SECOND = 1_000_000
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


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
    return time.strftime(_UTC_FORMAT, time.gmtime(seconds))


def retry_due(item: ItemSummary) -> int | None:
    """When `item` is next tried after a passing failure (microseconds), else None: a
    parked poll or a full disk is no failure (no attempt counted, or no error kept)."""
    if item.attempts == 0 or item.error is None or is_terminal(item.state):
        return None
    return item.next_attempt_micros


def retry_tail(
    error: str | None, attempts: int, due: int | None, now_micros: int | None, budget: int
) -> str | None:
    """The table's words for an item waiting for its next try at `due` (whole epoch
    seconds, as `status --json` shows it), e.g. `retrying in 2m (3/8): connection
    refused`; None when there is none, or once it is due (it may be running)."""
    if due is None or now_micros is None or due * _MICROS_PER_SECOND <= now_micros:
        return None
    return retrying_text(
        error, attempts, budget, from_micros(due * _MICROS_PER_SECOND), from_micros(now_micros)
    )


def summary_json(item: ItemSummary, now_micros: int | None) -> dict[str, Any]:
    """One item as the contract's `status --json` object, plus `node` (who works it)."""
    due = retry_due(item)
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
        "attempts": item.attempts,
        "next_attempt_at": None if due is None else utc_text(due // _MICROS_PER_SECOND),
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
    """Every active item; `node` is judged at `now` (an expired lease holds nothing).

    Verbose rows also carry the item's `assets` and `repairs`: how often a file of it
    that failed a check was fetched again (in part or whole).
    """
    now_micros = maybe_micros(now)
    rows = [summary_json(item, now_micros) for item in await store.list_summaries()]
    if verbose:
        for row in rows:
            row["assets"] = [asset_json(a) for a in await store.assets(row["item"])]
            row["repairs"] = await repair_count(store, row["item"])
    return rows


class StatusOutput(NamedTuple):
    text: str
    failed: bool
    """Whether any item is failed (`status` then exits 1)."""


async def status_output(
    store: StateStore,
    *,
    as_json: bool,
    verbose: bool,
    now: datetime | None = None,
    retry_budget: int = 0,
) -> StatusOutput:
    """What `downloader status` prints: a line per item (and asset), or a JSON array.

    `retry_budget` is `[retry] attempts`, shown beside the count of an item's tries."""
    if as_json:
        rows = await collect_status(store, verbose=verbose, now=now)
        failed = any(row["state"] == ItemState.FAILED for row in rows)
        return StatusOutput(render_json(rows), failed)
    items = await store.list_summaries()
    failed = any(item.state is ItemState.FAILED for item in items)
    text = render_summaries(items, maybe_micros(now), retry_budget)
    if not verbose:
        return StatusOutput(text, failed)
    lines = text.split("\n")
    for index in range(len(items) - 1, -1, -1):  # each item's assets right below it
        key = items[index].key
        below = [_asset_line(asset_json(a)) for a in await store.assets(key)]
        repairs = await repair_count(store, key)
        if repairs:
            below.append(_repairs_line(repairs))
        lines[index + 1 : index + 1] = below
    return StatusOutput("\n".join(lines), failed)


async def repair_count(store: StateStore, key: str) -> int:
    """How often a file of the item that failed a check was fetched again."""
    return sum(1 for event in await store.events(key) if event.kind == REPAIRED)


def _line(
    item: str,
    state: str,
    done: int,
    total: int | None,
    archive_path: str | None,
    error: str | None,
    node: str | None,
) -> str:
    size = f"{human.size(done)}/{human.size(total)}"
    tail = archive_path or error or ""
    if node:
        tail = f"[{node}] {tail}"
    return f"{item:50} {state:11} {size:>21}  {tail}".rstrip()


def render_text(
    rows: Sequence[dict[str, Any]], now_micros: int | None = None, budget: int = 0
) -> str:
    lines = []
    for row in rows:
        due_text = row.get("next_attempt_at")
        due = None if due_text is None else calendar.timegm(time.strptime(due_text, _UTC_FORMAT))
        tail = retry_tail(row["error"], row.get("attempts", 0), due, now_micros, budget)
        lines.append(
            _line(
                row["item"],
                row["state"],
                row["bytes_done"],
                row["bytes_total"],
                row["archive_path"],
                tail or row["error"],
                row.get("node"),
            )
        )
        lines += [_asset_line(asset) for asset in row.get("assets", [])]
        if row.get("repairs"):
            lines.append(_repairs_line(row["repairs"]))
    return "\n".join(lines)


def _asset_line(asset: dict[str, Any]) -> str:
    done = human.size(asset["bytes_done"])
    return f"    {asset['name']:46} {asset['state']:11} {done:>21}"


def _repairs_line(repairs: int) -> str:
    return f"    repairs: {repairs}"


def render_summaries(items: Iterable[ItemSummary], now_micros: int | None, budget: int = 0) -> str:
    """`render_text` of the items' `summary_json` objects, without making them; an item
    waiting for its next try says so (`retry_tail`) in place of its bare error."""
    return "\n".join(
        _line(
            item.key,
            str(item.state),
            item.bytes_done,
            item.bytes_total,
            item.archive_path,
            _summary_retry_tail(item, now_micros, budget) or _shown(item.error),
            summary_node(item, now_micros),
        )
        for item in items
    )


def _summary_retry_tail(item: ItemSummary, now_micros: int | None, budget: int) -> str | None:
    due = retry_due(item)
    if due is None:
        return None
    error, when = _shown(item.error), due // _MICROS_PER_SECOND
    return retry_tail(error, item.attempts, when, now_micros, budget)


def render_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=None)
