"""Scenarios shipped with the emulator (`demo.toml`: the one `downloader demo` serves;
`platforms.toml`: platforms answering as they really do, faults included)."""

from __future__ import annotations

from importlib.resources import files


def demo_scenario_text() -> str:
    """The text of the bundled demo scenario."""
    return files("downloader.emulator.scenarios").joinpath("demo.toml").read_text(encoding="utf-8")


def scenario_text(name: str) -> str:
    """The text of the bundled scenario `name` (e.g. `platforms.toml`)."""
    return files("downloader.emulator.scenarios").joinpath(name).read_text(encoding="utf-8")
