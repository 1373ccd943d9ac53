"""The decisions about hook events, pure: settings and facts in, rows and text out.

Nothing here may import aiohttp, anyio or sqlite3, or read a clock: the time of
an event is an argument, so an event's id and document are reproducible.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from downloader.config._hooks import PLACEHOLDERS, HookSettings
from downloader.items import ItemRef
from downloader.store._outbox_models import OutboxRow
from downloader.transfer._backoff import backoff_ceiling

__all__ = [
    "PayloadEntry",
    "command_argv",
    "delivery_delay",
    "event_id",
    "hooks_for",
    "plan_outbox",
]

_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


@dataclass(frozen=True)
class PayloadEntry:
    """One payload file of a bag, as a hook's document lists it."""

    path: str
    """Below the bag, e.g. `data/scene.tif`."""
    size: int
    sha256: str


def hooks_for(hooks: Iterable[HookSettings], kind: str) -> tuple[HookSettings, ...]:
    """The hooks that are `on` events of `kind`, in the order configured."""
    return tuple(hook for hook in hooks if kind in hook.on)


def event_id(item_key: str, kind: str, hook: str, at: datetime) -> str:
    """The id of one event for one hook: the receiver's idempotency key.

    Made of what the event is (item, kind, hook, the moment of the transition),
    so it is the same on every retry, and differs for the next time the item is
    archived (say, after it was listed again with another URL).
    """
    text = "\0".join((item_key, kind, hook, at.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _document(
    ident: str,
    kind: str,
    hook: str,
    ref: ItemRef,
    at: datetime,
    archive_path: str | None,
    files: Sequence[PayloadEntry],
    error: str | None,
    listed_by: str | None,
) -> str:
    body: dict[str, Any] = {
        "event_id": ident,
        "event": kind,
        "hook": hook,
        "item": ref.key,
        "provider": ref.provider,
        "kind": ref.kind,
        "ids": list(ref.ids),
        # as in `status --json`: the source that listed the item, None for its own entry
        "source": listed_by,
        "state": kind,
        "at": at.isoformat().replace("+00:00", "Z"),
        "archive_path": archive_path,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files],
        "error": error,
    }
    return json.dumps(body, sort_keys=True)


def plan_outbox(
    hooks: Iterable[HookSettings],
    kind: str,
    ref: ItemRef,
    *,
    at: datetime,
    archive_path: str | None = None,
    files: Sequence[PayloadEntry] = (),
    error: str | None = None,
    listed_by: str | None = None,
) -> tuple[OutboxRow, ...]:
    """The outbox rows of `ref` becoming `kind` at `at`: one per hook that wants it;
    `listed_by` is the source that listed `ref` (`pixxel:workflow:WF`), if one did."""
    rows = []
    for hook in hooks_for(hooks, kind):
        ident = event_id(ref.key, kind, hook.name, at)
        document = _document(ident, kind, hook.name, ref, at, archive_path, files, error, listed_by)
        rows.append(OutboxRow(ident, ref.key, hook.name, kind, document))
    return tuple(rows)


def command_argv(template: Sequence[str], document: Mapping[str, Any]) -> list[str]:
    """A hook's command with `{item}`, `{archive_path}` and `{state}` filled in from its
    event's document (a failed item's archive path is empty); other braces stay."""
    values = {
        "item": str(document.get("item") or ""),
        "archive_path": str(document.get("archive_path") or ""),
        "state": str(document.get("state") or ""),
    }
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in template]


def delivery_delay(attempts: int, hook: HookSettings) -> float:
    """Seconds before the next delivery after `attempts` failed ones (at least 1):
    `retry_delay`, doubled each time, up to `max_delay`.  Not jittered: a receiver
    that was down gets the waiting events back in the order they were recorded."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    return backoff_ceiling(attempts - 1, base=hook.retry_delay, cap=hook.max_delay)
