"""A loopback emulator of the Pixxel, Scale and Alteryx APIs and of their file hosts.

Build an `Emulator` from a `Scenario` (in code, or `load_scenario(path)` from
TOML), serve it with `start_emulator`, point a client at it with
`write_client_files`, and check what the client archived against
`expected_files`.  `python -m downloader.emulator` does the same from a shell.
"""

from __future__ import annotations

from downloader.emulator._app import Emulator, RunningEmulator, start_emulator
from downloader.emulator._client_files import ClientFiles, render_watchlist, write_client_files
from downloader.emulator._items import ExpectedFile, expected_files
from downloader.emulator._scenario import (
    AlteryxJob,
    AlteryxMessage,
    AlteryxOutput,
    DownloadKind,
    FileEntry,
    Item,
    Knobs,
    Malformed,
    OrderItemSpec,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
    Settings,
    Timing,
)
from downloader.emulator._scenario_checks import check_scenario
from downloader.emulator._scenario_toml import load_scenario, parse_scenario
from downloader.emulator._state import ApiRecord, ItemStats
from downloader.emulator._zip import ZipContent, ZipMember
from downloader.emulator.scenarios import demo_scenario_text

__all__ = [
    "AlteryxJob",
    "AlteryxMessage",
    "AlteryxOutput",
    "ApiRecord",
    "ClientFiles",
    "DownloadKind",
    "Emulator",
    "ExpectedFile",
    "FileEntry",
    "Item",
    "ItemStats",
    "Knobs",
    "Malformed",
    "OrderItemSpec",
    "PixxelDownload",
    "PixxelJob",
    "PixxelTask",
    "RunningEmulator",
    "ScaleJob",
    "Scenario",
    "Settings",
    "Timing",
    "ZipContent",
    "ZipMember",
    "check_scenario",
    "demo_scenario_text",
    "expected_files",
    "load_scenario",
    "parse_scenario",
    "render_watchlist",
    "start_emulator",
    "write_client_files",
]
