"""The live progress display of `once` and `demo` (on a terminal), and the run's summary.

Drawn from the progress board the run keeps in memory, never from the database: one
overall bar (items and bytes, rate, ETA), one line per transfer in flight, one line
counting the items in each waiting state, one per retry countdown.  Every line fits
the terminal's width; the last frame is drawn from the board as the run ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from downloader.runners import _human as human
from downloader.runners._board import WAITING_STATES, ProgressBoard, Retry
from downloader.store import ItemState

if TYPE_CHECKING:  # rich is loaded only when a terminal shows the display
    from rich.console import RenderableType
    from rich.progress import Progress

REFRESH = 0.5
"""Seconds between frames."""
RETRY_LINES = 3
"""Retry countdowns shown at most; the rest are counted."""
_COLUMNS = {"pct": 4, "bytes": 17, "rate": 11, "eta": 9}
"""Widths of the columns right of a line's name or bar."""


def _fixed_width() -> int:
    return sum(_COLUMNS.values()) + len(_COLUMNS)  # one space before each


def _pair(done: int, total: int | None) -> str:
    """`12.0/30.0 MiB`: done and total, the unit written once when they share it."""
    if total is None:
        return human.size(done)
    got, wanted = human.size(done), human.size(total)
    number, _, unit = got.partition(" ")
    return f"{number}/{wanted}" if wanted.endswith(f" {unit}") else f"{got}/{wanted}"


def _pct(done: int, total: int | None) -> str:
    return f"{min(100, done * 100 // total)}%" if total else ""


def _progress(*lead: Any) -> Progress:
    from rich.progress import Progress, TextColumn
    from rich.table import Column

    def cell(name: str, width: int) -> TextColumn:
        column = Column(width=width, no_wrap=True, overflow="ellipsis", justify="right")
        return TextColumn(f"{{task.fields[{name}]}}", markup=False, table_column=column)

    return Progress(
        *lead,
        *(cell(name, width) for name, width in _COLUMNS.items()),
        auto_refresh=False,
        expand=False,
    )


def _text(line: str, width: int, style: str = "") -> RenderableType:
    from rich.text import Text

    text = Text(line, style=style, no_wrap=True, overflow="ellipsis")
    text.truncate(width, overflow="ellipsis")  # its end is what matters least
    return text


def frame(
    board: ProgressBoard, now: float, utcnow: datetime, width: int, height: int
) -> RenderableType:
    """The display as the board stands: at most `height - 1` lines of at most `width`."""
    from rich.console import Group

    retries = board.retries(utcnow)
    # the overall bar, the waiting line and the retries first; transfers get the rest
    room = max(1, height - 3 - min(len(retries), RETRY_LINES + 1))
    return Group(
        _overall(board, now, width),
        *_transfers(board, now, width, room),
        *_notes(board, retries, width),
    )


def _overall(board: ProgressBoard, now: float, width: int) -> RenderableType:
    """Items finished of all, bytes done of those known to be wanted, rate and ETA."""
    from rich.progress import BarColumn, TextColumn
    from rich.table import Column

    counts = board.counts()
    finished = counts[ItemState.ARCHIVED] + counts[ItemState.FAILED]
    done, wanted = board.totals()
    label = f"{finished}/{sum(counts.values())} items"
    bar_width = max(4, width - _fixed_width() - len(label) - 2)
    overall = _progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(bar_width=bar_width, table_column=Column(width=bar_width, no_wrap=True)),
    )
    running = board.ended is None  # the last frame tells totals, not a rate that has ended
    overall.add_task(
        label,
        total=max(wanted, 1),
        completed=done,
        pct=_pct(done, wanted),
        bytes=_pair(done, wanted),
        rate=human.rate(board.rate(now)) if running else "",
        eta=f"eta {human.duration(board.eta(now))}" if running else "",
    )
    return overall.make_tasks_table(overall.tasks)


