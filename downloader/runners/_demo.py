"""`downloader demo`: the whole service against the built-in emulator, on loopback.

Starts the emulator with the bundled scenario (every kind of item, jobs that
finish and packages that become ready after a few polls), writes a config and
watchlist pointing at it, runs batch mode into the target folder with the live
display, and prints what was archived, where, and how fast.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path

from downloader.config import PollSettings, load_config
from downloader.emulator import Emulator, parse_scenario, start_emulator, write_client_files
from downloader.emulator.scenarios import demo_scenario_text
from downloader.runners._batch import BatchResult
from downloader.runners._board import ProgressBoard
from downloader.runners._compose import run_once
from downloader.runners._progress import show_progress, summary_line
from downloader.watchlist import load_watchlist

# polls come quickly in the demo: it shows the dance, not the waiting
DEMO_SOURCES = ("wf-nightly",)
"""Workflows the demo's watchlist names as sources (`[[pixxel.workflow]]`), not job by job."""
DEMO_POLL = PollSettings(initial_interval=0.5, max_interval=2.0, give_up_after=600.0)


async def run_demo(
    target: Path, scenario_text: str | None = None, *, origin: str = "demo.toml"
) -> BatchResult:
    """Run the demo into `target` (an existing, absolute folder), on the bundled scenario
    or on `scenario_text` read from the file `origin` (the emulator's scenario format:
    see `emulator/_scenario.py`)."""
    text = demo_scenario_text() if scenario_text is None else scenario_text
    scenario = parse_scenario(text, source=origin)
    async with await start_emulator(Emulator(scenario)) as running:
        files = write_client_files(
            scenario,
            running.base_url,
            target / ".demo",
            archive_root=target,
            state_url=f"sqlite:///{target / '.demo' / 'state.db'}",
            workflow_sources=DEMO_SOURCES,
        )
        settings = dataclasses.replace(load_config(files.config), poll=DEMO_POLL)
        watchlist = load_watchlist(
            files.watchlist, enabled_providers=set(settings.providers.enabled) | {"http"}
        )
        counts = f"{len(watchlist.items)} items, {len(watchlist.sources)} source"
        print(f"emulator on {running.base_url}; {counts}", file=sys.stderr)
        board = ProgressBoard(time.monotonic())
        result = await run_once(
            settings,
            watchlist.items,
            sources=watchlist.sources,
            board=board,
            progress=show_progress,
        )
    now = time.monotonic()
    print(f"\n{summary_line(board, now)}")
    for source in watchlist.sources:
        print(f"source {source.key}: its jobs archived as if each had its own entry")
    for record in sorted(board.active(), key=lambda r: r.key):
        if record.error:  # the archived ones are in the archive; only failures need words
            print(f"  {record.key} {record.state}: {record.error}")
    print(f"archive: {target}")
    program = Path(sys.argv[0])
    for line in next_steps(files.config, program, shutil.which("downloader")):
        print(line)
    return result


def next_steps(config: Path, program: Path, on_path: str | None) -> list[str]:
    """How to run the commands the demo suggests from the user's shell: as `downloader`
    when that is this program, else by this program's path (`make demo` runs the venv's,
    which is on no PATH until the venv is activated)."""
    if on_path is not None and Path(on_path).resolve() == program.resolve():
        command, activate = "downloader", None
    elif program.name == "downloader":
        command, activate = str(program), program.parent / "activate"
    else:  # python -m downloader
        command, activate = f"{sys.executable} -m downloader", None
    lines = [
        "next:",
        f"  {command} verify -c {config}   # re-hash every bag",
        f"  {command} status -c {config}   # every item, its state and bytes",
    ]
    if activate is not None and activate.is_file():
        lines.append(f"  (or run `. {activate}` once, then plain `downloader ...`)")
    return lines
