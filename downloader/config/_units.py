"""Sizes and durations as people write them in the config file.

Pure functions only: text in, number out (and back, for messages and the
example config).  Nothing here reads files or knows about TOML.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_SIZE_MAX = 2**63 - 1  # what a signed 64-bit column (and every OS call) can hold
_SIZE_RE = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([A-Za-z]*)")

# Longest unit first so that "ms" is never read as "m" followed by garbage.
_DURATION_UNITS: dict[str, Fraction] = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
}
_DURATION_PART_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)\s*")
_PLAIN_NUMBER_RE = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*")
_DURATION_MAX = Fraction(10**12)  # about 31,700 years; keeps float() from overflowing


def parse_size(text: str | int) -> int:
    """Bytes from `"64MiB"`, `"1.5GiB"`, `"10 MB"`, `"0"` or a plain integer.

    Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal ones (KB, MB,
    GB, TB) powers of 1000; units are case-insensitive.  Fractions of a byte are
    dropped.  Raises `ValueError` for negative, non-numeric or absurdly large
    values.
    """
    if isinstance(text, bool):
        raise ValueError("expected a size such as 64MiB, not a boolean")
    if isinstance(text, int):
        value = Fraction(text)
    else:
        match = _SIZE_RE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a size (write e.g. 512KiB, 64MiB, 1.5GiB, 0)")
        number, unit = match.groups()
        factor = _SIZE_UNITS.get(unit.lower() or "b")
        if factor is None:
            raise ValueError(
                f"unknown size unit {unit!r} (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
            )
        value = _exact(number) * factor
    if value < 0:
        raise ValueError(f"a size cannot be negative (got {text!r})")
    if value > _SIZE_MAX:
        raise ValueError(f"size {text!r} is too large")
    return math.floor(value)


def format_size(size: int) -> str:
    """The shortest exact spelling of `size` bytes in binary units (`67108864` -> `"64MiB"`)."""
    if size < 0:
        raise ValueError("a size cannot be negative")
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def parse_duration(text: str | int | float) -> float:
    """Seconds from `"250ms"`, `"5s"`, `"5m"`, `"48h"`, `"2d"`, `"1h30m"` or a bare number.

    A bare number (in the file or in a string) counts as seconds.  Raises
    `ValueError` for negative, infinite or unreadable values.
    """
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 30s, not a boolean")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise ValueError("a duration must be finite")
        seconds = Fraction(text)
    else:
        seconds = _parse_duration_text(text)
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative (got {text!r})")
    if seconds > _DURATION_MAX:
        raise ValueError(f"duration {text!r} is too long")
    return float(seconds)


def _parse_duration_text(text: str) -> Fraction:
    plain = _PLAIN_NUMBER_RE.fullmatch(text)
    if plain is not None:
        return _exact(plain.group(1))
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"a duration cannot be negative (got {text!r})")
    total = Fraction(0)
    pos = 0
    seen: set[str] = set()
    while pos < len(text):
        match = _DURATION_PART_RE.match(text, pos)
        if match is None:
            break
        number, unit = match.groups()
        if unit in seen:
            raise ValueError(f"{text!r} names the unit {unit!r} twice")
        seen.add(unit)
        total += _exact(number) * _DURATION_UNITS[unit]
        pos = match.end()
    if pos != len(text) or not seen:
        raise ValueError(f"{text!r} is not a duration (write e.g. 250ms, 30s, 5m, 48h, 2d, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """A readable spelling that `parse_duration` reads back exactly (`5400.0` -> `"1h30m"`)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be finite and not negative")
    remaining = round(seconds * 1000)
    if float(Fraction(remaining, 1000)) != seconds:
        # Not a whole number of milliseconds: the shortest decimal that reads back the same.
        text = repr(seconds)
        return f"{text}s" if "e" not in text else f"{Decimal(seconds):f}s"
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, per_ms in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, remaining = divmod(remaining, per_ms)
        if count:
            parts.append(f"{count}{unit}")
    if remaining:
        parts.append(f"{remaining}ms")
    return "".join(parts)


def _exact(number: str) -> Fraction:
    try:
        return Fraction(Decimal(number))
    except (InvalidOperation, ValueError) as exc:  # the regexes make this unreachable in practice
        raise ValueError(f"{number!r} is not a number") from exc
