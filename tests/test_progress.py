from __future__ import annotations

import io
from datetime import UTC, datetime

import anyio
from rich.console import Console

from downloader.runners._progress import progress_table, show_progress
from downloader.store import ItemState
from downloader.store._models import ItemRecord

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def record(key: str, state: ItemState, done: int, total: int | None, **kw: object) -> ItemRecord:
    fields: dict[str, object] = {
        "key": key,
        "provider": key.split(":")[0],
        "kind": key.split(":")[1],
        "state": state,
        "active": True,
        "error": None,
        "archive_path": None,
        "bytes_done": done,
        "bytes_total": total,
        "attempts": 0,
        "next_attempt_at": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "created_at": NOW,
        "updated_at": NOW,
        "state_since": NOW,
    }
    fields.update(kw)
    return ItemRecord(**fields)  # type: ignore[arg-type]


def test_progress_table_shows_state_bytes_and_where_things_went() -> None:
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(
        progress_table(
            [
                record("pixxel:job:wf/j", ItemState.DOWNLOADING, 3 << 20, 8 << 20),
                record("scale:job:7", ItemState.ARCHIVED, 10, 10, archive_path="/a/scale/jobs/7"),
                record("http:file:x", ItemState.FAILED, 0, None, error="HTTP 404"),
            ]
        )
    )
    text = console.export_text()
    assert "3.0 MiB / 8.0 MiB" in text
    assert "/a/scale/jobs/7" in text
    assert "HTTP 404" in text
    assert "downloading" in text


async def test_progress_is_silent_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    with anyio.move_on_after(0.1):
        await show_progress(store=None, stream=stream)  # type: ignore[arg-type]
    assert stream.getvalue() == ""
