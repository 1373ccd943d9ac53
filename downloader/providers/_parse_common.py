"""What every platform's answers have in common: status words, fields, error bodies. Pure.

JSON in, our values out.  Nothing here may import aiohttp, anyio or asyncio, log,
or do any I/O; the adapters call these functions with bytes and decoded JSON and
act on what they return.  Platforms document few of their status words, so words
are compared case-insensitively and an unknown word is reported as such (the
adapter logs it and keeps polling) rather than raised.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from downloader import redact
from downloader.errors import MalformedResponse

__all__ = [
    "MESSAGE_LIMIT",
    "RemoteState",
    "Status",
    "Vocabulary",
    "describe_error_body",
    "field_bool",
    "field_int",
    "field_list",
    "field_object",
    "field_status",
    "field_str",
    "http_url",
    "load_json",
    "object_of",
    "scrub",
    "shorten",
]

MESSAGE_LIMIT = 300
"""Characters of platform text an item's error message may carry."""
_MAX_DIGITS = 30


class RemoteState(StrEnum):
    """Where a remote job or package stands, whatever the platform calls it."""

    RUNNING = "running"
    """Not finished (or a word we do not know): ask again later."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Status:
    """A platform's status word and what it means to us."""

    word: str
    state: RemoteState
    known: bool = True


@dataclass(frozen=True)
class Vocabulary:
    """The status words of one endpoint, lower-cased; anything else is unknown."""

    succeeded: frozenset[str]
    failed: frozenset[str]
    running: frozenset[str]

    @classmethod
    def of(cls, *, succeeded: str, failed: str, running: str) -> Vocabulary:
        """Build from space-separated word lists."""
        return cls(
            frozenset(succeeded.lower().split()),
            frozenset(failed.lower().split()),
            frozenset(running.lower().split()),
        )

    def classify(self, word: str) -> Status:
        """The meaning of `word`; unknown words count as running, marked `known=False`."""
        folded = word.strip().lower()
        if folded in self.succeeded:
            return Status(word, RemoteState.SUCCEEDED)
        if folded in self.failed:
            return Status(word, RemoteState.FAILED)
        return Status(word, RemoteState.RUNNING, known=folded in self.running)


# ---- decoding and fields --------------------------------------------------------------------


