from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_log_level_comes_from_the_option_else_the_environment_moved_by_v_and_q() -> None:
    from downloader._cli_options import log_level

    def level(option: str | None = None, v: int = 0, q: int = 0, env: str = "") -> str:
        environ = {"DOWNLOADER_LOG_LEVEL": env} if env else {}
        return log_level(option=option, louder=v, quieter=q, environ=environ, default="info")

    assert level() == "info"
    assert (level(v=1), level(v=5), level(q=1), level(q=9)) == (
        "debug",
        "debug",
        "warning",
        "critical",
    )
    assert (level(env="ERROR"), level(env="error", v=1)) == ("error", "warning")
    assert level("debug", q=3, env="error") == "debug"
    with pytest.raises(ValueError, match="DOWNLOADER_LOG_LEVEL='loud'"):
        level(env="loud")


def test_common_options_are_taken_before_or_after_the_command(tmp_path: Path) -> None:
    from downloader.cli import build_parser

    parser = build_parser()
    before = parser.parse_args(["-c", "a.toml", "-v", "--log-level", "ERROR", "once"])
    after = parser.parse_args(["once", "-c", "a.toml", "-v", "--log-level", "error"])
    for args in (before, after):
        assert (args.config, args.louder, args.log_level) == (Path("a.toml"), 1, "error")
    # status keeps -v for its assets; -q and -c go either side
    status = parser.parse_args(["-q", "status", "-v", "-c", "b.toml"])
    assert (status.verbose, status.quieter, status.config) == (True, 1, Path("b.toml"))
    assert parser.parse_args(["-c", "b.toml", "status"]).config == Path("b.toml")


def test_an_unknown_log_level_in_the_environment_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNLOADER_LOG_LEVEL", "chatty")
    assert main(["once", "-c", str(tmp_path / "none.toml")]) == EXIT_USAGE
    assert "DOWNLOADER_LOG_LEVEL='chatty' is not one of debug" in capsys.readouterr().err


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_name_every_command(shell: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "downloader", "completion", shell],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("once", "run", "status", "verify", "check-config", "demo", "--log-level"):
        assert command in out
    if shell == "zsh":
        assert out.startswith("#compdef downloader")
        return
    script = tmp_path / "downloader.bash"
    script.write_text(out)
    probe = (
        f"source {script}; COMP_WORDS=(downloader ch); COMP_CWORD=1; COMP_LINE='downloader ch'; "
        'COMP_POINT=13; _shtab_downloader; echo "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["check-config"]
