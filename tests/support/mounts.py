"""A Python child run where a folder is a small file system of its own (a tmpfs to fill, a
ramfs that refuses O_DIRECT), mounted in a mount namespace nothing outside the test sees."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_on_own_mount(
    folder: Path, script: str, fs: str, options: str = ""
) -> subprocess.CompletedProcess[str]:
    """`python -c script folder ROOT` with `folder` (made here) a new `fs` mount (`-o
    options`); the test is skipped where no such mount can be made."""
    folder.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip(f"no unshare(1) to mount a {fs} with")
    mount = f"mount -t {fs}{f' -o {options}' if options else ''} none {folder}"
    child = f"exec {sys.executable} -c '{script}' {folder} {ROOT}"
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"{mount} && {child}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"cannot mount a {fs} here: {done.stderr.strip()}")
    return done
