"""Source entries of the watchlist (`[[pixxel.workflow]]`, `[[scale.jobs]]`, ...).

Pure: one parsed TOML table in, a `SourceRef` or the reasons it is none out.
`since` is a TOML offset date-time or an ISO 8601 string with a zone; a time
without one is refused rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from downloader.config import type_name
from downloader.sources import SOURCE_FIELDS, SourceRef, parse_time

__all__ = ["is_source_kind", "source_entry"]

# Scale numbers its job types: those may be TOML integers.
_INTEGER_FIELDS = frozenset({"job_type_id"})


def is_source_kind(provider: str, kind: str) -> bool:
    return (provider, kind) in SOURCE_FIELDS


def _since(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a time without a zone: write e.g. 2026-11-01T00:00:00Z")
        return value.astimezone(UTC)
    if isinstance(value, str):
        parsed = parse_time(value) if value.rstrip().endswith(("Z", "z")) or "+" in value else None
        if parsed is None:
            raise ValueError(f"{value!r} is not an ISO 8601 time with a zone")
        return parsed.astimezone(UTC)
    raise ValueError(f"expected a date-time, got {type_name(value)}")


def _value(name: str, value: Any) -> str:
    if name in _INTEGER_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"must be a non-negative integer (got {value})")
        return str(value)
    if not isinstance(value, str):
        expected = "a string or an integer" if name in _INTEGER_FIELDS else "a string"
        raise ValueError(f"expected {expected}, got {type_name(value)}")
    return value


def source_entry(
    provider: str, kind: str, entry: dict[str, Any]
) -> tuple[SourceRef | None, list[tuple[str, str]]]:
    """The source of one `[[provider.kind]]` table, or None and (field, problem) pairs."""
    required, optional = SOURCE_FIELDS[(provider, kind)]
    allowed = (*required, *optional, "since")
    problems: list[tuple[str, str]] = []
    params: dict[str, str] = {}
    since: datetime | None = None
    for name, value in entry.items():
        if name not in allowed:
            problems.append((name, f"unknown field (expected: {', '.join(allowed)})"))
            continue
        try:
            if name == "since":
                since = _since(value)
            else:
                params[name] = _value(name, value)
        except ValueError as exc:
            problems.append((name, str(exc)))
    for name in required:
        if name not in entry:
            problems.append((name, "missing required field"))
    if not required and not params and not problems:
        problems.append(("", f"give at least one of {', '.join(optional)}"))
    if problems:
        return None, problems
    try:
        return SourceRef(provider, kind, tuple(sorted(params.items())), since), []
    except ValueError as exc:
        return None, [("", str(exc))]
