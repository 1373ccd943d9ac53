"""The steps every item-naming API request goes through: throttling, then an answer
that may be spoiled on purpose.  Each provider passes its own error-body maker."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from downloader.emulator._malform import spoil
from downloader.emulator._scenario import Knobs
from downloader.emulator._state import Context

ErrorMaker = Callable[[int, str], web.Response]
"""Builds a provider's error answer from a status and a message."""


class RequestNote:
    """What a handler found out about the request it answered, for the request log."""

    def __init__(self) -> None:
        self.item: str | None = None


# The logging middleware puts a fresh note here; handlers in the same task fill it in.
CURRENT_NOTE: ContextVar[RequestNote | None] = ContextVar("emulator_request_note", default=None)


def note_item(key: str) -> None:
    """Record that the current request names item `key`."""
    note = CURRENT_NOTE.get()
    if note is not None:
        note.item = key


def admit(ctx: Context, key: str, knobs: Knobs, error: ErrorMaker) -> web.Response | None:
    """Count an API call naming `key`; a 429 answer while it is throttled, else None."""
    note_item(key)
    stats = ctx.item(key)
    stats.api_calls += 1
    if stats.api_calls <= knobs.throttle:
        stats.throttled += 1
        response = error(429, "Too many requests; slow down.")
        response.headers["Retry-After"] = knobs.retry_after
        return response
    return None


def answer(
    ctx: Context,
    key: str,
    knobs: Knobs,
    body: dict[str, Any],
    *,
    key_field: str = "status",
    status: int = 200,
) -> web.Response:
    """`body` as JSON, unless the item's `malformed` knob says to spoil it this time."""
    stats = ctx.item(key)
    mode = knobs.malformed
    if mode is not None and (
        knobs.malformed_times < 0 or stats.malformed_served < knobs.malformed_times
    ):
        stats.malformed_served += 1
        spoiled = spoil(body, mode, key_field, status)
        return web.Response(
            status=spoiled.status, body=spoiled.body, headers={"Content-Type": spoiled.content_type}
        )
    return web.json_response(body, status=status)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The (user, password) of an HTTP Basic `Authorization` header, if it is one."""
    if header is None or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None
