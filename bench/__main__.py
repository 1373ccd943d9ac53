"""`python -m bench [--quick] [--only W1,W3] [--runs N]`: the whole benchmark suite.

Writes `bench/results/<date>.md` (a quick run writes `bench/work/quick.md`
instead) and, after a full run, the README's table between its bench markers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench import report, scale_job, service, single, sources, workloads
from bench.data import DataSet, GiB, KiB, MiB
from bench.harness import Workload, empty_trash, run_workload
from bench.nginx import Nginx

HERE = Path(__file__).resolve().parent
FULL = workloads.Sizes(
    w1=2 * GiB,
    w2=1 * GiB,
    w3_count=2000,
    w4_count=200,
    w6_size=512 * MiB,
    w6_count=16,
    w9_count=200,
)
QUICK = workloads.Sizes(
    w1=256 * MiB,
    w2=128 * MiB,
    w3_count=200,
    w4_count=50,
    w6_size=64 * MiB,
    w6_count=16,
    w9_count=50,
)

METHOD = """\
Method: every tool fetches the same files from one private nginx on 127.0.0.1
(sendfile, byte ranges, strong ETag; W1, W3 and W4 through a `secure_link` signed URL,
W2 through a location with `limit_rate 25m` per connection). The contenders of a
workload run in alternation, the first one rotating every round; figures are medians.
Caches: the source files are read into the page cache before each workload, so every
tool reads the same warm files; before each run `sync` flushes dirty pages, so no run
pays for another's writeback. The outputs of W3 and W4 (thousands of files) are deleted
when the suite ends, not between runs: on this machine's ext4, which has no journal,
every file or folder created steps over each inode deleted in the last minute, so a
deletion between runs would slow the next run, whichever tool it is. Each run is
timed by `/usr/bin/time -v` (wall, user+sys CPU, peak RSS) and every output's SHA-256
is checked after the run. The downloader runs `downloader once` on `[[http.file]]`
items carrying their SHA-256: it verifies, fsyncs and files each into a BagIt bag;
curl and aria2c verify nothing and do not fsync; in W1 the row `curl -o, then sync the
file` shows what durability costs. aria2c runs with `--file-allocation=falloc`. The
bare aiohttp client rows (`bench/bare_client.py`: fetch, SHA-256, write; no state, bag,
retry or fsync) are the least a client on the downloader's HTTP library does; the
rows "the same, ... fsynced and renamed" add the least that keeps a file whole after a
crash (write `NAME.part`, fsync, rename, fsync the folder). The targets table measures
both floors against each target too. A target that the plain floor misses is out of
reach of a plain client on asyncio and aiohttp; for many small files (W3, W4) of any
such client in one CPython process, as each file is one request anyway. One that the
durable floor misses is out of reach of such a client that keeps what it fetched, as
the targets ask.
"W1 https" and "W2 https" are the same over TLS: nginx serves a certificate of a CA
made for the run (`bench/tls.py`), which every client is given to trust (`[transfer]
ca_file`, `curl --cacert`, `aria2c --ca-certificate`); their ratios are to the peers
of the same workload. W1's "first request ms" is the time from a command's launch to
the start of the first request nginx logged for it (`$msec` less `$request_time`, to
1 ms): for the downloader, its start-up before it asks anything. W1's best-design
row (`bench/floor_client.py`: a `BufferedProtocol` into aligned ring buffers, an
`O_DIRECT` writer thread and a SHA-256 thread, then fsync, rename and folder fsync) is
the durable floor the targets are also measured on.
W9 is one Scale job of many product files (one item, many assets): the emulator
answers the Scale API behind nginx (`/scale/` passed on, Host kept), so the URLs it
hands out name nginx, which serves the emulator's own files (fetched from it once);
`aria2c -j8 -i` fetches the same URLs, and the downloader runs with 8 in flight.
W3 and W4 report what an archived item costs, from one extra run of the downloader
under `strace -f --seccomp-bpf` (`bench/syscounts.py`; its times are strace's, only
its counts are read): every fsync, fdatasync and syncfs per item, those of folders
and of the state database apart, and the store round trips that change it per item:
its write transactions, counted as the commit frames SQLite writes to the WAL
(transactions that only read are not counted).
The machine is shared: other work ran on the same cores, so the load average is
shown next to each table and the figures are noisy."""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    parser.add_argument(
        "--runs", type=int, default=0, help="runs per contender (default 3, quick 1)"
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="more reference rows: curl and aria2c in W6a",
    )
    args = parser.parse_args()
    # stop cleanly (nginx included) on SIGTERM and SIGINT, even when started in the background
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sizes = QUICK if args.quick else FULL
    runs = args.runs or (1 if args.quick else 3)
    only = {w.strip().upper() for w in args.only.split(",") if w.strip()}
    work = HERE / "work"
    work.mkdir(exist_ok=True)
    # quick runs keep their small files apart, so a full run never has to remake its own
    data = DataSet(HERE / ("data-quick" if args.quick else "data"))
    started = time.monotonic()
    log_file = (work / "bench.log").open("a")

    def log(line: str) -> None:
        stamp = f"[{time.monotonic() - started:6.0f} s] {line}"
        print(stamp, file=sys.stderr, flush=True)
        print(stamp, file=log_file, flush=True)

    done: dict[str, Workload] = {}
    empty_trash(work)  # what an interrupted suite left
    with Nginx(work / "nginx", data.root) as server, _emptied_at_exit(work):
        log(f"nginx on 127.0.0.1:{server.port}")
        builders: list[tuple[str, Callable[[], Workload]]] = [
            ("W1", lambda: single.w1(data, server, sizes.w1)),
            ("W1 https", lambda: single.w1(data, server, sizes.w1, tls=True)),
            ("W2", lambda: single.w2(data, server, sizes.w2)),
            ("W2 https", lambda: single.w2(data, server, sizes.w2, tls=True)),
            ("W3", lambda: workloads.many("W3", data, server, sizes.w3_count, 64 * KiB)),
            ("W4", lambda: workloads.many("W4", data, server, sizes.w4_count, 1 * MiB)),
            ("W9", lambda: scale_job.w9(data, server, work, sizes.w9_count, 1 * MiB)),
            ("W5", lambda: service.w5(10 if args.quick else 50, 20 * MiB)),
            (
                "W6a",
                lambda: workloads.w6_transfers(
                    data, server, sizes.w6_size, sizes.w6_count, peers=args.peers or args.quick
                ),
            ),
            ("W6b", lambda: service.w6_items(work, 10_000 if args.quick else 100_000)),
        ]
        if service.daemon_available():
            seconds = 20 if args.quick else 60
            builders.append(("W7", lambda: service.w7(10_000, 10, seconds)))
            builders.append(("W8", lambda: sources.w8(10, 1_000, 1, seconds)))
        for key, build in builders:
            if not wanted(key, only):
                continue
            log(f"{key}: preparing")
            workload = build()
            data.save()
            log(f"{key}: {workload.title}")
            # W7 is one 60 s window: its runs would add minutes for a steady figure
            run_workload(workload, work, 1 if key in ("W7", "W8") else runs, log)
            done[key] = workload
    elapsed = time.monotonic() - started
    text = render(done, runs, args.quick, elapsed)
    if args.quick or only:
        out = work / "quick.md"
    else:
        out = results_path(HERE / "results", datetime.datetime.now(datetime.UTC).date())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if not (args.quick or only):
        update_readme(HERE.parent / "README.md", text, out)
    log(f"results in {out} ({elapsed:.0f} s)")
    return 0


def wanted(key: str, only: set[str]) -> bool:
    """Whether `--only` (upper-cased names) asks for workload `key`: `W6` takes W6a and
    W6b, `W1` takes "W1 https" too, and `W1 HTTPS` that one alone."""
    short = key.split()[0].upper()
    return not only or key.upper() in only or short in only or short.rstrip("AB") in only


def results_path(folder: Path, day: datetime.date) -> Path:
    """`<day>.md`, or `<day>-2.md`, `-3`... when a suite of that day already wrote one:
    the results committed earlier that day, with their written analysis, stay as they are."""
    path = folder / f"{day:%Y-%m-%d}.md"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{day:%Y-%m-%d}-{n}.md"
    return path


@contextlib.contextmanager
def _emptied_at_exit(work: Path) -> Iterator[None]:
    try:
        yield
    finally:
        empty_trash(work)


def render(done: dict[str, Workload], runs: int, quick: bool, elapsed: float) -> str:
    when = datetime.datetime.now(datetime.UTC)
    lines = [
        f"# Benchmarks, {when:%Y-%m-%d %H:%M} UTC{' (quick mode)' if quick else ''}",
        "",
        "Machine:",
        *report.machine(),
        "",
        METHOD,
        "",
        f"{runs} run(s) per contender; the whole suite took {elapsed / 60:.1f} min.",
        *(
            []
            if "W7" in done
            else [
                "",
                "W7 (an idle daemon with 10,000 waiting items) is not part of this run: the",
                "daemon (`downloader run`) is not on this branch yet.",
            ]
        ),
        "",
        "## Targets",
        "",
        *report.targets_table(done),
        "",
        "## Workloads",
        "",
    ]
    for workload in done.values():
        lines += report.workload_table(workload)
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, text: str, out: Path) -> None:
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    body = readme.read_text()
    if start not in body:
        return
    tables = text.split("## Targets", 1)[1]
    source = (
        f"From `{out.relative_to(readme.parent)}` (the measured bound behind each unmet\n"
        "target, and what was tried, is in that file's last section):"
    )
    quoted = f"{start}\n{source}\n\n## Targets{tables}{end}"
    quoted = quoted.replace("\n## ", "\n#### ").replace("\n### ", "\n#### ")
    readme.write_text(
        re.sub(f"{re.escape(start)}.*?{re.escape(end)}", lambda _: quoted, body, flags=re.S)
    )


if __name__ == "__main__":
    sys.exit(main())
