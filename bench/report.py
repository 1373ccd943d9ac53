"""The results as Markdown: machine, method, one table per workload, the targets."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.harness import Workload


def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]


def machine() -> list[str]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return [
        f"- {os.cpu_count()} cores ({cpu}), {memory / 2**30:.1f} GiB memory, "
        f"Linux {platform.release()}, Python {platform.python_version()}",
        f"- {_first_line(['nginx', '-v'])}; {_first_line(['curl', '--version'])[:60]}; "
        f"{_first_line(['aria2c', '--version'])}",
    ]


@dataclass(frozen=True)
class Target:
    workload: str
    text: str
    measure: Callable[[Workload], tuple[float, bool]]


def _by_name(w: Workload, prefix: str) -> float:
    return next(c for c in w.contenders if c.name.startswith(prefix)).median("wall")


def ratio_at_most(peer: str, limit: float) -> Callable[[Workload], tuple[float, bool]]:
    def measure(w: Workload) -> tuple[float, bool]:
        value = w.subject.median("wall") / _by_name(w, peer)
        return value, value <= limit

    return measure


def speed_at_least(peer: str, limit: float) -> Callable[[Workload], tuple[float, bool]]:
    def measure(w: Workload) -> tuple[float, bool]:
        value = _by_name(w, peer) / w.subject.median("wall")
        return value, value >= limit

    return measure


def rss_at_most(name: str, limit_mb: float) -> Callable[[Workload], tuple[float, bool]]:
    def measure(w: Workload) -> tuple[float, bool]:
        value = next(c for c in w.contenders if c.name.startswith(name)).median("rss") / 1e6
        return value, value <= limit_mb

    return measure


def wall_at_most(name: str, seconds: float) -> Callable[[Workload], tuple[float, bool]]:
    def measure(w: Workload) -> tuple[float, bool]:
        value = _by_name(w, name)
        return value, value < seconds

    return measure


def extra_at_most(name: str, limit: float) -> Callable[[Workload], tuple[float, bool]]:
    def measure(w: Workload) -> tuple[float, bool]:
        value = w.subject.median(name)
        return value, value <= limit

    return measure


TARGETS = [
    Target("W1", "wall ≤ 0.9 × curl -o", ratio_at_most("curl -o", 0.9)),
    Target("W1", "wall ≤ 0.8 × aria2c -x1", ratio_at_most("aria2c -x1", 0.8)),
    Target("W2", "throughput ≥ 0.95 × aria2c -x8 -s8", speed_at_least("aria2c", 0.95)),
    Target("W2", "throughput ≥ 6 × curl", speed_at_least("curl", 6.0)),
    Target("W3", "files/s ≥ 1.0 × curl -Z", speed_at_least("curl", 1.0)),
    Target("W3", "files/s ≥ 3 × aria2c -j16", speed_at_least("aria2c", 3.0)),
    Target("W4", "files/s ≥ 1.0 × curl -Z", speed_at_least("curl", 1.0)),
    Target("W4", "files/s ≥ 3 × aria2c -j16", speed_at_least("aria2c", 3.0)),
    Target("W6a", "peak RSS ≤ 80 MB with 16 transfers", rss_at_most("downloader", 80)),
    Target("W6b", "peak RSS ≤ 200 MB with 100,000 items loaded", rss_at_most("load", 200)),
    Target("W6b", "`status` on 100,000 items < 2 s", wall_at_most("downloader status", 2.0)),
    Target("W7", "idle daemon ≤ 1 % CPU", extra_at_most("cpu %", 1.0)),
]


def workload_table(w: Workload) -> list[str]:
    subject = w.subject
    extras = list(w.extras)
    head = [
        "tool",
        "wall s",
        w.unit if w.amount else "",
        "downloader wall ÷ this",
        "CPU s",
        "peak RSS MB",
        *extras,
        "runs",
    ]
    lines = [
        f"### {w.key}: {w.title}",
        "",
        f"Load average (1, 5, 15 min) before: {w.load[0]}; after: {w.load[-1]}.",
        "",
        "| " + " | ".join(h for h in head) + " |",
        "|" + "---|" * 1 + "---:|" * (len(head) - 1),
    ]
    for c in w.contenders:
        if not c.runs:
            continue
        shown = (
            "—"
            if c is subject or not w.compare
            else f"{subject.median('wall') / c.median('wall'):.2f}"
        )
        cells = [
            c.name,
            f"{c.median('wall'):.2f}",
            f"{w.throughput(c):.1f}" if w.amount else "",
            shown,
            f"{c.median('cpu'):.2f}",
            f"{c.median('rss') / 1e6:.1f}",
            *(f"{c.median(e):.2f}" for e in extras),
            str(len(c.runs)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\n{note}" for note in w.notes]
    return [*lines, ""]


def targets_table(workloads: dict[str, Workload]) -> list[str]:
    lines = ["| workload | target | measured | met |", "|---|---|---:|---|"]
    for t in TARGETS:
        w = workloads.get(t.workload)
        if w is None or not all(c.runs for c in w.contenders):
            lines.append(f"| {t.workload} | {t.text} | not run | |")
            continue
        value, ok = t.measure(w)
        lines.append(f"| {t.workload} | {t.text} | {value:.2f} | {'yes' if ok else '**no**'} |")
    return lines
