"""A command on a pseudo-terminal of a given size, its screen read through pyte."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyte


@dataclass
class TerminalRun:
    frames: list[list[str]] = field(default_factory=list)
    """The screen's lines after each read of output, oldest first."""
    returncode: int | None = None

    @property
    def last(self) -> list[str]:
        return self.frames[-1] if self.frames else []


def run_on_terminal(
    argv: Sequence[str],
    *,
    columns: int = 80,
    lines: int = 24,
    screen_columns: int = 200,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> TerminalRun:
    """Run `argv` with stdin, stdout and stderr on a new pty of `columns` x `lines`.

    The screen it is read into is `screen_columns` wide, wider than the terminal the
    program is told of, so a line it writes past its width shows as a longer line
    instead of being wrapped out of sight."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    environ = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    environ.update(env or {})
    environ.pop("NO_COLOR", None)
    process = subprocess.Popen(
        list(argv), stdin=follower, stdout=follower, stderr=follower, env=environ
    )
    os.close(follower)
    screen = pyte.Screen(screen_columns, lines)
    stream = pyte.ByteStream(screen)
    run = TerminalRun()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: every writer closed its end
                break
            if not data:
                break
            stream.feed(data)
            run.frames.append([line.rstrip() for line in screen.display])
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
        run.returncode = process.wait(timeout=30)
    return run
