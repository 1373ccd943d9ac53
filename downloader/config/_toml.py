"""TOML reading with line numbers for problems.

`tomllib` parses but forgets where things were, and problems must name a line.
`KeyLines` recovers lines from the raw text with a deliberately small scanner:
table headers, array-of-tables headers (numbered in order of appearance, from
0) and `key =` lines, including dotted keys.  It is best effort by design;
anything it cannot place falls back to the nearest enclosing table.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any

from downloader.errors import ConfigProblem

__all__ = ["KeyLines", "TomlDocument", "parse_toml", "type_name"]

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\]|\\.)*"'
_LITERAL = r"'[^']*'"
_PART = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_KEY = rf"{_PART}(?:\s*\.\s*{_PART})*"
_ARRAY_HEADER_RE = re.compile(rf"\s*\[\[\s*({_KEY})\s*\]\]\s*(?:#.*)?")
_TABLE_HEADER_RE = re.compile(rf"\s*\[\s*({_KEY})\s*\]\s*(?:#.*)?")
_KEY_LINE_RE = re.compile(rf"\s*({_KEY})\s*=")
_PART_RE = re.compile(_PART)
_ERROR_LINE_RE = re.compile(r"\s*\(at line (\d+), column \d+\)|\s*\(at end of document\)")


def type_name(value: object) -> str:
    """How a TOML value's type is called in messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return "a date/time"
    return type(value).__name__


@lru_cache(maxsize=256)
def _split_key(text: str) -> tuple[str, ...]:
    # a watchlist repeats a few headers and keys for every entry (100,000 in W6b)
    parts = []
    for match in _PART_RE.finditer(text):
        token = match.group(0)
        if token.startswith('"'):
            try:
                token = tomllib.loads(f"k = {token}")["k"]
            except tomllib.TOMLDecodeError:
                token = token[1:-1]
        elif token.startswith("'"):
            token = token[1:-1]
        parts.append(token)
    return tuple(parts)


def _multiline_toggles(text: str) -> int:
    return text.count('"""') + text.count("'''")


class KeyLines:
    """Maps dotted key paths (`transfer.segments`, `pixxel.job[2].job_id`) to 1-based lines."""

    def __init__(self, text: str) -> None:
        self._lines: dict[str, int] = {}
        self._arrays: dict[str, int] = {}
        prefix: list[str] = []
        in_multiline = False
        # Only "\n" ends a line in TOML (str.splitlines would also split on \x0c and others).
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.removesuffix("\r")
            if in_multiline:
                in_multiline = _multiline_toggles(line) % 2 == 0
                continue
            if match := _ARRAY_HEADER_RE.fullmatch(line):
                *parents, last = _split_key(match.group(1))
                path = ".".join(filter(None, [self._resolve(parents), last]))
                index = self._arrays.get(path, -1) + 1
                self._arrays[path] = index
                prefix = [f"{path}[{index}]"]
                self._remember(prefix[0], number)
            elif match := _TABLE_HEADER_RE.fullmatch(line):
                prefix = [self._resolve(_split_key(match.group(1)))]
                self._remember(prefix[0], number)
            elif match := _KEY_LINE_RE.match(line):
                key = ".".join([*prefix, *_split_key(match.group(1))])
                self._remember(key, number)
                in_multiline = _multiline_toggles(line[match.end() :]) % 2 == 1

    def _resolve(self, parts: Sequence[str]) -> str:
        """Join a header's parts, pointing into the latest entry of any array of tables."""
        path = ""
        for part in parts:
            path = f"{path}.{part}" if path else part
            if path in self._arrays:
                path = f"{path}[{self._arrays[path]}]"
        return path

    def _remember(self, key: str, number: int) -> None:
        self._lines.setdefault(key, number)

    def line(self, key: str) -> int | None:
        """The line of `key`, else of its nearest written ancestor, else None."""
        while key:
            if key in self._lines:
                return self._lines[key]
            # A table created implicitly (`[a.b]` creates `a`): its first descendant.
            below = [n for k, n in self._lines.items() if k.startswith((f"{key}.", f"{key}["))]
            if below:
                return min(below)
            key = _parent(key)
        return None


def _parent(key: str) -> str:
    cut = max(key.rfind("."), key.rfind("["))
    return key[:cut] if cut > 0 else ""


@dataclass(frozen=True)
class TomlDocument:
    """A parsed TOML file: its data, or the one syntax problem that stopped parsing."""

    data: dict[str, Any] | None
    lines: KeyLines
    problem: ConfigProblem | None


def parse_toml(text: str, *, file: str) -> TomlDocument:
    """Parse `text`; a syntax error becomes a `ConfigProblem` carrying its line."""
    lines = KeyLines(text)
    try:
        return TomlDocument(tomllib.loads(text), lines, None)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _ERROR_LINE_RE.search(message)
        line: int | None = None
        if match is not None:
            # only "\n" ends a TOML line; the parser's count can run past the last one
            last = text.count("\n") + 1
            line = min(int(match.group(1)), last) if match.group(1) else last
            message = message[: match.start()] + message[match.end() :]
        problem = ConfigProblem(file, "", f"TOML syntax error: {message.strip()}", line)
        return TomlDocument(None, lines, problem)
    except RecursionError:  # the parser recurses per level of nested arrays and tables
        problem = ConfigProblem(file, "", "TOML nested too deeply to read", None)
        return TomlDocument(None, lines, problem)
