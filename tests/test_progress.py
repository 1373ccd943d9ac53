"""The progress board and the display drawn from it: pure, without an event loop."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import anyio
from rich.console import Console

from downloader.runners import _human as human
from downloader.runners._board import ProgressBoard
from downloader.runners._progress import frame, show_progress, summary_json, summary_line
from downloader.store import ItemState
from downloader.store._models import ItemRecord

NOW = datetime(2026, 11, 23, tzinfo=UTC)
MiB = 1 << 20


def record(key: str, state: ItemState, done: int = 0, total: int | None = None, **kw: object):
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


def draw(board: ProgressBoard, now: float, width: int = 80, height: int = 24) -> list[str]:
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(frame(board, now, NOW, width, height))
    return console.export_text().splitlines()


def test_a_resumed_transfer_counts_only_the_bytes_fetched_now_and_says_where_it_resumed() -> None:
    board = ProgressBoard(started=0.0)
    board.seen(
        [record("http:file:big", ItemState.DOWNLOADING, 64 * MiB, 128 * MiB)], 0.0, claimed=True
    )
    board.progress("http:file:big", 80 * MiB, 128 * MiB, 2.0)
    board.progress("http:file:big", 96 * MiB, 128 * MiB, 4.0)
    assert board.fetched == 32 * MiB
    assert board.rate(4.0) == 8 * MiB  # 16 MiB in the 2 s between the samples
    (flight,) = board.flights.values()
    assert flight.eta(4.0) == 4.0
    lines = draw(board, 4.0)
    (line,) = [line for line in lines if "big" in line]
    assert "resumed at 64.0 MiB" in line
    assert "75%" in line
    assert "eta 4s" in line


def test_the_display_fits_80_columns_with_long_ids_and_more_transfers_than_lines() -> None:
    board = ProgressBoard(started=0.0)
    keys = [f"pixxel:task:wf-{'x' * 40}/job-{'y' * 30}/task-{i:03}" for i in range(40)]
    board.seen([record(k, ItemState.DOWNLOADING, 0, 100 * MiB) for k in keys], 0.0, claimed=True)
    for i, key in enumerate(keys):
        board.progress(key, (i + 1) * MiB, 100 * MiB, 1.0)
        board.progress(key, (i + 2) * MiB, 100 * MiB, 2.0)
    later = NOW + timedelta(minutes=2)
    board.seen(
        [
            record("scale:job:1", ItemState.WAITING),
            record("scale:job:2", ItemState.PREPARING),
            record(
                "scale:job:3",
                ItemState.REQUESTED,
                error="HTTP 503 " * 20,
                attempts=3,
                next_attempt_at=later,
            ),
        ],
        2.0,
    )
    lines = draw(board, 2.0, width=80, height=24)
    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 24
    assert any("more in flight" in line for line in lines)
    # an id cut to fit keeps its start and its end, where ids of one job differ
    assert any(re.match(r"pixxel:task:wf-x*…y+/task-000 ", line) for line in lines)
    assert any("1 waiting" in line and "1 preparing" in line for line in lines)
    assert any("scale:job:3 retrying in 2m (3): HTTP 503" in line for line in lines)
    board.retry_limit = 8  # `[retry] attempts`, where the config limits them
    assert any("scale:job:3 retrying in 2m (3/8): HTTP" in line for line in draw(board, 2.0))


def test_the_last_frame_and_the_summary_tell_the_run_as_it_ended() -> None:
    board = ProgressBoard(started=0.0)
    board.seen([record("http:file:a", ItemState.DOWNLOADING)], 0.0, claimed=True)
    board.progress("http:file:a", 3 * MiB, 10 * MiB, 1.0)
    board.progress("http:file:a", 10 * MiB, 10 * MiB, 2.0)
    done = record("http:file:a", ItemState.ARCHIVED, 10 * MiB, 10 * MiB, archive_path="/a")
    failed = record("http:file:b", ItemState.FAILED, error="HTTP 404")
    board.seen([done, failed], 2.0)
    board.ended = 4.0
    lines = draw(board, 100.0)
    assert "2/2 items" in lines[0]
    assert "10.0/10.0 MiB" in lines[0]
    assert not board.flights
    assert summary_line(board, 100.0) == (
        "1 archived, 1 failed: 10.0 MiB in 4.0 s; fetched 10.0 MiB at 2.5 MiB/s"
    )
    assert summary_json(board, 100.0)["bytes_archived"] == 10 * MiB


def test_a_run_that_fetched_nothing_reports_no_rate() -> None:
    board = ProgressBoard(started=0.0)
    board.seen([record("http:file:a", ItemState.ARCHIVED, 5 * MiB, 5 * MiB)], 0.0)
    board.ended = 0.01
    assert summary_line(board, 1.0).endswith("5.0 MiB in 0.0 s; nothing fetched")
    assert summary_json(board, 1.0)["mean_rate"] == 0


def test_a_transfer_paused_for_disk_space_stays_in_flight_and_a_retry_leaves() -> None:
    board = ProgressBoard(started=0.0)
    board.seen([record("http:file:a", ItemState.DOWNLOADING)], 0.0, claimed=True)
    paused = record(
        "http:file:a", ItemState.DOWNLOADING, error="waiting for disk space", next_attempt_at=NOW
    )
    board.seen([paused], 1.0)
    assert "http:file:a" in board.flights
    retry = record(
        "http:file:a",
        ItemState.DOWNLOADING,
        error="HTTP 503",
        next_attempt_at=NOW + timedelta(seconds=30),
        attempts=1,
    )
    board.seen([retry], 2.0)
    assert board.flights == {}
    assert [(r.key, r.seconds, r.attempts) for r in board.retries(NOW)] == [
        ("http:file:a", 30.0, 1)
    ]


def test_human_units() -> None:
    assert [human.size(n) for n in (0, 1023, 1024, 5 * MiB + MiB // 2, None)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.5 MiB",
        "?",
    ]
    assert [human.duration(s) for s in (0.4, 59, 60, 125, 3600, 5400, 90000, None)] == [
        "0s",
        "59s",
        "1m",
        "2m05s",
        "1h",
        "1h30m",
        "1d1h",
        "-",
    ]
    assert human.rate(None) == "-"
    assert human.fit("abcdefghij", 7) == "abc…hij"
    assert human.fit("abc", 7) == "abc"


async def test_progress_is_silent_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    with anyio.move_on_after(0.1):
        await show_progress(ProgressBoard(0.0), stream=stream)
    assert stream.getvalue() == ""
