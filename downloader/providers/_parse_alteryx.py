"""Alteryx Server's answers as our values: access tokens, jobs, outputs. Pure.

`status` and `disposition` are plain strings in Alteryx's swagger; the job list's
enum gives `Created`, `Queued`, `Running`, `Completed`, `Cancelled`.  `Completed`
only says the job ran: whether it went well is in `disposition` (`Success`, and
`Warning` for a job that ran with warnings; which ones are good enough is the
config's `accept_dispositions`).  The messages say why, severity 3 being an error
(the engine's message types: 1 info, 2 warning, 3 error); `GET .../messages` is
declared to answer one object but may answer a list, so both are read.  No I/O,
no aiohttp/anyio/asyncio.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
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
    "WARNING_SEVERITY",
    "AlteryxJob",
    "Message",
    "Output",
    "Token",
    "choose_format",
    "error_texts",
    "parse_job",
    "parse_messages",
    "parse_token",
    "render_messages",
]

JOB_WORDS = Vocabulary.of(
    succeeded="completed",
    failed="cancelled canceled error failed",
    running="created queued running paused",
)
ERROR_SEVERITY = 3
WARNING_SEVERITY = 2
DEFAULT_TOKEN_LIFETIME = 3600.0
"""Seconds a token is taken to live when the answer has no `expires_in`."""


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
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw) if len(raw.strip()) <= 12 else None
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

    def failure(
        self, accept: Collection[str] = ("Success", "Warning"), errors: Sequence[str] = ()
    ) -> str | None:
        """Why a finished job counts as failed, or None when it went well (or still runs).

        A Completed job went well when its disposition is one of `accept` (any case);
        one that gives none (a reduced answer) when it has no error message.  `errors`
        (texts of error messages asked for apart) say why not.
        """
        state = self.status.state
        if state is RemoteState.RUNNING:
            return None
        texts = "; ".join(dict.fromkeys([*self.errors, *errors]))
        reason = f": {texts}" if texts else ""
        if state is RemoteState.FAILED:
            return f"Alteryx job {self.id} {self.status.word.lower()}{reason}"
        if self.disposition is None:
            return f"Alteryx job {self.id} completed with errors{reason}" if texts else None
        if self.disposition.strip().lower() in {word.strip().lower() for word in accept}:
            return None
        return f"Alteryx job {self.id} completed with disposition {self.disposition}{reason}"


def _output(data: Any, what: str) -> Output:
    obj = object_of(data, f"{what}: an output")
    output_id = field_str(obj, "id", f"{what}: an output") or ""
    where = f"{what}: output {output_id}"
    formats = tuple(f for f in field_list(obj, "availableFormats", where, required=False) if f)
    if not all(isinstance(f, str) for f in formats):
        raise MalformedResponse(f"{where}: 'availableFormats' holds something other than names")
    return Output(output_id, field_str(obj, "fileName", where, required=False) or "", formats)


@dataclass(frozen=True)
class Message:
    """One of a job's messages: its severity (None when not a number), text and tool."""

    severity: int | None
    text: str
    tool_id: int | None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_messages(data: Any) -> tuple[Message, ...]:
    """A `GET /v3/jobs/{id}/messages` answer (a list, or the one object the swagger
    declares), or a job's `messages`; entries that are no objects are left out."""
    entries = [data] if isinstance(data, Mapping) else data if isinstance(data, list) else None
    if entries is None:
        raise MalformedResponse("Alteryx job messages: expected a list or an object")
    found = []
    for entry in entries:
        if isinstance(entry, Mapping):
            text = entry.get("text")
            found.append(
                Message(
                    _number(entry.get("status")),
                    text.strip() if isinstance(text, str) else "",
                    _number(entry.get("toolId")),
                )
            )
    return tuple(found)


def error_texts(messages: Sequence[Message]) -> tuple[str, ...]:
    """Texts of the error messages, each once."""
    found = [m.text for m in messages if m.severity == ERROR_SEVERITY and m.text]
    return tuple(dict.fromkeys(found))


def render_messages(messages: Sequence[Message]) -> bytes:
    """The messages as the bag keeps them: a JSON list in Alteryx's own field names."""
    rows = [{"status": m.severity, "text": m.text, "toolId": m.tool_id} for m in messages]
    return (json.dumps(rows, indent=1, ensure_ascii=False) + "\n").encode()


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
        errors=error_texts(parse_messages(messages) if isinstance(messages, list) else ()),
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
