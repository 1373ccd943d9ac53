"""Shared fixtures: a fault-injecting file host on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from downloader.emulator._files import FileHost, RunningHost, start_file_host


@pytest.fixture
async def file_host() -> AsyncIterator[RunningHost]:
    """A started `FileHost`; `.host` configures it, `.url(path)` addresses it."""
    async with await start_file_host(FileHost()) as running:
        yield running
