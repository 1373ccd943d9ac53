"""Every config problem is a problem with file, line and key, never a traceback or a hang.

One test per class of input that used to crash a command (or pass `check-config` and
crash the run, or block it): secrets holding a line break, paths of unknown users
or holding a NUL byte, FIFOs and devices named as files, durations past what a date
holds, leases too short to renew, counts without bound, URLs with invalid ports, a
`min_free_space` no filesystem of the archive can keep.  Each test names more
instances of its class than the one first seen.  The commands run in process
(`cli.main`) unless they used to block, which only a child process can survive.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from downloader import cli
from tests.support.problems import assert_problem, line_of, run_child, run_main, write_config

ENV = "DL_TEST_SECRET"


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("abc\ndef", "line feed"),
        ("abc\r\ndef", "carriage return"),
        ("abc\rdef\n", "carriage return"),
        ("abc\x00def", "U\\+0000"),
        ("abc\x1bdef", "U\\+001B"),
    ],
)
def test_a_secret_with_a_line_break_or_control_character_is_refused_with_its_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: str,
    words: str,
) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text(f"s3cr3t-{content}")
    secret_file.chmod(0o600)
    env_too = "\x00" not in content  # no environment holds a NUL
    monkeypatch.setenv(ENV, f"t0k3n-{content}".rstrip("\n") if env_too else "t0k3n-fine")
    config = write_config(
        tmp_path,
        f'[providers.pixxel]\napi_key = {{ file = "{secret_file}" }}\n'
        f'[providers.scale]\nbase_url = "http://127.0.0.1:1"\ntoken = {{ env = "{ENV}" }}\n',
    )
    code, output = run_main(capsys, "check-config", "-c", str(config))
    assert code == cli.EXIT_USAGE
    assert_problem(output, config, "providers.pixxel.api_key", line_of(config, "api_key"), words)
    if env_too:
        assert_problem(output, config, "providers.scale.token", line_of(config, "token"), words)
    assert "s3cr3t" not in output
    assert "t0k3n" not in output
    # the run refuses it the same way, before any request
    code, output = run_main(capsys, "once", "-c", str(config))
    assert code == cli.EXIT_USAGE
    assert "providers.pixxel.api_key" in output


def test_status_and_verify_read_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    config = write_config(
        tmp_path,
        f'[providers.pixxel]\napi_key = {{ env = "{ENV}" }}\n'
        '[providers.alteryx]\nbase_url = "http://127.0.0.1:1"\n'
        'client_id = { file = "/nonexistent/ayx-id" }\n'
        f'client_secret = {{ file = "{tmp_path / "unreadable"}" }}\n',
    )
    (tmp_path / "unreadable").write_text("x" * 10)
    (tmp_path / "unreadable").chmod(0)
    for command in (["status"], ["status", "--json"], ["status", "-v"], ["verify"]):
        code, output = run_main(capsys, *command, "-c", str(config))
        assert code == cli.EXIT_OK, (command, output)
    # a secret of the wrong form is still refused: it is the config that is wrong
    (tmp_path / "bad").mkdir()
    bad = write_config(tmp_path / "bad", '[providers.pixxel]\napi_key = "written-in-the-file"\n')
    code, output = run_main(capsys, "status", "-c", str(bad))
    assert code == cli.EXIT_USAGE
    assert "[providers.pixxel.api_key]" in output
    # the commands that call platforms still need them
    code, output = run_main(capsys, "check-config", "-c", str(config))
    assert code == cli.EXIT_USAGE
    assert f"environment variable {ENV} is not set" in output


# --- paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("archive.root", 'root = "~no-such-user-4417/archive"'),
        ("watchlist.path", 'path = "~no-such-user-4417/watchlist.toml"'),
        ("transfer.ca_file", 'ca_file = "~no-such-user-4417/ca.pem"'),
        ("providers.pixxel.api_key", 'api_key = { file = "~no-such-user-4417/key" }'),
    ],
)
def test_a_path_of_a_user_that_does_not_exist_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, line: str
) -> None:
    table = key.rpartition(".")[0]
    config = tmp_path / "config.toml"
    config.write_text(f"[{table}]\n{line}\n")
    for command in ("check-config", "once", "run", "status", "verify"):
        code, output = run_main(capsys, command, "-c", str(config))
        assert code == cli.EXIT_USAGE, command
        assert_problem(output, config, key, 2, "home directory of user 'no-such-user-4417'")


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("archive.root", 'root = "arch\\u0000ive"'),
        ("watchlist.path", 'path = "watch\\u0000list.toml"'),
        ("transfer.ca_file", 'ca_file = "ca\\u0000.pem"'),
        ("state.url", 'url = "sqlite:///state\\u0000.db"'),
        ("providers.pixxel.api_key", 'api_key = { file = "key\\u0000" }'),
    ],
)
def test_a_nul_byte_in_a_path_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, line: str
) -> None:
    table = key.rpartition(".")[0] if key.count(".") == 1 else "providers.pixxel"
    config = tmp_path / "config.toml"
    config.write_text(f"[{table}]\n{line}\n")
    for command in ("check-config", "once", "run", "status", "verify"):
        code, output = run_main(capsys, command, "-c", str(config))
        assert code == cli.EXIT_USAGE, command
        assert_problem(output, config, key, 2, "NUL byte")


def test_fifos_and_devices_named_as_files_are_problems_not_hangs(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[watchlist]\npath = "{fifo}"\n'
        f'[transfer]\nca_file = "{fifo}"\n'
        f'[providers.pixxel]\napi_key = {{ file = "{fifo}" }}\n'
        '[providers.scale]\nbase_url = "http://127.0.0.1:1"\n'
        'token = { file = "/dev/zero" }\n'
    )
    check = run_child("check-config", "-c", str(config))
    assert check.returncode == cli.EXIT_USAGE
    out = check.stderr
    assert_problem(out, config, "transfer.ca_file", 6, "a FIFO, not a regular file")
    assert_problem(out, config, "providers.pixxel.api_key", 8, "a FIFO, not a regular file")
    assert_problem(out, config, "providers.scale.token", 11, "a character device")
    assert f"{fifo}: cannot read watchlist: a FIFO, not a regular file" in out
    # the config file itself
    for path in (fifo, Path("/dev/zero")):
        for command in ("check-config", "status"):
            done = run_child(command, "-c", str(path))
            assert done.returncode == cli.EXIT_USAGE
            assert f"{path}: cannot read config file: " in done.stderr
            assert "not a regular file" in done.stderr
            assert "Traceback" not in done.stderr


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("poll.give_up_after", '"9999999d"', "at most 36500d"),
        ("poll.max_interval", "900000000000", "at most 36500d"),
        ("service.grace_period", '"99999999h"', "at most 36500d"),
        ("watchlist.check_interval", '"5000000d"', "at most 36500d"),
        ("service.lease_duration", '"10ms"', "at least 1s"),
        ("service.lease_duration", "0.5", "at least 1s"),
        ("transfer.segments", "100000000", "at most 64"),
        ("transfer.max_concurrent", "9223372036854775807", "at most 256"),
        ("transfer.max_per_host", "100000", "at most 64"),
        ("transfer.min_free_space", '"1000000TiB"', "more than the whole filesystem"),
    ],
)
def test_numbers_no_run_can_live_with_are_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str, words: str
) -> None:
    table, _, name = key.rpartition(".")
    config = write_config(
        tmp_path, "" if table == "watchlist" else f"[{table}]\n{name} = {value}\n"
    )
    if table == "watchlist":  # the table is already written: the key goes into it
        config.write_text(
            config.read_text().replace("[watchlist]\n", f"[watchlist]\n{name} = {value}\n")
        )
    line = line_of(config, f"{name} = ")
    for command in ("check-config", "once", "run", "status", "verify"):
        code, output = run_main(capsys, command, "-c", str(config))
        assert code == cli.EXIT_USAGE, (command, output)
        assert_problem(output, config, key, line, words)


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "line", "key"),
    [
        ("providers.scale", 'base_url = "http://127.0.0.1:99999/api"', "providers.scale.base_url"),
        ("providers.pixxel", 'base_url = "https://h.example:port/"', "providers.pixxel.base_url"),
        ("state", 'url = "postgresql://u@127.0.0.1:70000/db"', "state.url"),
    ],
)
def test_a_url_with_an_invalid_port_in_the_config_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, line: str, key: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[{table}]\n{line}\n")
    code, output = run_main(capsys, "check-config", "-c", str(config))
    assert code == cli.EXIT_USAGE
    assert_problem(output, config, key, 2, "invalid port|port")


def test_a_url_with_an_invalid_port_in_the_watchlist_is_a_problem_whatever_else_it_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    watchlist = (
        '[[http.file]]\nid = "a"\nurl = "http://127.0.0.1:99999/a.bin"\n'
        '[[http.file]]\nid = "b"\nurl = "http://127.0.0.1:port/b.bin"\n'
        f'sha256 = "{"0" * 64}"\n'
        '[[http.file]]\nurl = "https://h.example:-1/c.bin?X-Amz-Signature=abc"\n'
        '[[http.file]]\nid = "ok"\nurl = "http://127.0.0.1:1/ok.bin"\n'
    )
    config = write_config(tmp_path, "", watchlist)
    code, output = run_main(capsys, "check-config", "-c", str(config))
    assert code == cli.EXIT_USAGE
    wl = tmp_path / "watchlist.toml"
    for index, line in ((0, 1), (1, 4), (2, 8)):
        assert_problem(output, wl, f"http.file[{index}].url", line, "port")
    assert "X-Amz-Signature" not in output
    assert "config has 3 problems" in output


def test_files_over_their_size_bound_are_problems_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big"
    with big.open("wb") as handle:  # sparse: a gibibyte that takes no disk
        handle.truncate(1 << 30)
    big.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp_path / "archive"}"\n'
        f'[watchlist]\npath = "{big}"\n'
        f'[transfer]\nca_file = "{big}"\n'
        f'[providers.pixxel]\napi_key = {{ file = "{big}" }}\n'
    )
    code, output = run_main(capsys, "check-config", "-c", str(config))
    assert code == cli.EXIT_USAGE
    assert_problem(output, config, "transfer.ca_file", 6, "larger than 16384 KiB")
    assert_problem(output, config, "providers.pixxel.api_key", 8, "larger than 64 KiB")
    assert f"{big}: cannot read watchlist: larger than 65536 KiB" in output
    code, output = run_main(capsys, "check-config", "-c", str(big))
    assert code == cli.EXIT_USAGE
    assert f"{big}: cannot read config file: larger than 1024 KiB" in output
