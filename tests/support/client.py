"""A client of the emulator as the end-to-end tests set one up: its config, watchlist and
secrets in `folder/client`, its archive in `folder/archive`, its SQLite state in
`folder/state.db` unless put elsewhere, and what the test adds to its config."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from downloader.emulator import (
    ClientFiles,
    Emulator,
    RunningEmulator,
    Scenario,
    start_emulator,
    write_client_files,
)


def client_files(
    scenario: Scenario,
    base_url: str,
    folder: Path,
    *,
    state_db: Path | None = None,
    config_tail: str = "",
    hooks: bool = False,
) -> ClientFiles:
    """The client files of `scenario`'s emulator at `base_url`, `config_tail` appended to
    the config."""
    files = write_client_files(
        scenario,
        base_url,
        folder / "client",
        archive_root=folder / "archive",
        state_url=f"sqlite:///{state_db or folder / 'state.db'}",
        hooks=hooks,
    )
    if config_tail:
        files.config.write_text(files.config.read_text() + config_tail)
    return files


@contextlib.asynccontextmanager
async def emulator_client(
    emulator: Emulator,
    folder: Path,
    *,
    state_db: Path | None = None,
    config_tail: str = "",
    hooks: bool = False,
) -> AsyncIterator[tuple[RunningEmulator, ClientFiles]]:
    """`emulator` served on loopback, and the `client_files` of a client of it."""
    async with await start_emulator(emulator) as running:
        yield (
            running,
            client_files(
                emulator.scenario,
                running.base_url,
                folder,
                state_db=state_db,
                config_tail=config_tail,
                hooks=hooks,
            ),
        )
