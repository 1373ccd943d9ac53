"""Sizes, rates and durations as people read them, for the terminal and the summary."""

from __future__ import annotations

import math

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(n: float | None) -> str:
    """`n` bytes in binary units, one decimal from KiB up: `117.3 MiB`; `?` when unknown."""
    if n is None:
        return "?"
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def rate(bytes_per_second: float | None) -> str:
    """A transfer rate, `12.3 MiB/s`; `-` when there is none to tell."""
    if bytes_per_second is None or bytes_per_second <= 0 or math.isnan(bytes_per_second):
        return "-"
    return f"{size(bytes_per_second)}/s"


def duration(seconds: float | None) -> str:
    """A short countdown or ETA: `45s`, `2m`, `2m05s`, `1h30m`, `3d4h`; `-` when unknown."""
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return "-"
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"


def fit(text: str, width: int) -> str:
    """`text` cut to `width` columns, keeping its start and its end (an id's tail tells
    items apart): `pixxel:job:wf-ndvi…/job-0001`."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 2
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"
