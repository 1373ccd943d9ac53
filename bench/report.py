"""The results as Markdown: machine, method, one table per workload, the targets."""

from __future__ import annotations

import math
import operator
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.harness import BEST, DURABLE, FLOORS, PLAIN, Contender, Workload


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
    value: Callable[[Workload, Contender], float]
    """The measured figure of one contender (the downloader, or the floor's row)."""
    limit: float
    holds: Callable[[float, float], bool]
    """`holds(value, limit)`: `operator.le` for "at most", `lt` for "under", `ge` for "at least"."""
    floored: bool = True
    """Whether the floor rows say anything of this target (not when their figure is
    given by construction, as the items W7's bare client asks)."""

    def met(self, value: float) -> bool:
        return self.holds(value, self.limit)


def _by_name(w: Workload, prefix: str) -> Contender:
    for c in w.contenders:
        if c.name.startswith(prefix):
            return c
    raise LookupError(f"{w.key} has no row {prefix!r}")


def ratio_at_most(workload: str, text: str, peer: str, limit: float, attr: str = "wall") -> Target:
    """Wall time (or `attr`, e.g. CPU) of the contender over the peer's."""
    return Target(
        workload,
        text,
        lambda w, c: c.median(attr) / _by_name(w, peer).median(attr),
        limit,
        operator.le,
    )


def speed_at_least(
    workload: str, text: str, peer: str, limit: float, *, floored: bool = True
) -> Target:
    """Throughput of the contender over the peer's (the peer's wall over its own)."""
    return Target(
        workload,
        text,
        lambda w, c: _by_name(w, peer).median("wall") / c.median("wall"),
        limit,
        operator.ge,
        floored,
    )


def median_within(
    workload: str,
    text: str,
    attr: str,
    limit: float,
    scale: float = 1,
    *,
    row: str | None = None,
    holds: Callable[[float, float], bool] = operator.le,
    floored: bool = True,
) -> Target:
    """A median of the contender, or of the named row (W6b measures its own rows, not
    the downloader's `once` run), divided by `scale`, against `limit`."""
    return Target(
        workload,
        text,
        lambda w, c: (c if row is None else _by_name(w, row)).median(attr) / scale,
        limit,
        holds,
        floored,
    )


SYNCED = "curl -o, then sync"
DURABLE_BARE = "the same, each file fsynced"
COUNTED = "downloader under strace"

