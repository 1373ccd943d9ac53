"""The last answer a platform gave within the current task, kept for error messages.

When an item fails because its answers cannot be read, the operator needs to see
which request got what (a login page, a word nobody knows), but that is only known
inside `ApiClient.call`, several calls below the poll loop that gives up.  The
client notes each answer here; the loop reads the note when it gives up.  A
`ContextVar` keeps items apart: each item is worked in a task of its own, and a
coroutine awaited within it shares its context.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from downloader.providers._parse_common import describe_error_body, shorten
from downloader.redact import REDACTOR

__all__ = ["EXCERPT_LIMIT", "Answer", "last_answer", "note_answer"]

EXCERPT_LIMIT = 120
"""Characters of an answer quoted in an item's error."""


@dataclass(frozen=True)
class Answer:
    """One answer: the request (method and path, already cleaned) and its raw body.

    The excerpt is made only when asked for (rarely), so noting an answer costs nothing."""

    request: str
    body: bytes
    content_type: str | None
    clean: Callable[[str], str]
    """Takes credentials and URL signatures out of a text (the client's own `clean`)."""

    def excerpt(self) -> str:
        """The start of the answer as text on one line (HTML without its tags)."""
        text = describe_error_body(self.body[:4096], self.content_type)
        return shorten(REDACTOR.scrub(self.clean(text)), EXCERPT_LIMIT)


_LAST: ContextVar[Answer | None] = ContextVar("downloader_last_answer", default=None)


def note_answer(answer: Answer | None) -> None:
    """Remember `answer` as the current task's latest (None: an answer not worth quoting)."""
    _LAST.set(answer)


def last_answer() -> Answer | None:
    """The latest answer noted in the current task, if any."""
    return _LAST.get()
