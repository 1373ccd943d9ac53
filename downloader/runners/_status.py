"""`downloader status`: what every item is doing, read from the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from downloader.store import StateStore
from downloader.store._models import AssetRecord, ItemRecord


def lease_holder(record: ItemRecord, now: datetime | None) -> str | None:
    """The node working the item now: its lease owner while the lease runs, else None."""
    expires = record.lease_expires_at
    if record.lease_owner is None or expires is None:
        return None
    return record.lease_owner if now is None or expires > now else None


def item_json(record: ItemRecord, now: datetime | None = None) -> dict[str, Any]:
    """One item as the contract's `status --json` object, plus `node` (who works it)."""
    return {
        "item": record.key,
        "provider": record.provider,
        "kind": record.kind,
        "state": str(record.state),
        "bytes_done": record.bytes_done,
        "bytes_total": record.bytes_total,
        "error": record.error,
        "archive_path": record.archive_path,
        "updated_at": record.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "node": lease_holder(record, now),
    }


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
    rows = []
    for record in await store.list_items():
        row = item_json(record, now)
        if verbose:
            row["assets"] = [asset_json(a) for a in await store.assets(record.key)]
        rows.append(row)
    return rows


def render_text(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        total = row["bytes_total"]
        size = f"{row['bytes_done']}/{total if total is not None else '?'}"
        tail = row["archive_path"] or row["error"] or ""
        if row.get("node"):
            tail = f"[{row['node']}] {tail}"
        lines.append(f"{row['item']:50} {row['state']:11} {size:>24}  {tail}".rstrip())
        for asset in row.get("assets", []):
            lines.append(f"    {asset['name']:46} {asset['state']:11} {asset['bytes_done']:>24}")
    return "\n".join(lines)


def render_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=None)
