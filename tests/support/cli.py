"""The command line as a user runs it: `python -m downloader ARGS` in a child process."""

from __future__ import annotations

import subprocess
import sys
from typing import Any


def downloader(
    *args: str, timeout: float = 120, check: bool = False, **options: Any
) -> subprocess.CompletedProcess[str]:
    """The command's exit, stdout and stderr (as text); `options` go to `subprocess.run`
    (`env`, `stdin`, `preexec_fn`). A non-zero exit raises only with `check`: most tests
    judge the exit themselves."""
    return subprocess.run(
        [sys.executable, "-m", "downloader", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        **options,
    )
