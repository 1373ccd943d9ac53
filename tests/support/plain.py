"""`downloader once` as a subprocess, over a watchlist of plain URLs on the loopback file
host (`[[http.file]]` entries `file-0`, `file-1`, ... with their SHA-256 where known)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from downloader.emulator._content import SeededContent
from downloader.emulator._files import FileSpec, RunningHost
from tests.support.cli import downloader


def serve_all(
    file_host: RunningHost, folder: str, contents: Sequence[SeededContent]
) -> list[tuple[str, str | None]]:
    """Each of `contents` served at `/folder/f{i}.bin`; their entries for `write_config`."""
    for i, content in enumerate(contents):
        file_host.host.add(FileSpec(f"/{folder}/f{i}.bin", content))
    return [(file_host.url(f"/{folder}/f{i}.bin"), c.hexdigest()) for i, c in enumerate(contents)]


SEGMENTS = '[transfer]\nsegment_min_size = "1MiB"\n'


def write_config(
    tmp: Path,
    entries: Sequence[tuple[str, str | None]],
    *,
    ids: Sequence[str] = (),
    tail: str = SEGMENTS,
) -> Path:
    """A config in `tmp` (archive, SQLite state, `tail`) and its watchlist of `entries`,
    named by `ids` or else `file-0`, `file-1`, ..."""
    watchlist = tmp / "watchlist.toml"
    lines = []
    for i, (url, sha) in enumerate(entries):
        name = ids[i] if ids else f"file-{i}"
        lines += ["[[http.file]]", f'url = "{url}"', f'id = "{name}"']
        if sha:
            lines.append(f'sha256 = "{sha}"')
    watchlist.write_text("\n".join(lines) + "\n")
    config = tmp / "config.toml"
    config.write_text(
        f'[archive]\nroot = "{tmp / "archive"}"\n'
        f'[state]\nurl = "sqlite:///{tmp / "state.db"}"\n'
        f'[watchlist]\npath = "{watchlist}"\n' + tail
    )
    return config


def once(config: Path) -> subprocess.CompletedProcess[str]:
    return downloader("once", "-c", str(config), timeout=60)
