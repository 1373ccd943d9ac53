"""An id is refused for a white-space or control character, whichever code point it is."""

from __future__ import annotations

import sys

from downloader.items import check_id


def _refused(value: str) -> bool:
    try:
        check_id(value, slashes=True)
    except ValueError:
        return True
    return False


def test_an_id_is_refused_exactly_for_a_space_or_an_unprintable_character() -> None:
    wrong = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if _refused(f"a{chr(code)}b") != (chr(code).isspace() or not chr(code).isprintable())
    ]
    assert wrong == []
