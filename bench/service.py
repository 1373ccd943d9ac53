"""W5 (end to end through the emulator) and W6b (a 100,000-item watchlist)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from bench import tools
from bench.data import sha256_file
from bench.harness import PLAIN, Check, Contender, Workload
from bench.timing import Timed
from bench.workloads import WrongBytes
from downloader.config import PollSettings
from downloader.providers._schedule import poll_delay

LOAD_ITEMS = str(Path(__file__).with_name("load_items.py"))
POLL = '[poll]\ninitial_interval = "250ms"\nmax_interval = "500ms"\n'


def scenario_text(count: int, size: int) -> str:
    lines = ["[emulator]", "seed = 5", 'pixxel_api_key = "k"', "url_lifetime = 3600", ""]
    for i in range(count):
        lines += [
            "[[pixxel.order_item]]",
            f'id = "pkg-{i:03d}"',
            "polls_until_ready = 2",
            f'files = [{{ name = "scene-{i:03d}.tif", size = {size} }}]',
            "",
        ]
    return "\n".join(lines)


class EmulatorRun:
    """One emulator process per run, so every run starts from a fresh remote state."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size = count, size
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def start(self, run: Path, scenario: str, port: int = 0) -> dict[str, str]:
        """Start the emulator on `scenario` (on `port`, any free one if 0); returns what it
        announced (base_url, config)."""
        path = run / "scenario.toml"
        path.write_text(scenario)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "downloader.emulator",
                "--scenario",
                str(path),
                "--client-files",
                str(run / "client"),
                "--archive-root",
                str(run / "archive"),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        announced: dict[str, str] = json.loads(self.proc.stdout.readline())
        self.base = announced["base_url"]
        return announced

    def setup(self, run: Path) -> list[str]:
        announced = self.start(run, scenario_text(self.count, self.size))
        config = Path(announced["config"])
        config.write_text(config.read_text() + "\n" + POLL)
        return tools.downloader_once(config)

    def _get(self, path: str) -> object:
        with urllib.request.urlopen(self.base + path, timeout=30) as resp:  # loopback only
            return json.load(resp)

    def check(self, run: Path, result: Timed) -> dict[str, float]:
        expected = self._get("/_emulator/expected")
        stats = self._get("/_emulator/stats")
        assert isinstance(expected, dict)
        assert isinstance(stats, dict)
        found = {p.name: p for p in (run / "archive").rglob("*") if p.parent.name == "data"}
        for files in expected.values():
            for f in files:
                path = found.get(f["name"])
                if path is None or sha256_file(path) != f["sha256"]:
                    raise WrongBytes(f"{f['name']}: missing or wrong bytes in the archive")
        requests = self._get("/_emulator/requests")  # lists of jobs included
        assert isinstance(requests, dict)
        return {
            "items/s": self.count / result.wall,
            "API requests/item": requests["api"] / self.count,
        }

    def teardown(self, run: Path) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


def w5(count: int, size: int) -> Workload:
    emulator = EmulatorRun(count, size)
    contender = Contender(
        "downloader once", emulator.setup, emulator.check, subject=True, teardown=emulator.teardown
    )
    title = f"{count} Pixxel packages of {size / 2**20:g} MiB, ready after two polls (emulator)"
    w = Workload(
        "W5",
        title,
        [contender],
        amount=count,
        unit="items/s",
        extras=("items/s", "API requests/item"),
    )
    w.notes.append("poll initial_interval 0.25 s, max 0.5 s; the emulator (Python) serves files")
    return w


def watchlist_100k(run: Path, count: int) -> None:
    lines = [
        f'[[http.file]]\nid = "i{i:06d}"\nurl = "http://127.0.0.1:9/files/{i:06d}.bin"\n'
        for i in range(count)
    ]
    (run / "watchlist.toml").write_text("".join(lines))


def w6_items(work: Path, count: int) -> Workload:
    """Parse, load and show `count` items; the loaded store is built once and copied."""
    base = work / "w6b-base"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    watchlist_100k(base, count)
    config = tools.downloader_config(base, {})
    loaded = subprocess.run(
        [sys.executable, LOAD_ITEMS, str(config)], capture_output=True, text=True
    )
    if loaded.returncode != 0 or int(loaded.stdout) != count:
        raise RuntimeError(f"loading {count} items failed: {loaded.stderr[-2000:]}")

    def fresh(run: Path, with_state: bool) -> Path:
        shutil.copy(base / "watchlist.toml", run / "watchlist.toml")
        if with_state:
            for f in base.glob("state.db*"):
                shutil.copy(f, run / f.name)
        return tools.downloader_config(run, {})

    def rows(n: int) -> Check:
        def check(run: Path, result: Timed) -> dict[str, float]:
            shown = sum(1 for line in result.stdout.splitlines() if line.strip())
            if shown < n:
                raise WrongBytes(f"status printed {shown} lines for {n} items")
            return {}

        return check

    def loaded_check(run: Path, result: Timed) -> dict[str, float]:
        if int(result.stdout) != count:
            raise WrongBytes(f"loaded {result.stdout.strip()} items, expected {count}")
        return {}

    # parsing alone (`check-config`) is part of loading; `status --json` costs about
    # what `status` does: both are left out to keep the suite within 20 minutes
    contenders = [
        Contender(
            "load into the store",
            lambda run: [sys.executable, LOAD_ITEMS, str(fresh(run, False))],
            loaded_check,
        ),
        Contender(
            "downloader status",
            lambda run: [tools.DOWNLOADER, "status", "-c", str(fresh(run, True))],
            rows(count),
            subject=True,
        ),
    ]
    return Workload("W6b", f"memory and time: {count:,} watchlist items", contenders, compare=False)


