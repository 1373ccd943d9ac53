from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from downloader.cli import EXIT_OK, EXIT_USAGE, main

WATCHLIST = """\
[[pixxel.job]]
workflow_id = "wf-1"
job_id = "job-1"

[[http.file]]
url = "https://files.example.org/a.zip?sig=x"
"""


def _setup(tmp_path: Path, config: str, watchlist: str | None = WATCHLIST) -> Path:
    secret = tmp_path / "pixxel.key"
    secret.write_text("key\n")
    secret.chmod(0o600)
    if watchlist is not None:
        (tmp_path / "watchlist.toml").write_text(watchlist)
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(config))
    return path


GOOD_CONFIG = """\
[archive]
root = "archive"
[state]
url = "sqlite:///state.db"
[watchlist]
path = "watchlist.toml"
[providers.pixxel]
api_key = { file = "pixxel.key" }
"""


def test_a_good_config_and_watchlist_exit_zero_with_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, GOOD_CONFIG)
    assert main(["check-config", "-c", str(config)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out == "config OK: 2 watchlist items, providers: pixxel\n"
    assert err == ""


def test_config_problems_are_printed_one_per_line_with_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(
        tmp_path,
        GOOD_CONFIG + '[transfer]\nsegments = 0\nsegment_min_size = "lots"\n',
    )
    assert main(["check-config", "--config", str(config)]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{config}:10 [transfer.segments]: must be at least 1 (got 0)",
        f"{config}:11 [transfer.segment_min_size]: 'lots' is not a size"
        " (write e.g. 512KiB, 64MiB, 1.5GiB, 0)",
        "config has 2 problems",
    ]


def test_watchlist_problems_alone_make_the_check_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, GOOD_CONFIG, WATCHLIST + "\n[[scale.job]]\nid = 7\n")
    assert main(["check-config", "-c", str(config)]) == EXIT_USAGE
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{tmp_path / 'watchlist.toml'}:8 [scale.job[0]]: "
        "provider scale is not enabled (no [providers.scale] in config)",
        "config has 1 problem",
    ]


def test_config_and_watchlist_problems_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, GOOD_CONFIG + "[poll]\nmax_interval = -1\n", "[[pixxel.jobs]]\n")
    assert main(["check-config", "-c", str(config)]) == EXIT_USAGE
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0].startswith(f"{config}:10 [poll.max_interval]: ")
    assert lines[1].startswith(f"{tmp_path / 'watchlist.toml'}:1 [pixxel.jobs]: unknown kind")
    assert lines[2] == "config has 2 problems"


def test_a_missing_watchlist_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, GOOD_CONFIG, watchlist=None)
    assert main(["check-config", "-c", str(config)]) == EXIT_USAGE
    _, err = capsys.readouterr()
    assert err.splitlines()[0] == (
        f"{tmp_path / 'watchlist.toml'}: cannot read watchlist: No such file or directory"
    )


def test_a_missing_config_file_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "-c", str(tmp_path / "nope.toml")]) == EXIT_USAGE
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{tmp_path / 'nope.toml'}: cannot read config file: No such file or directory",
        "config has 1 problem",
    ]


def test_warnings_are_printed_but_do_not_fail_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, GOOD_CONFIG)
    (tmp_path / "pixxel.key").chmod(0o644)
    assert main(["check-config", "-c", str(config)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out.startswith("config OK: 2 watchlist items")
    assert err.startswith(f"warning: secret file {tmp_path / 'pixxel.key'} is readable by group")


def test_an_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--colour"]) == EXIT_USAGE
    assert "unrecognized arguments: --colour" in capsys.readouterr().err


def test_the_module_entry_point_checks_the_config_named_by_the_environment(
    tmp_path: Path,
) -> None:
    config = _setup(tmp_path, GOOD_CONFIG + "[providers.scale]\nbase_url = 'https://s.example'\n")
    env = {**os.environ, "DOWNLOADER_CONFIG": str(config)}
    ok = subprocess.run(
        [sys.executable, "-m", "downloader", "check-config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (
        0,
        "config OK: 2 watchlist items, providers: pixxel, scale\n",
        "",
    )
    (tmp_path / "watchlist.toml").write_text("[[pixxel.job]]\n")
    bad = subprocess.run(
        [sys.executable, "-m", "downloader", "check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert f"{tmp_path / 'watchlist.toml'}:1 [pixxel.job[0].workflow_id]: missing" in bad.stderr


REPO = Path(__file__).resolve().parent.parent


def test_the_example_config_and_watchlist_pass_together_and_every_entry_kind_is_shown(
    tmp_path: Path,
) -> None:
    """What a new user copies first checks clean: `config.example.toml` naming
    `watchlist.example.toml`, with the secrets it names in the environment."""
    example = (REPO / "config.example.toml").read_text()
    watchlist = REPO / "watchlist.example.toml"
    config = tmp_path / "config.toml"
    config.write_text(
        example.replace('"/etc/downloader/watchlist.toml"', f'"{watchlist}"', 1)
        .replace('"/var/lib/downloader/archive"', f'"{tmp_path / "archive"}"', 1)
        .replace('"sqlite:////var/lib/downloader/state.db"', f'"sqlite:///{tmp_path}/s.db"', 1)
    )
    env = {
        **os.environ,
        "PIXXEL_API_KEY": "pk",
        "SCALE_TOKEN": "st",
        "ALTERYX_API_KEY": "ak",
        "ALTERYX_API_SECRET": "as",
    }
    done = subprocess.run(
        [sys.executable, "-m", "downloader", "-c", str(config), "check-config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "config OK: 7 watchlist items, 4 sources, providers: alteryx, pixxel, scale\n"
    )
    # every entry kind of the contract is written out, its four sources too
    text = watchlist.read_text()
    for kind in ("pixxel.job", "pixxel.task", "pixxel.catalog", "pixxel.order_item"):
        assert f"\n[[{kind}]]\n" in text
    for kind in ("scale.job", "alteryx.job", "http.file"):
        assert f"\n[[{kind}]]\n" in text
    for source in ("pixxel.workflow", "pixxel.order", "scale.jobs", "alteryx.workflow"):
        assert f"\n[[{source}]]\n" in text
