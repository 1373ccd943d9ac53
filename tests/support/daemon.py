"""Helpers for tests of `downloader run` as a real subprocess.

`Daemon` starts the command with its JSON log lines going to a file the test
reads as events; `NotifyListener` is the datagram socket systemd would bind for
`$NOTIFY_SOCKET`; `Setup` writes a config and watchlist of plain URL items.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from tests.support.cli import downloader


async def until(
    predicate: Callable[[], object], *, timeout: float = 20.0, what: str = "condition"
) -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(0.05)


class NotifyListener:
    """A bound datagram socket collecting what the daemon sends to `$NOTIFY_SOCKET`."""

    def __init__(self) -> None:
        # a short folder of its own: socket paths are limited to about 100 bytes
        self._dir = tempfile.mkdtemp(prefix="dl-notify-")
        self.path = os.path.join(self._dir, "notify.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def collect(self) -> list[dict[str, str]]:
        """Every message received so far, each as its `KEY=value` lines."""
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.messages.append(fields)

    def with_key(self, key: str) -> list[dict[str, str]]:
        return [m for m in self.collect() if key in m]

    def close(self) -> None:
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass
class Setup:
    """A config and watchlist of `[[http.file]]` items in `tmp`."""

    tmp: Path
    entries: dict[str, str] = field(default_factory=dict)  # id -> url
    extra_config: str = ""

    @property
    def config(self) -> Path:
        return self.tmp / "config.toml"

    @property
    def watchlist(self) -> Path:
        return self.tmp / "watchlist.toml"

    @property
    def archive(self) -> Path:
        return self.tmp / "archive"

    def bag(self, item_id: str) -> Path:
        return self.archive / "http" / item_id

    def write_config(
        self, *, watchlist: Path | None = None, check_interval: str = "2s", **service: str
    ) -> None:
        service_lines = "".join(f'{k} = "{v}"\n' for k, v in service.items())
        self.config.write_text(
            f'[archive]\nroot = "{self.archive}"\n'
            f'[state]\nurl = "sqlite:///{self.tmp / "state.db"}"\n'
            f'[watchlist]\npath = "{watchlist or self.watchlist}"\n'
            f'check_interval = "{check_interval}"\n'
            f"{self.extra_config}"
            '[transfer]\nsegment_min_size = "1MiB"\n'
            f"[service]\n{service_lines}"
        )

    def watchlist_text(self, entries: Mapping[str, str], extra: str = "") -> str:
        lines = []
        for item_id, url in entries.items():
            lines += ["[[http.file]]", f'url = "{url}"', f'id = "{item_id}"', ""]
        return "\n".join(lines) + extra

    def write_watchlist(self, entries: Mapping[str, str], extra: str = "") -> None:
        """Replace the watchlist the way an editor does: a new file renamed into place."""
        tmp = self.watchlist.with_suffix(".new")
        tmp.write_text(self.watchlist_text(entries, extra))
        os.replace(tmp, self.watchlist)


class Daemon:
    """`downloader run -c CONFIG` as a child process, its log lines parsed as events."""

    def __init__(self, config: Path, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.log = log
        self._out = log.open("a")
        self._err_path = log.with_suffix(".stderr")
        self._err = self._err_path.open("a")
        environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET",)}
        environ.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "downloader", "run", "-c", str(config)],
            stdout=self._out,
            stderr=self._err,
            env=environ,
        )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        # the log lines are on stderr, beside the problems written there as plain text
        for line in self._err_path.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
        return found

    @property
    def stderr(self) -> str:
        return self._err_path.read_text()

    def signal(self, signum: signal.Signals) -> None:
        os.kill(self.process.pid, signum)

    async def wait(self, timeout: float = 30.0) -> int:
        return await anyio.to_thread.run_sync(lambda: self.process.wait(timeout=timeout))

    async def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        code = await self.wait(timeout)
        self._out.close()
        self._err.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()
        self._err.close()


def status_json(config: Path) -> list[dict[str, Any]]:
    """`downloader status --json`, which must exit 0."""
    out = downloader("status", "--json", "-c", str(config), check=True)
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def status_rows(config: Path) -> dict[str, dict[str, Any]]:
    """`downloader status --json`, keyed by item."""
    return {row["item"]: row for row in status_json(config)}