TARGETS = [
    ratio_at_most("W1", "wall ≤ 0.9 × curl -o", "curl -o", 0.9),
    ratio_at_most("W1", "wall ≤ 0.8 × aria2c -x1", "aria2c -x1", 0.8),
    ratio_at_most("W1", "#22: wall ≤ 0.9 × curl -o, then sync", SYNCED, 0.9),
    ratio_at_most("W1", "#22: wall ≤ 1.2 × curl -o", "curl -o", 1.2),
    ratio_at_most("W1", "#22 goal: wall ≤ 1.0 × curl -o", "curl -o", 1.0),
    ratio_at_most("W1", "#22: CPU ≤ 1.3 × curl -o's", "curl -o", 1.3, "cpu"),
    ratio_at_most("W1 https", "#22: wall ≤ 1.2 × curl -o, then sync", SYNCED, 1.2),
    ratio_at_most("W1 https", "#22 goal: wall ≤ 1.0 × curl -o, then sync", SYNCED, 1.0),
    speed_at_least("W2", "throughput ≥ 0.95 × aria2c -x8 -s8", "aria2c", 0.95),
    speed_at_least("W2", "#22: throughput ≥ 1.0 × aria2c -x8 -s8", "aria2c", 1.0),
    speed_at_least("W2", "throughput ≥ 6 × curl", "curl", 6.0),
    speed_at_least("W2 https", "#22: throughput ≥ 1.0 × aria2c -x8 -s8", "aria2c", 1.0),
    speed_at_least("W3", "files/s ≥ 1.0 × curl -Z", "curl", 1.0),
    speed_at_least("W3", "files/s ≥ 3 × aria2c -j16", "aria2c", 3.0),
    speed_at_least("W3", "#21: files/s ≥ 1.5 × aria2c -j16", "aria2c", 1.5),
    speed_at_least("W3", "#21 goal: files/s ≥ 2.0 × aria2c -j16", "aria2c", 2.0),
    speed_at_least(
        "W3", "#21: files/s ≥ 0.8 × the durable bare client", DURABLE_BARE, 0.8, floored=False
    ),
    median_within(
        "W3",
        "#21: store round trips (write transactions) per item ≤ 6",
        "store transactions/item",
        6,
        row=COUNTED,
        floored=False,
    ),
    speed_at_least("W4", "files/s ≥ 1.0 × curl -Z", "curl", 1.0),
    speed_at_least("W4", "files/s ≥ 3 × aria2c -j16", "aria2c", 3.0),
    speed_at_least("W4", "#21: files/s ≥ 1.0 × aria2c -j16", "aria2c", 1.0),
    median_within(
        "W4",
        "#21: store round trips (write transactions) per item ≤ 6",
        "store transactions/item",
        6,
        row=COUNTED,
        floored=False,
    ),
    ratio_at_most("W9", "#21: wall ≤ 1.0 × aria2c -j8 -i", "aria2c", 1.0),
    median_within("W6a", "peak RSS ≤ 80 MB with 16 transfers", "rss", 80, 1e6),
    median_within(
        "W6b", "peak RSS ≤ 200 MB with 100,000 items loaded", "rss", 200, 1e6, row="load"
    ),
    median_within(
        "W6b",
        "`status` on 100,000 items < 2 s",
        "wall",
        2.0,
        row="downloader status",
        holds=operator.lt,
    ),
    median_within("W7", "idle daemon ≤ 1 % CPU", "cpu %", 1.0),
    median_within(
        "W7",
        "every one of the 10,000 waiting items asked within the 60 s",
        "items asked",
        10_000,
        holds=operator.ge,
        floored=False,
    ),
    median_within("W8", "idle daemon with 10 sources ≤ 1 % CPU", "cpu %", 1.0),
    median_within(
        "W8",
        "every one of the 10,000 listed jobs asked within the window",
        "items asked",
        10_000,
        holds=operator.ge,
        floored=False,
    ),
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
            *(_figure(c.median(e)) for e in extras),
            str(len(c.runs)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\n{note}" for note in w.notes]
    return [*lines, ""]


def _figure(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


FLOOR_HEADS = {
    PLAIN: "bare aiohttp client (floor)",
    DURABLE: "the same, each file made durable (floor)",
    BEST: "best design, durable (floor)",
}


def _met(holds: bool) -> str:
    return "met" if holds else "not met"


def targets_table(workloads: dict[str, Workload]) -> list[str]:
    """One row per target: the downloader's figure and, where the workload has them, the
    bare client's without and with fsync (the floors): a target that even the bare
    client misses is out of reach of a plain client on asyncio and aiohttp, and one that
    the durable bare client misses, of such a client that keeps what it fetched."""
    # the best design's column only where a workload has that floor
    kinds = [k for k in FLOORS if k != BEST or any(w.floor(k) for w in workloads.values())]
    heads = ["workload", "target", "measured", "met", *(FLOOR_HEADS[k] for k in kinds)]
    lines = ["| " + " | ".join(heads) + " |", "|---|---|---:|---|" + "---:|" * len(kinds)]
    for t in TARGETS:
        w = workloads.get(t.workload)
        if w is None or not all(c.runs for c in w.contenders):
            lines.append(f"| {t.workload} | {t.text} | not run | |" + " |" * len(kinds))
            continue
        try:
            value = t.value(w, w.subject)
        except LookupError:  # a row this run left out (e.g. the counts under strace)
            lines.append(f"| {t.workload} | {t.text} | not measured | |" + " |" * len(kinds))
            continue
        floors = []
        for kind in kinds:
            row = w.floor(kind)
            if row is None or not t.floored:
                floors.append("")
                continue
            floor_value = t.value(w, row)
            floors.append(f"{floor_value:.2f} ({_met(t.met(floor_value))})")
        met = _met(True) if t.met(value) else f"**{_met(False)}**"
        cells = [t.workload, t.text, f"{value:.2f}", met, *floors]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
