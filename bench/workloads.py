"""W1-W4 and W6: the same files fetched by the downloader, curl and aria2c from nginx."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench import syscounts, tools
from bench.data import DataSet, sha256_file
from bench.harness import DURABLE, PLAIN, Check, Contender, Workload
from bench.nginx import Nginx
from bench.timing import Timed
from bench.tools import Fetch


class WrongBytes(Exception):
    pass


def expect(path: Path, sha256: str) -> None:
    if not path.is_file():
        raise WrongBytes(f"{path} is missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise WrongBytes(f"{path}: sha256 {actual}, expected {sha256}")


def expect_all(pairs: Sequence[tuple[Path, str]]) -> None:
    """`expect` for every (path, sha256), two at a time (hashlib releases the GIL)."""
    with ThreadPoolExecutor(2) as pool:
        for _ in pool.map(lambda pair: expect(*pair), pairs):
            pass


def check_plain(fetches: Sequence[Fetch]) -> Check:
    def check(run: Path, _: Timed) -> dict[str, float]:
        expect_all([(run / f.name, f.sha256) for f in fetches])
        return {}

    return check


def check_bags(fetches: Sequence[Fetch]) -> Check:
    """Every item archived as a bag whose manifest names the right digest."""

    def check(run: Path, _: Timed) -> dict[str, float]:
        expect_all([(tools.bag_payload(run, f), f.sha256) for f in fetches])
        for f in fetches:
            payload = tools.bag_payload(run, f)
            manifest = (payload.parent.parent / "manifest-sha256.txt").read_text()
            entries = {tuple(line.split(None, 1)) for line in manifest.splitlines()}
            if (f.sha256, f"data/{f.name}") not in entries:
                raise WrongBytes(f"{payload}: not in the bag's manifest")
        return {}

    return check


def digest_printed(sha256: str) -> Check:
    """The command printed `sha256` first: it hashed every byte of the file."""

    def check(run: Path, result: Timed) -> dict[str, float]:
        printed = result.stdout.split()[0] if result.stdout.split() else ""
        if printed != sha256:
            raise WrongBytes(f"printed digest {printed!r}, expected {sha256}")
        return {}

    return check


def nothing(run: Path, _: Timed) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class Sizes:
    w1: int
    w2: int
    w3_count: int
    w4_count: int
    w6_size: int
    w6_count: int
    w9_count: int


def downloader(
    fetches: Sequence[Fetch], transfer: Mapping[str, object], name: str = "downloader"
) -> Contender:
    def setup(run: Path) -> list[str]:
        tools.http_watchlist(run, fetches)
        return tools.downloader_once(tools.downloader_config(run, transfer))

    return Contender(name, setup, check_bags(fetches), subject=True)


PER_ITEM = ("fsyncs/item", "folder fsyncs/item", "store fsyncs/item", "store transactions/item")


def counted(subject: Contender, items: int) -> Contender:
    """`subject`'s run under strace, measured once: its syncs and store round trips per
    archived item (`bench/syscounts.py`); its times are strace's and compare with none."""

    def setup(run: Path) -> list[str]:
        return syscounts.strace(subject.setup(run), run / "strace.log")

    def check(run: Path, result: Timed) -> dict[str, float]:
        subject.check(run, result)
        with (run / "strace.log").open() as log:
            counts = syscounts.count(log, str(run.resolve() / "state.db"))
        return counts.per_item(items)

    return Contender(
        "downloader under strace (counts only: its times are strace's)", setup, check, once=True
    )


def many(
    key: str, data: DataSet, server: Nginx, count: int, size: int, parallel: int = 16
) -> Workload:
    fetches = []
    for i in range(count):
        name = f"{key.lower()}/{i:05d}.bin"
        sha = data.ensure(name, size, seed=(int(key[1]) << 20) + i)
        fetches.append(
            Fetch(
                server.url("signed", name, expires_in=86400),
                name.split("/")[1],
                sha,
                f"{key.lower()}-{i:05d}",
            )
        )
    transfer = {"max_concurrent": parallel, "max_per_host": parallel}
    contenders = [
        downloader(fetches, transfer),
        counted(downloader(fetches, transfer), count),
        Contender(
            f"curl -Z --parallel-max {parallel}",
            lambda run: tools.curl_many(fetches, run, parallel),
            check_plain(fetches),
        ),
        Contender(
            f"aria2c -j{parallel} -i list",
            lambda run: tools.aria2_many(fetches, run, parallel),
            check_plain(fetches),
        ),
        Contender(
            "bare aiohttp client (reference: no state, bag or fsync)",
            lambda run: tools.bare_many(fetches, run, parallel),
            check_plain(fetches),
            floor=PLAIN,
        ),
        Contender(
            "the same, each file fsynced and renamed (reference: no state or bag)",
            lambda run: tools.bare_many(fetches, run, parallel, durable=True),
            check_plain(fetches),
            floor=DURABLE,
        ),
    ]
    title = f"{count} files of {size // 1024} KiB as plain URL items, {parallel} at a time"
    names = [f"{key.lower()}/{i:05d}.bin" for i in range(count)]
    return Workload(
        key,
        title,
        contenders,
        amount=count,
        unit="files/s",
        warm=lambda: data.warm(names),
        extras=PER_ITEM,
        defer_cleanup=True,
    )


def w6_transfers(
    data: DataSet, server: Nginx, size: int, count: int, *, peers: bool = False
) -> Workload:
    data.ensure("w6/source.bin", size, 6)
    fetches = []
    for i in range(count):
        name = f"w6/{i:02d}.bin"
        sha = data.link(name, "w6/source.bin")
        fetches.append(Fetch(server.url("data", name), f"{i:02d}.bin", sha, f"w6-{i:02d}"))
    transfer = {"max_concurrent": count, "max_per_host": count, "segments": 1}
    # the target is the downloader's own peak RSS; curl and aria2c would add minutes
    # to the suite for a reference figure, so they run here only with --peers
    contenders = [downloader(fetches, transfer, f"downloader, {count} in flight")]
    if peers:
        contenders += [
            Contender(
                f"curl -Z --parallel-max {count}",
                lambda run: tools.curl_many(fetches, run, count),
                check_plain(fetches),
            ),
            Contender(
                f"aria2c -j{count} -i list",
                lambda run: tools.aria2_many(fetches, run, count),
                check_plain(fetches),
            ),
        ]
    title = f"memory: {count} transfers of {size / 2**20:g} MiB in flight"
    return Workload(
        "W6a",
        title,
        contenders,
        amount=size * count,
        warm=lambda: data.warm(["w6/source.bin"]),
        compare=peers,
    )
