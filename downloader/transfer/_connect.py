"""What to call a connection that could not be made.  Pure: an errno and a text in.

aiohttp words a refused connection as "Connect call failed": the errno says what
happened, so it is put first, in the words an operator searches the logs for.
"""

from __future__ import annotations

import os

__all__ = ["describe_connect_failure"]


def describe_connect_failure(errno: int | None, text: str) -> str:
    """`text` led by what `errno` means ("connection refused: ..."), unless it says so."""
    if not errno:
        return text
    try:
        reason = os.strerror(errno)
    except ValueError:
        return text
    if not reason or reason.startswith("Unknown error") or reason.lower() in text.lower():
        return text
    return f"{reason.lower()}: {text}"