def _transfers(board: ProgressBoard, now: float, width: int, room: int) -> list[RenderableType]:
    """A line per transfer in flight, in at most `room` lines (the rest counted in one)."""
    from rich.progress import TextColumn
    from rich.table import Column

    flights = sorted(board.flights.values(), key=lambda f: f.key)
    shown = flights if len(flights) <= room else flights[: room - 1]
    if not shown:
        return []
    name_width = max(8, width - _fixed_width() - 1)
    rows = _progress(
        TextColumn(
            "{task.description}",
            markup=False,
            table_column=Column(width=name_width, no_wrap=True, overflow="ellipsis"),
        )
    )
    for flight in shown:
        note = f" resumed at {human.size(flight.resumed_at)}" if flight.resumed_at else ""
        rows.add_task(
            human.fit(flight.key, max(8, name_width - len(note))) + note,
            pct=_pct(flight.done, flight.total),
            bytes=_pair(flight.done, flight.total),
            rate=human.rate(flight.meter.rate(now)),
            eta=f"eta {human.duration(flight.eta(now))}",
        )
    lines: list[RenderableType] = [rows.make_tasks_table(rows.tasks)]
    if len(shown) < len(flights):
        lines.append(_text(f"  … and {len(flights) - len(shown)} more in flight", width, "dim"))
    return lines


def _notes(board: ProgressBoard, retries: list[Retry], width: int) -> list[RenderableType]:
    """The items in each waiting state on one line, then the soonest retry countdowns."""
    counts = board.counts()
    lines: list[RenderableType] = []
    waiting = [f"{counts[s]} {s}" for s in WAITING_STATES if counts[s]]
    if waiting:
        lines.append(_text(" · ".join(waiting), width, "yellow"))
    for retry in retries[:RETRY_LINES]:
        tries = f"{retry.attempts}/{board.retry_limit}" if board.retry_limit else retry.attempts
        line = f"{retry.key} retrying in {human.duration(retry.seconds)} ({tries})"
        lines.append(_text(f"{line}: {retry.error}", width, "red"))
    if len(retries) > RETRY_LINES:
        lines.append(_text(f"  … and {len(retries) - RETRY_LINES} more retrying", width, "dim"))
    return lines


def summary_line(board: ProgressBoard, now: float) -> str:
    """The totals of the run: items, the archive's bytes, wall time, the rate of the
    bytes fetched by this run (none when everything was there already)."""
    counts = board.counts()
    archived = sum(board.bytes_done(r.key) for r in board.active() if r.state is ItemState.ARCHIVED)
    wall = board.wall(now)
    speed = board.mean_rate(now)
    fetched = (
        f"fetched {human.size(board.fetched)} at {human.rate(speed)}"
        if speed
        else "nothing fetched"
    )
    return (
        f"{counts[ItemState.ARCHIVED]} archived, {counts[ItemState.FAILED]} failed: "
        f"{human.size(archived)} in {wall:.1f} s; {fetched}"
    )


def hooks_left_text(left: int) -> str:
    """What the summary adds when hook events are left for the next run ("" if none)."""
    if not left:
        return ""
    return f"; {left} hook event{'s' if left != 1 else ''} not delivered yet (the next run will)"


def summary_json(board: ProgressBoard, now: float) -> dict[str, Any]:
    counts = board.counts()
    return {
        "archived": counts[ItemState.ARCHIVED],
        "failed": counts[ItemState.FAILED],
        "bytes_archived": sum(
            board.bytes_done(r.key) for r in board.active() if r.state is ItemState.ARCHIVED
        ),
        "bytes_fetched": board.fetched,
        "seconds": round(board.wall(now), 3),
        "mean_rate": round(board.mean_rate(now) or 0.0, 1),
        "items": {r.key: str(r.state) for r in board.active()},
    }


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def show_progress(
    board: ProgressBoard,
    stream: TextIO | None = None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    utcnow: Callable[[], datetime] = _utcnow,
) -> None:
    """Redraw the board every `REFRESH` seconds until cancelled, then draw it once more as
    the run left it; silent (waits to be cancelled) when `stream` is not a terminal."""
    import sys

    stream = stream or sys.stderr
    if not stream.isatty():
        await anyio.sleep_forever()
    from rich.console import Console
    from rich.live import Live

    console = Console(file=stream)

    def draw() -> RenderableType:
        size = console.size
        return frame(board, monotonic(), utcnow(), size.width, size.height)

    with Live(draw(), console=console, auto_refresh=False, transient=False) as live:
        try:
            while True:
                await anyio.sleep(REFRESH)
                live.update(draw(), refresh=True)
        finally:  # the last frame is the run as it ended, not the one before
            if board.ended is None:
                board.ended = monotonic()
            live.update(draw(), refresh=True)
