"""Scenarios shipped with the emulator (`demo.toml`: the one `downloader demo` serves)."""

from __future__ import annotations

from importlib.resources import files


def demo_scenario_text() -> str:
    """The text of the bundled demo scenario."""
    return files("downloader.emulator.scenarios").joinpath("demo.toml").read_text(encoding="utf-8")
