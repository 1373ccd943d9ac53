"""What `status` says of hook events not yet delivered, pure: outbox rows in, text out.

A hook that keeps failing is shown below its item, e.g.
`    hook ingest (archived): not delivered, 3 tries, next in 40s: exit status 2`;
an event not yet tried is not (it is on its way).  `status --json` gives each
item with undelivered events a `hooks` list, tried or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from downloader.config import format_duration
from downloader.store._outbox_models import OutboxRecord

__all__ = ["hook_json", "hook_lines"]


def _utc(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def hook_json(records: Iterable[OutboxRecord]) -> dict[str, list[dict[str, Any]]]:
    """Per item, its undelivered events as `status --json` shows them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        found.setdefault(record.item_key, []).append(
            {
                "hook": record.hook,
                "event": record.kind,
                "event_id": record.event_id,
                "attempts": record.attempts,
                "last_error": record.last_error,
                "next_attempt_at": _utc(record.next_attempt_at),
            }
        )
    return found


def hook_lines(records: Iterable[OutboxRecord], now: datetime) -> dict[str, list[str]]:
    """Per item, a line for each of its events whose delivery failed at least once."""
    found: dict[str, list[str]] = {}
    for record in records:
        if record.attempts == 0:
            continue
        seconds = (record.next_attempt_at - now).total_seconds()
        when = "now" if seconds < 1 else f"in {format_duration(seconds)}"
        tries = f"{record.attempts} tr{'ies' if record.attempts != 1 else 'y'}"
        text = f"    hook {record.hook} ({record.kind}): not delivered, {tries}, next {when}"
        if record.last_error:
            text += f": {record.last_error}"
        found.setdefault(record.item_key, []).append(text)
    return found
