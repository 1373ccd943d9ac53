"""Places and files that cannot be what the program needs, met by `verify`, `demo` and
the start of a run: a damaged state database, FIFOs inside a bag, a FIFO, device or
file where the archive's folder or the SQLite database must be, a `min_free_space`
no filesystem of the archive can keep.  Each is said (exit 2, or a problem of the
bag), never a traceback or a hang.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from downloader import cli
from tests.support.problems import (
    assert_problem,
    line_of,
    run_child,
    run_main,
    write_config,
)

# --- verify ------------------------------------------------------------------------------


def test_verify_on_a_damaged_state_database_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "")
    (tmp_path / "state.db").write_bytes(b"this is not a database, " * 400)
    code, output = run_main(capsys, "verify", "-c", str(config))
    assert code == cli.EXIT_USAGE
    assert output.startswith("state store: ")
    assert "Traceback" not in output


@pytest.mark.parametrize("name", ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "data/a.bin"])
def test_a_fifo_in_a_bag_never_blocks_verify(tmp_path: Path, name: str) -> None:
    config = write_config(tmp_path, "")
    bag = tmp_path / "archive" / "http" / "x"
    (bag / "data").mkdir(parents=True)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "bag-info.txt").write_text("Payload-Oxum: 1.1\n")
    (bag / "data" / "a.bin").write_bytes(b"a")
    (bag / "manifest-sha256.txt").write_text(
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  data/a.bin\n"
    )
    assert run_child("verify", "-c", str(config), "http:file:x").returncode == cli.EXIT_OK
    (bag / name).unlink()
    os.mkfifo(bag / name)
    done = run_child("verify", "-c", str(config), "http:file:x")
    assert done.returncode == cli.EXIT_FAILED, done.stderr
    assert "problem" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("key", "place", "words"),
    [
        ("archive.root", "fifo", "is a FIFO, not a folder"),
        ("archive.root", "file", "is a regular file, not a folder"),
        ("archive.root", "file/archive", "file is a regular file, not a folder"),
        ("state.url", "fifo", "is a FIFO, not a regular file"),
        ("state.url", "/dev/zero", "is a character device, not a regular file"),
        ("state.url", "file/state.db", "file is a regular file, not a folder"),
    ],
)
def test_a_special_file_where_the_archive_or_the_state_must_be_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, place: str, words: str
) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file").write_text("in the way")
    target = place if place.startswith("/") else str(tmp_path / place)
    value = target if key == "archive.root" else f"sqlite:///{target}"
    config = write_config(tmp_path, "")
    table, _, name = key.partition(".")
    text = re.sub(
        rf"(?m)^(\[{table}\]\n){name} = .*$", rf'\g<1>{name} = "{value}"', config.read_text()
    )
    config.write_text(text)
    for command in ("check-config", "once", "run", "status", "verify"):
        code, output = run_main(capsys, command, "-c", str(config))
        assert code == cli.EXIT_USAGE, (command, output)
        assert_problem(output, config, key, line_of(config, f"{name} = "), words)


def test_demo_into_a_place_that_cannot_be_a_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("in the way")
    for target in (tmp_path / "file", tmp_path / "file" / "demo"):
        code, output = run_main(capsys, "demo", "--target", str(target))
        assert code == cli.EXIT_USAGE
        assert output.startswith(f"demo: cannot use {target}: ")


async def test_an_archive_folder_that_cannot_be_made_at_start_is_an_error_of_the_tree(
    tmp_path: Path,
) -> None:
    # check-config judged the place; it may change before the run starts
    from dataclasses import replace

    from downloader.config import ArchiveSettings, Settings
    from downloader.errors import FilesystemError
    from downloader.runners._compose import run_once

    (tmp_path / "file").write_text("in the way")
    settings = Settings.defaults(tmp_path)
    settings = replace(settings, archive=ArchiveSettings(root=tmp_path / "file" / "archive"))
    with pytest.raises(FilesystemError) as caught:
        await run_once(settings, [])
    assert "Not a directory" in str(caught.value)


def test_min_free_space_is_judged_against_the_whole_filesystem_of_the_archive() -> None:
    from downloader.config._space import space_problem

    def measure(size: int | None) -> Callable[[Path], int | None]:
        return lambda path: size

    root = Path("/srv/archive")
    assert space_problem(root, 1 << 30, measure=measure(2 << 30)) is None
    assert space_problem(root, 2 << 30, measure=measure(2 << 30)) is None
    assert space_problem(root, 1 << 40, measure=measure(None)) is None  # cannot look: the run says
    problem = space_problem(root, 3 << 30, measure=measure(2 << 30))
    assert problem == (
        "3GiB is more than the whole filesystem of the archive (/srv/archive: 2GiB); "
        "transfers would wait for that space forever"
    )
