"""A small file system to fill: a 32 MiB tmpfs mounted for one test (as root only), a
ballast file that leaves a given room on it, and what the tests serve and wait for."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from downloader.emulator._content import SeededContent
from downloader.emulator._files import Faults, FileSpec, RunningHost
from downloader.runners._status import collect_status
from downloader.store import StateStore
from downloader.transfer._space import free_bytes

MiB = 1 << 20


@contextlib.contextmanager
def small_tmpfs(mount: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs at `mount` (made here), unmounted afterwards; the test is skipped
    where it cannot be mounted."""
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root, and this test runs as an ordinary user")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m,mode=0750", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(fs: Path, leave: int) -> Path:
    """Write a ballast file so that about `leave` bytes stay free on `fs`."""
    ballast = fs / "ballast"
    size = free_bytes(fs) - leave
    with ballast.open("wb") as f:
        block = b"\xa5" * MiB
        while size > 0:
            size -= f.write(block[: min(MiB, size)])
    return ballast


def add(host: RunningHost, path: str, size: int, **faults: object) -> SeededContent:
    content = SeededContent(11, size)
    host.host.add(FileSpec(path, content), Faults(**faults))  # type: ignore[arg-type]
    return content


async def rows_once_one_waits(store: StateStore) -> list[dict[str, Any]]:
    """The status rows, as soon as the first of them shows why its item waits."""
    with anyio.fail_after(20):
        while True:
            rows = await collect_status(store, verbose=False)
            if rows and rows[0]["error"]:
                return rows
            await anyio.sleep(0.02)
