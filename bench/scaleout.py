"""Scaling out: 1, 2 and 3 daemons sharing one watchlist through PostgreSQL.

    python -m bench.scaleout [--files 12] [--size 64MiB] [--link 16MiB]

Every host is a `downloader run` process with its own `node_id` and a
`transfer.bandwidth_limit` that models its network link; all of them share one
PostgreSQL database, one watchlist and one archive root, and fetch from the
throttled location of the private nginx (`limit_rate 25m` per connection), so a
host is bound by its link, not by the server.  For each host count the run starts
from an empty database and archive, times from the first start until every item
is archived, checks every payload's SHA-256, and reports throughput and the
ratio to one host.  The figures go to `bench/results/<date>-scaleout.md`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.data import DataSet, MiB, sha256_file
from bench.nginx import Nginx
from downloader.config import parse_size
from tests.support.pgserver import PgServer

ROOT = Path(__file__).resolve().parent
HOST_COUNTS = (1, 2, 3)


def write_host(run: Path, host: int, database_url: str, watchlist: Path, link: int) -> Path:
    config = run / f"host-{host}.toml"
    config.write_text(
        f'[archive]\nroot = "{run / "archive"}"\n'
        f'[state]\nurl = "{database_url}"\n'
        f'[watchlist]\npath = "{watchlist}"\n'
        # two items at a time per host: a host that starts first does not take them all
        f"[transfer]\nmax_concurrent = 2\nbandwidth_limit = {link}\nmin_free_space = 0\n"
        f'[service]\nnode_id = "host-{host}"\ngrace_period = "5s"\n'
    )
    return config


def archived(run: Path, names: list[str]) -> bool:
    """Every item's bag is in place (a bag appears only when complete and verified)."""
    bags = run / "archive" / "http"
    return all((bags / name / "tagmanifest-sha256.txt").is_file() for name in names)


def run_hosts(hosts: int, run: Path, server: PgServer, urls: dict[str, str], link: int) -> float:
    """Seconds from starting `hosts` daemons until every item is archived."""
    run.mkdir(parents=True)
    watchlist = run / "watchlist.toml"
    watchlist.write_text(
        "".join(f'[[http.file]]\nid = "{name}"\nurl = "{url}"\n\n' for name, url in urls.items())
    )
    database = server.url(server.new_database())
    configs = [write_host(run, h, database, watchlist, link) for h in range(1, hosts + 1)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "downloader", "run", "-c", str(c)],
            stdout=(run / f"{c.stem}.log").open("w"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        for c in configs
    ]
    try:
        deadline = started + 900
        while not archived(run, list(urls)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"{hosts} host(s) did not finish; logs in {run}")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)


def check_payloads(run: Path, digests: dict[str, str]) -> None:
    for name, digest in digests.items():
        payload = run / "archive" / "http" / name / "data" / name
        if sha256_file(payload) != digest:
            raise RuntimeError(f"{payload} does not match its source")


def hosts_that_worked(run: Path) -> int:
    nodes = set()
    for log in run.glob("host-*.log"):
        if '"item.archived"' in log.read_text():
            nodes.add(log.stem)
    return len(nodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout")
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--size", default="64MiB")
    parser.add_argument("--link", default="16MiB", help="bandwidth_limit of each host, per s")
    args = parser.parse_args(argv)
    size, link = parse_size(args.size), parse_size(args.link)
    data = DataSet(ROOT / "data")
    names = [f"scale-{i:02d}.bin" for i in range(args.files)]
    digests = {name: data.ensure(name, size, seed=700 + i) for i, name in enumerate(names)}
    data.save()
    data.warm(names)
    work = ROOT / "work" / "scaleout"
    shutil.rmtree(work, ignore_errors=True)
    server = PgServer.start()
    rows: list[tuple[int, float, float, int]] = []
    try:
        with Nginx(work / "nginx", data.root) as nginx:
            urls = {name: nginx.url("throttled", name) for name in names}
            for hosts in HOST_COUNTS:
                run = work / f"hosts-{hosts}"
                seconds = run_hosts(hosts, run, server, urls, link)
                check_payloads(run, digests)
                rate = size * len(names) / seconds
                rows.append((hosts, seconds, rate, hosts_that_worked(run)))
                print(f"{hosts} host(s): {seconds:.1f} s, {rate / MiB:.1f} MiB/s", flush=True)
    finally:
        server.stop()
    report = render(rows, args, size, link)
    out = ROOT / "results" / f"{datetime.date.today():%Y-%m-%d}-scaleout.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    print(report)
    return 0 if rows[-1][2] >= 2.7 * rows[0][2] else 1


def render(
    rows: list[tuple[int, float, float, int]], args: argparse.Namespace, size: int, link: int
) -> str:
    one = rows[0][2]
    lines = [
        "# Scaling out: daemons sharing one PostgreSQL database",
        "",
        f"{args.files} files of {size // MiB} MiB from nginx's throttled location "
        f"(25 MB/s per connection); every host limited to {link // MiB} MiB/s "
        "(`transfer.bandwidth_limit`, its modelled link), 2 items at a time, each in "
        "16 MiB pieces 4 at a time; one database, one watchlist, one archive root; every "
        "payload's SHA-256 checked.",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; all hosts, nginx and PostgreSQL on it; load "
        f"average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        "| hosts | wall s | MiB/s | x one host | hosts that archived items |",
        "|---:|---:|---:|---:|---:|",
    ]
    for hosts, seconds, rate, worked in rows:
        lines.append(
            f"| {hosts} | {seconds:.1f} | {rate / MiB:.1f} | {rate / one:.2f} | {worked} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
