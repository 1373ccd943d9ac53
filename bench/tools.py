"""Command lines for each tool, and the downloader's config and watchlist files.

Every tool gets the same URLs from the same nginx and writes into its own fresh
run directory; outputs are checked (SHA-256) by the caller after each run.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DOWNLOADER = str(Path(sys.executable).with_name("downloader"))
BARE_CLIENT = Path(__file__).with_name("bare_client.py")
ARIA2_COMMON = [
    "aria2c",
    "--quiet=true",
    "--summary-interval=0",
    "--console-log-level=warn",
    "--download-result=hide",
    "--allow-overwrite=true",
    "--auto-file-renaming=false",
    # aria2c's default "prealloc" writes the whole file before the download on
    # some filesystems; falloc only reserves the space (ext4 here), as fair as it gets
    "--file-allocation=falloc",
]


@dataclass(frozen=True)
class Fetch:
    """One file a workload fetches: its URL, the name to save it under, its digest."""

    url: str
    name: str
    sha256: str
    item_id: str
    ca: str = ""
    """The CA certificate to trust (HTTPS from the bench's own CA), or empty."""


def curl_trust(fetch: Fetch) -> list[str]:
    return ["--cacert", fetch.ca] if fetch.ca else []


def aria2_trust(fetch: Fetch) -> list[str]:
    return [f"--ca-certificate={fetch.ca}"] if fetch.ca else []


def curl_one(fetch: Fetch, out: Path | str) -> list[str]:
    return ["curl", "-sS", "--fail", *curl_trust(fetch), "-o", str(out), fetch.url]


def then_sync(cmd: list[str], path: Path) -> list[str]:
    """`cmd`, then fsync of `path` (coreutils `sync FILE`): what durability costs."""
    return ["sh", "-c", f"{shlex.join(cmd)} && sync {shlex.quote(str(path))}"]


def curl_many(fetches: Sequence[Fetch], run: Path, parallel: int) -> list[str]:
    listing = run / "curl.list"
    lines = []
    for f in fetches:
        lines += [f'url = "{f.url}"', f'output = "{run / f.name}"']
    listing.write_text("\n".join(lines) + "\n")
    trust = curl_trust(fetches[0]) if fetches else []
    return [
        "curl",
        "-sS",
        "--fail",
        *trust,
        "-Z",
        "--parallel-max",
        str(parallel),
        "-K",
        str(listing),
    ]


def bare_many(
    fetches: Sequence[Fetch],
    run: Path,
    parallel: int,
    *,
    beside: bool = False,
    durable: bool = False,
) -> list[str]:
    """`bench/bare_client.py` on the same URLs and outputs as `curl_many`; `beside`
    hashes and writes in a worker thread while the loop receives (one large file);
    `durable` fsyncs each file under a temporary name, renames it and fsyncs its folder."""
    listing = run / "bare.list"
    listing.write_text("".join(f"{f.url}\t{run / f.name}\n" for f in fetches))
    return [
        sys.executable,
        str(BARE_CLIENT),
        str(listing),
        str(parallel),
        *(["beside"] if beside else []),
        *(["durable"] if durable else []),
    ]


def aria2_one(fetch: Fetch, run: Path, connections: int) -> list[str]:
    split = [f"-x{connections}", f"-s{connections}"]
    return [*ARIA2_COMMON, *aria2_trust(fetch), *split, "-d", str(run), "-o", fetch.name, fetch.url]


def aria2_many(fetches: Sequence[Fetch], run: Path, jobs: int) -> list[str]:
    listing = run / "aria2.list"
    listing.write_text("".join(f"{f.url}\n  out={f.name}\n" for f in fetches))
    trust = aria2_trust(fetches[0]) if fetches else []
    return [*ARIA2_COMMON, *trust, f"-j{jobs}", "-d", str(run), "-i", str(listing)]


def downloader_config(run: Path, transfer: Mapping[str, object], extra: str = "") -> Path:
    """Write config.toml (archive, SQLite state, watchlist) into `run`; returns its path."""
    lines = [
        "[archive]",
        f'root = "{run / "archive"}"',
        "[state]",
        f'url = "sqlite:///{run / "state.db"}"',
        "[watchlist]",
        f'path = "{run / "watchlist.toml"}"',
        "[transfer]",
        'min_free_space = "0"',
    ]
    for key, value in transfer.items():
        lines.append(f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}")
    config = run / "config.toml"
    config.write_text("\n".join(lines) + "\n" + extra)
    return config


def http_watchlist(run: Path, fetches: Sequence[Fetch]) -> None:
    """One `[[http.file]]` item per fetch, each with its expected SHA-256."""
    parts = [
        f'[[http.file]]\nid = "{f.item_id}"\nurl = "{f.url}"\nsha256 = "{f.sha256}"\n'
        for f in fetches
    ]
    (run / "watchlist.toml").write_text("".join(parts))


def downloader_once(config: Path) -> list[str]:
    return [DOWNLOADER, "once", "-c", str(config)]


def bag_payload(run: Path, fetch: Fetch) -> Path:
    """Where `downloader once` files a plain URL item's payload."""
    return run / "archive" / "http" / fetch.item_id / "data" / fetch.name
