from __future__ import annotations

import subprocess
import sys

from downloader import __version__
from downloader.cli import EXIT_USAGE, main


def test_version_is_printed_by_the_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "downloader", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"downloader {__version__}"


def test_no_command_is_a_usage_error() -> None:
    assert main([]) == EXIT_USAGE


def test_unknown_command_is_a_usage_error() -> None:
    assert main(["no-such-command"]) == EXIT_USAGE
