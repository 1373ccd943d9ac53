"""The live progress display of `once` and `demo`: only on a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

import anyio

from downloader.store import StateStore
from downloader.store._models import ItemRecord

if TYPE_CHECKING:  # rich is loaded only when a terminal shows the table
    from rich.table import Table

_STYLE = {"archived": "green", "failed": "red", "downloading": "cyan", "verifying": "magenta"}


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def progress_table(records: list[ItemRecord]) -> Table:
    from rich.table import Table

    table = Table(title="downloader", expand=False)
    table.add_column("item")
    table.add_column("state")
    table.add_column("bytes", justify="right")
    table.add_column("note", overflow="fold", max_width=60)
    for record in records:
        style = _STYLE.get(str(record.state), "yellow")
        done = _size(record.bytes_done)
        total = _size(record.bytes_total) if record.bytes_total is not None else ""
        table.add_row(
            record.key,
            f"[{style}]{record.state}[/{style}]",
            f"{done} / {total}" if total else done,
            record.error or record.archive_path or "",
        )
    return table


async def show_progress(store: StateStore, stream: TextIO | None = None) -> None:
    """Redraw a table of every item twice a second until cancelled; silent off a TTY."""
    stream = stream or sys.stderr
    if not stream.isatty():
        await anyio.sleep_forever()
    from rich.console import Console
    from rich.live import Live

    console = Console(file=stream)
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            live.update(progress_table(await store.list_items()))
            await anyio.sleep(0.5)