IDLE = str(Path(__file__).with_name("idle.py"))
BARE_POLL = str(Path(__file__).with_name("bare_poll.py"))


def scheduled_polls(count: int, start: float, end: float) -> int:
    """Polls that the default `[poll]` schedule asks of `count` items first asked at 0 s,
    in the window from `start` to `end` s: each asked at 0, then after each wait of the
    schedule without its jitter."""
    poll = PollSettings()
    at, attempt, per_item = 0.0, 0, 0
    while at <= end:
        per_item += start <= at < end
        at += poll_delay(
            attempt, initial=poll.initial_interval, cap=poll.max_interval, rand=_middle
        )
        attempt += 1
    return count * per_item


def _middle() -> float:
    return 0.5  # the middle of the jitter: the wait itself


def daemon_available() -> bool:
    """Whether this tree has the daemon (`downloader run`)."""
    probe = subprocess.run([tools.DOWNLOADER, "run", "--help"], capture_output=True, check=False)
    return probe.returncode == 0


def idle_scenario(count: int) -> str:
    lines = ["[emulator]", "seed = 7", 'pixxel_api_key = "k"', ""]
    for i in range(count):
        lines += [
            "[[pixxel.job]]",
            'workflow_id = "wf-idle"',
            f'job_id = "job-{i:05d}"',
            "seconds_until_done = 100000000",
            'files = [{ name = "never.tif", size = 1024 }]',
            "",
        ]
    return "\n".join(lines)


class _IdleEmulator:
    """One emulator per run with `count` jobs that never finish (both W7 rows)."""

    def __init__(self, count: int, warmup: float, seconds: float) -> None:
        self.count, self.warmup, self.seconds = count, warmup, seconds
        self.emulator = EmulatorRun(0, 0)

    def teardown(self, run: Path) -> None:
        self.emulator.teardown(run)


class IdleDaemon(_IdleEmulator):
    """W7: the daemon watching the emulator's `count` unfinished jobs."""

    def setup(self, run: Path) -> list[str]:
        announced = self.emulator.start(run, idle_scenario(self.count))
        base = announced["base_url"]
        return [
            sys.executable,
            IDLE,
            announced["config"],
            base,
            str(self.warmup),
            str(self.seconds),
        ]

    def check(self, run: Path, result: Timed) -> dict[str, float]:
        measured: dict[str, float] = json.loads(result.stdout)
        return measured


class BarePolls(_IdleEmulator):
    """W7's reference rows: the bare client asks about the `count` jobs, one GET each
    (`get`) or in lists of the workflow's jobs (`list`); its CPU per question, times the
    questions the default schedule asks in the window, is what even it would spend
    there.  One list answers for every job: it is asked once per step of the schedule."""

    def __init__(self, count: int, warmup: float, seconds: float, mode: str) -> None:
        super().__init__(count, warmup, seconds)
        self.mode = mode

    def setup(self, run: Path) -> list[str]:
        announced = self.emulator.start(run, idle_scenario(self.count))
        key = Path(announced["config"]).parent / "secrets" / "pixxel_api_key"
        return [
            sys.executable,
            BARE_POLL,
            announced["base_url"],
            str(key),
            str(self.count),
            "wf-idle",
            self.mode,
        ]

    def check(self, run: Path, result: Timed) -> dict[str, float]:
        measured = json.loads(result.stdout)
        per_item = self.mode == "get"
        asked = scheduled_polls(
            self.count if per_item else 1, self.warmup, self.warmup + self.seconds
        )
        per_minute = asked * 60 / self.seconds
        return {
            "cpu %": 100 * measured["cpu ms each"] / 1000 * per_minute / 60,
            "API requests/min": per_minute,
            "items asked": float(self.count),
            "daemon peak RSS MB": result.rss / 1e6,
        }


def w7(count: int, warmup: float, seconds: float) -> Workload:
    idle = IdleDaemon(count, warmup, seconds)
    contender = Contender(
        "downloader run (idle)", idle.setup, idle.check, subject=True, teardown=idle.teardown
    )
    lists = BarePolls(count, warmup, seconds, "list")
    floor = Contender(
        "bare aiohttp client: one list of the workflow's jobs per step of the schedule"
        " (reference: no store, lease or schedule)",
        lists.setup,
        lists.check,
        teardown=lists.teardown,
        floor=PLAIN,
    )
    gets = BarePolls(count, warmup, seconds, "get")
    one_by_one = Contender(
        "bare aiohttp client: one GET per job and step, at the schedule's rate"
        " (reference: no store, lease or schedule)",
        gets.setup,
        gets.check,
        teardown=gets.teardown,
    )
    title = f"an idle daemon with {count:,} items waiting on unfinished jobs, {seconds:g} s"
    w = Workload(
        "W7",
        title,
        [contender, floor, one_by_one],
        extras=("cpu %", "API requests/min", "items asked", "daemon peak RSS MB"),
        compare=False,
    )
    asked = scheduled_polls(count, warmup, warmup + seconds)
    steps = scheduled_polls(1, warmup, warmup + seconds)
    w.notes.append(
        f"Measured from {warmup:g} s after the start for {seconds:g} s; default poll schedule"
        " (5 s initial, 5 min ceiling). The wall and RSS columns are the probe's, not the daemon's."
        f" Asked one by one, the schedule asks {asked:,} polls of {count:,} items first asked"
        f" together in that window; asked in lists of their workflow's jobs, as the downloader"
        f" does, {steps} lists. The bare client's rows are its CPU per question (one GET per"
        f" job, {count:,} measured; one list of {count:,} jobs, 10 measured) at those rates."
    )
    return w
