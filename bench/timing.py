"""Run a command under `/usr/bin/time -v`: wall time, CPU seconds and peak RSS."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_WALL = re.compile(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)")
_FIELDS = {
    "user": re.compile(r"User time \(seconds\): ([\d.]+)"),
    "sys": re.compile(r"System time \(seconds\): ([\d.]+)"),
    "rss_kib": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
}


@dataclass(frozen=True)
class Timed:
    wall: float
    cpu: float
    rss: int  # bytes
    stdout: str
    stderr: str
    code: int
    started: float = 0.0
    """When the command was launched (epoch seconds, as nginx logs time)."""


class CommandFailed(Exception):
    pass


def timed(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ok_codes: Sequence[int] = (0,),
    timeout: float = 600,
) -> Timed:
    started = time.time()
    out = subprocess.run(
        ["/usr/bin/time", "-v", *cmd],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=None if env is None else dict(env),
        timeout=timeout,
        check=False,
    )
    wall = _WALL.search(out.stderr)
    values = {name: pattern.search(out.stderr) for name, pattern in _FIELDS.items()}
    if wall is None or any(v is None for v in values.values()) or out.returncode not in ok_codes:
        tail = "\n".join(out.stderr.splitlines()[-30:])
        raise CommandFailed(f"{' '.join(cmd)[:300]} exited {out.returncode}:\n{tail}")
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    user, sys_, rss = (float(v[1]) for v in values.values() if v is not None)
    return Timed(
        seconds, user + sys_, int(rss) * 1024, out.stdout, out.stderr, out.returncode, started
    )
