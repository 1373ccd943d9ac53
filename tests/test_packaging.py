"""The distribution: an sdist with what an operator installs, a wheel that installs and runs.

Built offline with the setuptools of the test environment (no build isolation, no
index), then installed with pip into a new, empty venv; the libraries the program
needs come from the test environment through a path file, as pip would have brought
them from the index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from downloader import __version__

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTION = "eo_bag_downloader"


def _tracked_tree(target: Path) -> Path:
    """A copy of the work tree's files that git keeps or would keep (no venv, no caches)."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            (target / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / os.fsdecode(name))
    return target


@pytest.mark.slow
def test_the_sdist_carries_examples_and_units_and_its_wheel_installs_a_working_command(
    tmp_path: Path,
) -> None:
    tree = _tracked_tree(tmp_path / "tree")
    build = "from setuptools import build_meta as b; import sys; print(b.build_sdist(sys.argv[1]))"
    sdist_name = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[-1]
    assert sdist_name == f"{DISTRIBUTION}-{__version__}.tar.gz"
    with tarfile.open(tmp_path / "dist" / sdist_name) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
        sdist.extractall(tmp_path / "unpacked", filter="data")
    assert {
        "LICENSE",
        "config.example.toml",
        "watchlist.example.toml",
        "systemd/downloader.service",
        "systemd/downloader-once.service",
        "systemd/downloader-once.timer",
    } <= names

    unpacked = tmp_path / "unpacked" / f"{DISTRIBUTION}-{__version__}"
    dist = str(tmp_path / "dist")
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", dist]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, str(unpacked)],
        capture_output=True,
        text=True,
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob(f"{DISTRIBUTION}-{__version__}-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    command = venv / "bin" / "downloader"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, env=env)
    assert version.stdout.strip() == f"downloader {__version__}", version.stderr
    where = subprocess.run(
        [str(python), "-c", "import downloader; print(downloader.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(site)  # the wheel's copy, not the work tree's

    config = tmp_path / "config.toml"
    config.write_text(
        (unpacked / "config.example.toml")
        .read_text()
        .replace('"/etc/downloader/watchlist.toml"', f'"{unpacked / "watchlist.example.toml"}"')
    )
    env |= {"PIXXEL_API_KEY": "k", "SCALE_TOKEN": "t", "ALTERYX_API_KEY": "a"}
    env |= {"ALTERYX_API_SECRET": "s"}
    check = subprocess.run(
        [str(command), "check-config", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("config OK: 7 watchlist items")
