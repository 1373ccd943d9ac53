"""A typed, problem-collecting reader over one parsed TOML table. Pure.

Each accessor returns a usable value even when the input is wrong (the default,
or a neutral value) and records a `ConfigProblem` instead of raising, so one
pass reports every mistake in a file.  `finish()` reports keys nobody asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from downloader.errors import ConfigProblem


class TableReader:
    """Reads the keys of `data`, a table found at dotted `path` in `source`."""

    def __init__(
        self,
        source: str,
        data: Mapping[str, Any],
        path: str,
        problems: list[ConfigProblem] | None = None,
    ) -> None:
        self.source = source
        self.path = path
        self.problems: list[ConfigProblem] = [] if problems is None else problems
        self._data = data
        self._used: set[str] = set()

    def has(self, key: str) -> bool:
        """Whether the table gives `key` at all."""
        return key in self._data

    def problem(self, key: str, message: str) -> None:
        """Record that `key` of this table is wrong."""
        self.problems.append(ConfigProblem(self.source, self._key(key), message))

    def text(self, key: str, default: str | None = None) -> str:
        """A string; required when `default` is None."""
        value = self._get(key, str, "a string", required=default is None)
        return value if isinstance(value, str) else (default or "")

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, str, "a string", required=False)
        return value if isinstance(value, str) else None

    def integer(self, key: str, default: int | None = None) -> int:
        """An integer (not a boolean); required when `default` is None."""
        value = self._get(key, int, "an integer", required=default is None)
        return value if isinstance(value, int) else (default or 0)

    def size(self, key: str) -> int:
        """A required byte count, zero or more."""
        value = self.integer(key)
        if value < 0:
            self.problem(key, "must not be negative")
            return 0
        return value

    def number(self, key: str, default: float) -> float:
        value = self._get(key, (int, float), "a number", required=False)
        return float(value) if isinstance(value, int | float) else default

    def opt_number(self, key: str) -> float | None:
        value = self._get(key, (int, float), "a number", required=False)
        return float(value) if isinstance(value, int | float) else None

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, bool, "true or false", required=False)
        return value if isinstance(value, bool) else default

    def text_list(self, key: str, default: list[str]) -> list[str]:
        value = self._get(key, list, "a list of strings", required=False)
        if value is None:
            return default
        if not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of strings")
            return default
        return list(value)

    def opt_geometry(self, key: str) -> dict[str, Any] | None:
        """A GeoJSON geometry, taken as is once it names its `type`."""
        value = self._get(key, dict, "a GeoJSON geometry table", required=False)
        if value is not None and not isinstance(value.get("type"), str):
            self.problem(key, "must name its GeoJSON type")
            return None
        return dict(value) if value is not None else None

    def opt_datetime(self, key: str) -> str | None:
        """A date and time with its offset (a TOML datetime, or RFC 3339 text), as text."""
        value = self._get(key, (datetime, str), "a date and time", required=False)
        if isinstance(value, datetime) and value.tzinfo is None:
            self.problem(key, "must give its offset (Z or +HH:MM)")
            return None
        if isinstance(value, datetime):
            return value.isoformat().replace("+00:00", "Z")
        return value if isinstance(value, str) else None

    def table(self, key: str) -> TableReader:
        """A sub-table (empty when absent)."""
        value = self._get(key, dict, "a table", required=False)
        return TableReader(self.source, value or {}, self._key(key), self.problems)

    def array(self, key: str) -> list[TableReader]:
        """An array of tables (empty when absent)."""
        value = self._get(key, list, "an array of tables", required=False)
        readers = []
        for index, entry in enumerate(value or []):
            where = f"{key}[{index}]"
            if isinstance(entry, dict):
                readers.append(TableReader(self.source, entry, self._key(where), self.problems))
            else:
                self.problem(where, "must be a table")
        return readers

    def rest(self) -> dict[str, Any]:
        """Every key not read yet, taken as is."""
        remaining = {k: v for k, v in self._data.items() if k not in self._used}
        self._used.update(remaining)
        return remaining

    def finish(self) -> None:
        """Report every key that no accessor asked for."""
        for key in self._data:
            if key not in self._used:
                self.problem(key, "unknown key")

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, kind: type | tuple[type, ...], what: str, *, required: bool) -> Any:
        self._used.add(key)
        if key not in self._data:
            if required:
                self.problem(key, "is required")
            return None
        value = self._data[key]
        if isinstance(value, bool) and kind is not bool:
            self.problem(key, f"must be {what}")
            return None
        if not isinstance(value, kind):
            self.problem(key, f"must be {what}")
            return None
        return value
