"""The shell of `downloader demo`: its target folder and scenario checked, the demo run."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from downloader.errors import ConfigError
from downloader.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from downloader.runners._compose import Interrupted
from downloader.runners._demo import run_demo

__all__ = ["run_demo_command"]


def run_demo_command(target: Path, scenario: Path | None) -> int:
    """Exit 0 when every item was archived, 1 when any failed, 2 on a target folder or a
    scenario that cannot be used (said on stderr, never a traceback), 3 interrupted."""
    try:
        where = target.resolve()
        where.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:  # a file in the way, not allowed, a NUL byte
        print(f"demo: cannot use {target}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    text, origin = None, "demo.toml"
    if scenario is not None:
        try:
            text, origin = scenario.read_text(encoding="utf-8"), str(scenario)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"demo: cannot read the scenario {scenario}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        result = anyio.run(lambda: run_demo(where, text, origin=origin))
    except Interrupted:
        return EXIT_INTERRUPTED
    except ConfigError as exc:  # the scenario: every problem with its file and line
        print(f"demo: the scenario cannot be used:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if result.ok else EXIT_FAILED
