"""The watchlist file: `[[provider.kind]]` entries turned into `ItemRef`s.

Pure: text and a file name in, items and problems out.  A bad entry is
reported (file, line of its `[[...]]` header, key such as
`pixxel.job[2].job_id`, entries numbered from 0 per header) and skipped, so one
typo never stops the rest of the watchlist.  Only a TOML syntax error, which
leaves nothing to trust, turns the whole file into a single problem.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from downloader.config import KeyLines, parse_toml, type_name
from downloader.config._files import WATCHLIST_LIMIT, read_regular
from downloader.errors import ConfigProblem
from downloader.items import (
    ID_FIELDS,
    ItemRef,
    ProviderName,
    check_id,
    check_sha256,
    check_url,
    default_http_id,
    kinds_of,
)

__all__ = ["WatchlistParse", "load_watchlist", "parse_watchlist"]

_PROVIDERS = sorted(p.value for p in ProviderName)
# Fields an entry may have besides its ids.
_EXTRA_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {("http", "file"): ("url", "sha256")}
# Ids that may be written as TOML integers (Scale numbers its jobs).
_INTEGER_IDS = {("scale", "job", "id")}


@dataclass(frozen=True)
class WatchlistParse:
    """What a watchlist yielded: the usable items, in file order, and every problem."""

    items: tuple[ItemRef, ...]
    problems: tuple[ConfigProblem, ...]


class _Entries:
    """Collects items and problems while walking one parsed file."""

    def __init__(self, file: str, lines: KeyLines) -> None:
        self.file = file
        self.lines = lines
        self.items: dict[ItemRef, str] = {}  # item -> key of its first entry
        self.repeats: dict[ItemRef, list[str]] = {}
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, message: str, *, at: str | None = None) -> None:
        self.problems.append(ConfigProblem(self.file, key, message, self.lines.line(at or key)))

    def add(self, item: ItemRef, entry: str) -> None:
        if item in self.items:
            self.repeats.setdefault(item, []).append(entry)
        else:
            self.items[item] = entry

    def items_in_file_order(self) -> tuple[ItemRef, ...]:
        # TOML groups entries by provider and kind; the file's own order reads better.
        return tuple(sorted(self.items, key=lambda item: self.lines.line(self.items[item]) or 0))

    def report_repeats(self) -> None:
        for item, entries in self.repeats.items():
            first = self.items[item]
            self.problem(
                entries[0],
                f"{item.key} is listed {len(entries) + 1} times; "
                f"only the entry at line {self.lines.line(first)} is used",
            )


def _field(provider: str, kind: str, name: str, value: object) -> str:
    integer_ok = (provider, kind, name) in _INTEGER_IDS
    if integer_ok and isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"must be a non-negative integer (got {value})")
        return str(value)
    if not isinstance(value, str):
        expected = "a string or an integer" if integer_ok else "a string"
        raise ValueError(f"expected {expected}, got {type_name(value)}")
    return value


def _entry(
    out: _Entries, provider: str, kind: str, entry_key: str, entry: dict[str, Any]
) -> ItemRef | None:
    """One `[[provider.kind]]` table as an item, or None after reporting why not."""
    id_names = ID_FIELDS[(provider, kind)]
    allowed = (*id_names, *_EXTRA_FIELDS.get((provider, kind), ()))
    before = len(out.problems)
    values: dict[str, str] = {}
    for name, value in entry.items():
        key = f"{entry_key}.{name}"
        if name not in allowed:
            out.problem(key, f"unknown field (expected: {', '.join(allowed)})", at=entry_key)
            continue
        try:
            values[name] = _field(provider, kind, name, value)
            if name == "url":
                check_url(values[name])
            elif name == "sha256":
                values[name] = values[name].lower()
                check_sha256(values[name])
            elif name in id_names:
                check_id(values[name], slashes=provider == ProviderName.HTTP)
        except ValueError as exc:
            out.problem(key, str(exc), at=entry_key)
    is_http = provider == ProviderName.HTTP
    required = ("url",) if is_http else id_names
    for name in required:
        if name not in entry:
            out.problem(f"{entry_key}.{name}", "missing required field", at=entry_key)
    if len(out.problems) > before:
        return None
    try:
        if is_http:
            ids = (values.get("id") or default_http_id(values["url"]),)
            return ItemRef(provider, kind, ids, url=values["url"], sha256=values.get("sha256"))
        return ItemRef(provider, kind, tuple(values[name] for name in id_names))
    except ValueError as exc:
        out.problem(entry_key, str(exc))
        return None


def _kind(
    out: _Entries, provider: str, kind: str, entries: object, enabled: Set[str] | None
) -> None:
    path = f"{provider}.{kind}"
    if (provider, kind) not in ID_FIELDS:
        out.problem(
            path,
            f"unknown kind {kind!r} for {provider} (expected one of: "
            + ", ".join(f"[[{provider}.{k}]]" for k in kinds_of(provider))
            + ")",
        )
    elif isinstance(entries, dict):
        out.problem(path, f"write [[{path}]] (an array of tables), not [{path}]")
    elif not isinstance(entries, list):
        out.problem(path, f"expected [[{path}]] entries, got {type_name(entries)}")
    else:
        for index, entry in enumerate(entries):
            key = f"{path}[{index}]"
            if enabled is not None and provider != ProviderName.HTTP and provider not in enabled:
                out.problem(
                    key, f"provider {provider} is not enabled (no [providers.{provider}] in config)"
                )
            elif not isinstance(entry, dict):
                out.problem(key, f"expected a table, got {type_name(entry)}")
            elif (item := _entry(out, provider, kind, key, entry)) is not None:
                out.add(item, key)


def parse_watchlist(
    text: str, *, file: str, enabled_providers: Set[str] | None = None
) -> WatchlistParse:
    """Items and problems from the text of a watchlist.

    With `enabled_providers`, entries of a platform that has no table in the
    config are problems; plain `http` entries never need one.  An item listed
    twice is one problem and one item.
    """
    document = parse_toml(text, file=file)
    if document.data is None:
        assert document.problem is not None
        return WatchlistParse((), (document.problem,))
    out = _Entries(file, document.lines)
    for provider, kinds in document.data.items():
        if provider not in _PROVIDERS:
            out.problem(
                provider, f"unknown provider {provider!r} (expected one of {', '.join(_PROVIDERS)})"
            )
        elif not isinstance(kinds, dict):
            out.problem(provider, f"expected [[{provider}.KIND]] entries, got {type_name(kinds)}")
        else:
            for kind, entries in kinds.items():
                _kind(out, provider, kind, entries, enabled_providers)
    out.report_repeats()
    return WatchlistParse(out.items_in_file_order(), tuple(sorted(out.problems, key=_by_line)))


def _by_line(problem: ConfigProblem) -> tuple[bool, int]:
    return (problem.line is None, problem.line or 0)


def load_watchlist(path: Path, *, enabled_providers: Set[str] | None = None) -> WatchlistParse:
    """Read and parse the watchlist at `path`; an unreadable file is one problem."""
    try:
        text = read_regular(path, limit=WATCHLIST_LIMIT).data.decode("utf-8")
    except UnicodeDecodeError:  # before ValueError, of which it is a kind
        return WatchlistParse((), (ConfigProblem(str(path), "", "watchlist is not UTF-8 text"),))
    except ValueError as exc:  # a FIFO, a device, too large, gone, not allowed
        message = f"cannot read watchlist: {exc}"
        return WatchlistParse((), (ConfigProblem(str(path), "", message),))
    return parse_watchlist(text, file=str(path), enabled_providers=enabled_providers)
