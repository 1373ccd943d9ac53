"""Alteryx Server's answers as our values: access tokens, jobs, outputs. Pure.

`status` and `disposition` are plain strings in Alteryx's swagger; the job list's
enum gives `Created`, `Queued`, `Running`, `Completed`, `Cancelled`.  `Completed`
only says the job ran: whether it went well is in `disposition` (only `Success`
is attested) and in the messages, where severity 3 is an error (the engine's
message types: 1 info, 2 warning, 3 error).  No I/O, no aiohttp/anyio/asyncio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from downloader.errors import MalformedResponse
from downloader.providers._parse_common import (
    RemoteState,
    Status,
    Vocabulary,
    field_list,
    field_status,
    field_str,
    object_of,
)

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "ERROR_SEVERITY",
    "JOB_WORDS",
    "AlteryxJob",
    "Output",
    "Token",
    "choose_format",
    "parse_job",
    "parse_token",
]

JOB_WORDS = Vocabulary.of(
    succeeded="completed",
    failed="cancelled canceled error failed",
    running="created queued running paused",
)
ERROR_SEVERITY = 3
DEFAULT_TOKEN_LIFETIME = 3600.0
"""Seconds a token is taken to live when the answer has no `expires_in`."""
_SUCCESS = frozenset({"success"})


@dataclass(frozen=True)
class Token:
    """An OAuth2 access token and how many seconds it lives."""

    access_token: str
    expires_in: float

    def __repr__(self) -> str:
        return f"Token(access_token='***', expires_in={self.expires_in!r})"


def parse_token(data: Any) -> Token:
    """A `POST /oauth2/token` answer."""
    what = "Alteryx token"
    obj = object_of(data, what)
    token = field_str(obj, "access_token", what)
    if not token:
        raise MalformedResponse(f"{what}: 'access_token' is empty")
    if not token.isprintable():  # a header cannot carry it; never shown
        raise MalformedResponse(f"{what}: 'access_token' holds a line break or control character")
    raw = obj.get("expires_in")
    lifetime = DEFAULT_TOKEN_LIFETIME
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0:
        lifetime = float(raw)
    return Token(token, lifetime)


@dataclass(frozen=True)
class Output:
    """One entry of a job's `outputs[]`."""

    id: str
    file_name: str
    formats: tuple[str, ...]


@dataclass(frozen=True)
class AlteryxJob:
    """A `GET /v3/jobs/{id}` answer."""

    id: str
    status: Status
    disposition: str | None
    outputs: tuple[Output, ...]
    errors: tuple[str, ...]
    """Texts of the messages with error severity."""

    def failure(self) -> str | None:
        """Why a finished job counts as failed, or None when it went well (or still runs)."""
        state = self.status.state
        if state is RemoteState.RUNNING:
            return None
        errors = "; ".join(self.errors)
        if state is RemoteState.FAILED:
            return f"Alteryx job {self.id} {self.status.word.lower()}" + (
                f": {errors}" if errors else ""
            )
        bad = self.disposition is not None and self.disposition.strip().lower() not in _SUCCESS
        if not bad and not errors:
            return None
        how = f" with disposition {self.disposition}" if bad else " with errors"
        return f"Alteryx job {self.id} completed{how}" + (f": {errors}" if errors else "")


def _output(data: Any, what: str) -> Output:
    obj = object_of(data, f"{what}: an output")
    output_id = field_str(obj, "id", f"{what}: an output") or ""
    where = f"{what}: output {output_id}"
    formats = tuple(f for f in field_list(obj, "availableFormats", where, required=False) if f)
    if not all(isinstance(f, str) for f in formats):
        raise MalformedResponse(f"{where}: 'availableFormats' holds something other than names")
    return Output(output_id, field_str(obj, "fileName", where, required=False) or "", formats)


def _errors(messages: list[Any]) -> tuple[str, ...]:
    found = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = message.get("text")
        if message.get("status") == ERROR_SEVERITY and isinstance(text, str) and text.strip():
            found.append(text.strip())
    return tuple(dict.fromkeys(found))


def parse_job(data: Any) -> AlteryxJob:
    """A `GET /v3/jobs/{id}` answer; `outputs` and `messages` may be absent."""
    what = "Alteryx job"
    obj = object_of(data, what)
    word = field_status(obj, "status", what)
    outputs = field_list(obj, "outputs", what, required=False)
    messages = obj.get("messages")
    return AlteryxJob(
        id=field_str(obj, "id", what, required=False) or "?",
        status=JOB_WORDS.classify(word),
        disposition=field_str(obj, "disposition", what, required=False),
        outputs=tuple(_output(o, what) for o in outputs),
        errors=_errors(messages if isinstance(messages, list) else []),
    )


def choose_format(offered: Sequence[str], preferred: str | None) -> str:
    """The format to ask an output in: `preferred` when offered, else Raw, else the first.

    Names match case-insensitively and are sent as the output spells them; with no
    formats listed, `preferred` (or Raw) is tried as is.
    """
    by_name = {name.lower(): name for name in offered}
    for wanted in (preferred, "Raw"):
        if wanted is not None and wanted.lower() in by_name:
            return by_name[wanted.lower()]
    if offered:
        return offered[0]
    return preferred or "Raw"
