"""Shared fixtures: a fault-injecting file host on a free loopback port, state stores, a
small tmpfs to fill, and the daemons a test starts.

`state_url` runs a test once per backend (SQLite file, PostgreSQL database);
the PostgreSQL server is started once per session, and only when a test asks.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from downloader.emulator._files import FileHost, RunningHost, start_file_host
from tests.support.daemon import Daemon
from tests.support.disk import small_tmpfs
from tests.support.pgserver import PgServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first, in their order: on several workers they start side
    by side at once, instead of one of them, met late, ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _umask_kept() -> Iterator[None]:
    """The process umask as the test found it: a command run in-process (`cli.main`)
    tightens it, as the service does, and a later test writing files for another user
    (the units' sandbox) would find them unreadable."""
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        yield
    finally:
        os.umask(umask)


@pytest.fixture
async def file_host() -> AsyncIterator[RunningHost]:
    """A started `FileHost`; `.host` configures it, `.url(path)` addresses it."""
    async with await start_file_host(FileHost()) as running:
        yield running


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs at tmp_path/fs, unmounted afterwards (skipped unless root)."""
    with small_tmpfs(tmp_path / "fs") as mount:
        yield mount


@pytest.fixture
async def daemons() -> AsyncIterator[list[Daemon]]:
    """Daemons (`downloader run` processes) a test starts; any still running at the end is
    killed."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server on loopback for the whole test session."""
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop(wait=False)  # nothing after the session needs its files gone


@pytest.fixture
def pg_db(pg_server: PgServer) -> str:
    """The name of a fresh, empty database on `pg_server`."""
    return pg_server.new_database()


@pytest.fixture
def pg_url(pg_server: PgServer, pg_db: str) -> str:
    """The URL (with a password) of `pg_db`."""
    return pg_server.url(pg_db)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new state store's URL, once for each backend: one suite proves both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
