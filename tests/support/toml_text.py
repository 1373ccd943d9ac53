"""Values and documents written as TOML text, for tests that feed the parsers what a user
could write (any value of any key, NaN and infinities included)."""

from __future__ import annotations

import json
import math
from typing import Any


def toml_value(value: Any) -> str:
    """`value` written as TOML (an inline table for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def render_config(doc: dict[tuple[str, str], Any]) -> str:
    tables: dict[str, list[str]] = {}
    for (table, key), value in doc.items():
        tables.setdefault(table, []).append(f"{key} = {toml_value(value)}")
    return "\n".join(f"[{t}]\n" + "\n".join(lines) for t, lines in tables.items())