def load_json(raw: bytes, what: str) -> Any:
    """`raw` decoded as JSON; MalformedResponse naming `what` when it is not JSON."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise MalformedResponse(f"{what}: the answer is not UTF-8 text") from None
    except RecursionError:  # json recurses per level: a hostile answer nests thousands deep
        raise MalformedResponse(f"{what}: the answer is nested too deeply") from None
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(raw.rstrip()) or exc.msg.startswith("Unterminated string")
        where = "truncated" if cut else f"at byte {exc.pos}"
        raise MalformedResponse(f"{what}: the answer is not valid JSON ({where})") from None
    except ValueError as exc:  # e.g. an integer of more digits than int() may convert
        reason = shorten(str(exc), 80)
        raise MalformedResponse(f"{what}: the answer cannot be read ({reason})") from None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def object_of(data: Any, what: str) -> Mapping[str, Any]:
    """`data` when it is a JSON object; MalformedResponse otherwise."""
    if not isinstance(data, Mapping):
        raise MalformedResponse(f"{what}: expected a JSON object, got {_type_name(data)}")
    return data


def _field(obj: Mapping[str, Any], key: str, what: str, required: bool) -> Any:
    if key not in obj or obj[key] is None:
        if required:
            raise MalformedResponse(f"{what}: the answer has no {key!r}")
        return None
    return obj[key]


def field_str(obj: Mapping[str, Any], key: str, what: str, *, required: bool = True) -> str | None:
    """A string field; numbers are accepted and written as text (ids often are)."""
    value = _field(obj, key, what, required)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise MalformedResponse(f"{what}: {key!r} is {_type_name(value)}, expected a string")


def field_status(obj: Mapping[str, Any], key: str, what: str) -> str:
    """A status word: a required, genuine string (a number there means a broken answer)."""
    value = _field(obj, key, what, True)
    if not isinstance(value, str):
        raise MalformedResponse(f"{what}: {key!r} is {_type_name(value)}, expected a string")
    return value


def field_int(obj: Mapping[str, Any], key: str, what: str, *, required: bool = True) -> int | None:
    """A non-negative integer field; integral floats and digit strings are accepted."""
    value = _field(obj, key, what, required)
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # more digits than int() converts is no size or count anyone means
        number = int(value.strip()) if len(value.strip()) <= _MAX_DIGITS else None
    if number is None or number < 0:
        raise MalformedResponse(f"{what}: {key!r} is not a non-negative integer")
    return number


def http_url(value: str, what: str, key: str) -> str:
    """`value` (stripped) when it is an absolute http(s) URL that can be parsed, with a
    host and a valid port; MalformedResponse otherwise, naming `key`."""
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise MalformedResponse(f"{what}: {key!r} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise MalformedResponse(f"{what}: {key!r} is not an http(s) URL")
    return url


def field_bool(obj: Mapping[str, Any], key: str, what: str, *, default: bool = False) -> bool:
    value = _field(obj, key, what, False)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MalformedResponse(f"{what}: {key!r} is {_type_name(value)}, expected true or false")
    return value


def field_list(obj: Mapping[str, Any], key: str, what: str, *, required: bool = True) -> list[Any]:
    """A list field; a missing optional list is empty."""
    value = _field(obj, key, what, required)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResponse(f"{what}: {key!r} is {_type_name(value)}, expected a list")
    return value


def field_object(
    obj: Mapping[str, Any], key: str, what: str, *, required: bool = True
) -> Mapping[str, Any] | None:
    value = _field(obj, key, what, required)
    if value is None:
        return None
    return object_of(value, f"{what}: {key!r}")


# ---- error bodies ---------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis marks a cut)."""
    flat = _SPACE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    return flat[: max(0, limit - 1)].rstrip() + "…"


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _describe_json(data: Any) -> str | None:
    if not isinstance(data, Mapping):
        return _compact(data) if data not in (None, "", [], {}) else None
    error = data.get("error")
    if isinstance(error, Mapping):  # Pixxel: {"error": {"code", "message", "details"}}
        parts = [str(error[k]) for k in ("code", "message") if error.get(k) not in (None, "")]
        text = ": ".join(parts)
        details = error.get("details")
        if details not in (None, "", [], {}):
            text = f"{text} ({_compact(details)})" if text else _compact(details)
        return text or None
    if isinstance(error, str):  # OAuth2: {"error", "error_description"}
        description = data.get("error_description")
        return f"{error}: {description}" if isinstance(description, str) else error
    for key in ("detail", "message", "Message"):  # DRF; ASP.NET (Alteryx)
        if data.get(key) not in (None, ""):
            return _compact(data[key])
    return _compact(data) if data else None


def _describe_html(text: str) -> str:
    body = _INVISIBLE.sub(" ", text)
    title = _TITLE.search(text)
    plain = html.unescape(_TAG.sub(" ", body))
    if title is not None:
        heading = html.unescape(_TAG.sub(" ", title.group(1))).strip()
        plain = f"{heading}: {plain}" if heading and heading not in plain else plain
    return plain


def describe_error_body(body: bytes, content_type: str | None) -> str:
    """A short, single-line account of an error answer ("" when it says nothing).

    Knows Pixxel's `{"error": {...}}`, OAuth2's `{"error", "error_description"}`,
    DRF's `{"detail": ...}` and ASP.NET's `{"message": ...}`; HTML pages lose their
    tags, plain text its line breaks.  Never longer than `MESSAGE_LIMIT`.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    kind = (content_type or "").lower()
    if "json" in kind or text[:1] in "{[":
        try:
            described = _describe_json(json.loads(text))
        except (ValueError, RecursionError):  # not JSON after all, too long a number, too deep
            described = text
        return shorten(described or "")
    if "html" in kind or text[:1] == "<":
        return shorten(_describe_html(text))
    return shorten(text)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every URL's query (its signature) and every secret value removed."""
    return redact.scrub(text, secrets)
