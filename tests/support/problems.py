"""Commands run on a config written for the test, and the problems they name: the config
boundary tests' set-up. A problem reads `FILE:LINE [KEY]: message`, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import structlog

from downloader import cli
from tests.support.cli import downloader


def write_config(tmp_path: Path, body: str, watchlist: str = "") -> Path:
    (tmp_path / "watchlist.toml").write_text(watchlist)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        f'[watchlist]\npath = "{tmp_path / "watchlist.toml"}"\n' + body
    )
    return config


def line_of(config: Path, text: str) -> int:
    lines = config.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    saved = structlog.get_config()
    try:
        code = cli.main(list(args))
    finally:  # a command that logs sets up logging on this test's captured stderr
        structlog.configure(**saved)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def run_child(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # a time limit: the cases below used to block forever
    return downloader(*args, timeout=60, env={**os.environ, **(env or {})})


def assert_problem(output: str, config: Path, key: str, line: int | None, words: str) -> None:
    where = f"{config}:{line}" if line is not None else str(config)
    found = [x for x in output.splitlines() if x.startswith(f"{where} [{key}]: ")]
    assert found, (where, key, output)
    assert re.search(words, found[0], re.IGNORECASE), found[0]
    assert "Traceback" not in output
