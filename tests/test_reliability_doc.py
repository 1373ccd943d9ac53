"""docs/RELIABILITY.md names only tests that exist, and at least 25 cases."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "RELIABILITY.md"


def test_every_test_the_reliability_note_names_exists_and_it_has_25_cases() -> None:
    text = DOC.read_text()
    rows = re.findall(r"(?m)^\| (\d+) \|", text)
    assert len(rows) >= 25
    assert [int(n) for n in rows] == list(range(1, len(rows) + 1))
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(named) >= len(rows)
    for path, name in named:
        source = (ROOT / path).read_text()
        assert re.search(rf"(?m)^(async )?def {name}\(", source), f"{path}::{name}"
