"""W9: one Scale job of many product files (one item, many assets) against aria2c.

The emulator answers the Scale API, behind the bench's nginx (`/scale/` is passed
to it with the Host kept), so the file URLs it hands out name nginx, which serves
the files itself from `<data>/emulated/files/`, as a Scale workspace would from its
web server.  The files are the emulator's own: fetched from it once when the data is
made, and kept with their SHA-256.  `downloader once` archives the job (one bag, every
file in it checked); `aria2c -j8 -i` fetches the same URLs from the same nginx.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bench import tools
from bench.data import DataSet, sha256_file
from bench.harness import DURABLE, Check, Contender, Workload
from bench.nginx import Nginx
from bench.service import EmulatorRun
from bench.timing import Timed
from bench.tools import Fetch
from bench.workloads import WrongBytes, check_plain, expect_all

JOB = 9001
JOBS = 8
"""Files in flight: aria2c's `-j8`, and the downloader's `max_concurrent`/`max_per_host`."""


def scenario_text(count: int, size: int) -> str:
    files = ", ".join(f'{{ name = "f-{i:04d}.bin", size = {size} }}' for i in range(count))
    return f"[emulator]\nseed = 9\n\n[[scale.job]]\nid = {JOB}\nfiles = [{files}]\n"


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=60) as resp:  # loopback only
        answer: dict[str, object] = json.load(resp)
        return answer


def materialize(data: DataSet, work: Path, count: int, size: int) -> list[tuple[str, str, str]]:
    """The job's files as (name, host path, SHA-256), copied from the emulator into the
    data set where nginx serves them; made once, then reused while their sizes hold."""
    emulator = EmulatorRun(0, 0)
    run = work / "w9-emulator"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    base = emulator.start(run, scenario_text(count, size))["base_url"]
    try:
        job = _get(f"{base}/scale/v6/jobs/{JOB}/")
        output = job["output"]
        assert isinstance(output, dict)
        ids = [i for ids in output["files"].values() for i in ids]
        made = []
        for file_id in ids:
            described = _get(f"{base}/scale/v6/files/{file_id}/")
            host_path = urlsplit(str(described["url"])).path
            name = f"emulated{host_path}"
            path = data.root / name
            if name not in data.digests or not path.exists() or path.stat().st_size != size:
                path.parent.mkdir(parents=True, exist_ok=True)
                with urllib.request.urlopen(base + host_path, timeout=60) as resp:
                    path.write_bytes(resp.read())
                data.digests[name] = sha256_file(path)
            made.append((str(described["file_name"]), host_path, data.digests[name]))
        return made
    finally:
        emulator.teardown(run)
        shutil.rmtree(run, ignore_errors=True)


def check_bag(files: list[tuple[str, str, str]]) -> Check:
    """Every file of the job in the archive with the right bytes, in a bag that vouches
    for them."""

    def check(run: Path, _: Timed) -> dict[str, float]:
        found = {p.name: p for p in (run / "archive").rglob("*") if p.is_file()}
        missing = [name for name, _, _ in files if name not in found]
        if missing:
            raise WrongBytes(f"{len(missing)} files not archived, e.g. {missing[0]}")
        expect_all([(found[name], sha) for name, _, sha in files])
        manifests = "".join(p.read_text() for p in (run / "archive").rglob("manifest-sha256.txt"))
        vouched = {line.split()[0] for line in manifests.splitlines() if line.strip()}
        if not {sha for _, _, sha in files} <= vouched:
            raise WrongBytes("a file is not in its bag's manifest")
        return {}

    return check


class ScaleDownloader:
    """`downloader once` on the job, one emulator per run on nginx's upstream port."""

    def __init__(self, server: Nginx, count: int, size: int) -> None:
        self.server, self.count, self.size = server, count, size
        self.emulator = EmulatorRun(0, 0)

    def setup(self, run: Path) -> list[str]:
        scenario = scenario_text(self.count, self.size)
        announced = self.emulator.start(run, scenario, self.server.upstream_port)
        config = Path(announced["config"])
        text = config.read_text().replace(announced["base_url"], self.server.origin())
        transfer = f'[transfer]\nmin_free_space = "0"\nmax_concurrent = {JOBS}\n'
        config.write_text(f"{text}\n{transfer}max_per_host = {JOBS}\n")
        return tools.downloader_once(config)

    def teardown(self, run: Path) -> None:
        self.emulator.teardown(run)


def w9(data: DataSet, server: Nginx, work: Path, count: int, size: int) -> Workload:
    files = materialize(data, work, count, size)
    fetches = [
        Fetch(f"{server.origin()}{host_path}", name, sha, f"w9-{i:04d}")
        for i, (name, host_path, sha) in enumerate(files)
    ]
    subject = ScaleDownloader(server, count, size)
    contenders = [
        Contender(
            "downloader once (one Scale job)",
            subject.setup,
            check_bag(files),
            subject=True,
            teardown=subject.teardown,
        ),
        Contender(
            f"aria2c -j{JOBS} -i list",
            lambda run: tools.aria2_many(fetches, run, JOBS),
            check_plain(fetches),
        ),
        Contender(
            f"bare aiohttp client, {JOBS} at a time, each file fsynced and renamed"
            " (reference: no API, state or bag)",
            lambda run: tools.bare_many(fetches, run, JOBS, durable=True),
            check_plain(fetches),
            floor=DURABLE,
        ),
    ]
    title = f"one Scale job of {count} files of {size / 2**20:g} MiB (emulated API, nginx files)"
    names = [f"emulated{host_path}" for _, host_path, _ in files]
    w = Workload(
        "W9",
        title,
        contenders,
        amount=count,
        unit="files/s",
        warm=lambda: data.warm(names),
        defer_cleanup=True,
    )
    w.notes.append(
        f"The downloader asks the emulated Scale API (through nginx) for the job and its"
        f" files, then fetches them, {JOBS} at a time; aria2c is given the same URLs."
    )
    return w
