"""What a file host's answer says beyond its status: a pure core, no I/O.

Storage hosts refuse in bodies as much as in statuses: S3 says `Request has expired`
in an XML error, Google Cloud Storage `ExpiredToken`, Azure `AuthenticationFailed`;
a gateway or a login wall serves an HTML page with 200.  These functions turn such
bodies into short texts fit for an error message, and decide whether a 2xx answer
is the file it promised to be or an error page standing in for it.
"""

from __future__ import annotations

import html
import json
import mimetypes
import re
from dataclasses import dataclass
from http import HTTPStatus

__all__ = [
    "EXCERPT_BYTES",
    "MAX_PLAUSIBLE_SIZE",
    "BodyVerdict",
    "beyond_status",
    "error_excerpt",
    "implausible_size",
    "judge_body",
    "promised_type",
    "promises_start",
    "unasked_encoding",
]

EXCERPT_BYTES = 2048
"""Bytes of an unusable body read for its message; the rest is never read."""
EXCERPT_CHARS = 200
"""Longest excerpt put into an error message."""
MAX_PLAUSIBLE_SIZE = 1 << 50
"""A size beyond any file a platform serves (1 PiB): a header claiming more is broken,
and planning, or waiting for disk space, for it would park the transfer for ever."""

_ZIP = "application/zip"
# a local file header, an empty archive's end record, and the markers a split
# archive's only segment may begin with (APPNOTE 8.5.3, 8.5.4)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"PK00")
_XML_CODE = re.compile(r"<Code>\s*([^<]{1,100}?)\s*</Code>", re.IGNORECASE)
_XML_MESSAGE = re.compile(r"<Message>\s*([^<]{1,400}?)\s*</Message>", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>\s*([^<]{1,200}?)\s*</title>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
# the query of a URL a host quotes back: it may hold the very signature being refused
_URL_QUERY = re.compile(r"(\w+://[^\s?#\"'<>]*)\?[^\s\"'<>]*")


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_html(media: str) -> bool:
    return media in ("text/html", "application/xhtml+xml")


def _is_xml(media: str) -> bool:
    return media in ("application/xml", "text/xml") or media.endswith("+xml")


def _is_json(media: str) -> bool:
    return media in ("application/json", "text/json") or media.endswith("+json")


def _is_page(media: str) -> bool:
    """HTML, XML or JSON: what error pages are written in."""
    return _is_html(media) or _is_xml(media) or _is_json(media)


def _clip(text: str) -> str:
    text = _SPACE.sub(" ", "".join(c if c.isprintable() else " " for c in text)).strip()
    text = _URL_QUERY.sub(r"\1?…", text)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _binary(text: str) -> bool:
    """Whether decoded bytes are no text at all: a file's bytes, not a message."""
    odd = sum(1 for c in text if c == "\ufffd" or (not c.isprintable() and c not in "\r\n\t"))
    return odd > len(text) // 10


def _json_excerpt(text: str) -> str | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    # GCS's JSON API: {"error": {"code": 401, "message": ...}}; others put both at the top
    error = data.get("error") if isinstance(data, dict) else None
    holder = error if isinstance(error, dict) else data
    if not isinstance(holder, dict):
        return None
    parts = [
        str(holder[k]) for k in ("code", "status", "message", "detail") if holder.get(k) is not None
    ]
    if not parts and isinstance(error, str):
        parts = [error]
    return ": ".join(dict.fromkeys(parts)) or None


def error_excerpt(content_type: str | None, body: bytes) -> str:
    """A short, printable text of what an error body says ("" for an empty one).

    The code and message of an XML or JSON error, the title of an HTML page, else the
    first printable characters; a URL quoted in it loses its query.  Never raises,
    whatever the bytes.
    """
    text = body[:EXCERPT_BYTES].decode("utf-8", "replace")
    if _binary(text):
        return ""
    media = _media(content_type)
    code, message = _XML_CODE.search(text), _XML_MESSAGE.search(text)
    if code or message:
        found = [m[1] for m in (code, message) if m is not None]
        return _clip(html.unescape(": ".join(found)))
    if _is_json(media) or text.lstrip().startswith("{"):
        said = _json_excerpt(text)
        if said:
            return _clip(said)
    title = _HTML_TITLE.search(text)
    if title:
        return _clip(html.unescape(title[1]))
    return _clip(html.unescape(_TAGS.sub(" ", text)))


def beyond_status(excerpt: str, status: int) -> str:
    """`excerpt`, or "" when it only repeats the status (`404: Not Found`, a page titled
    `404 Not Found`): an error names its status already."""
    try:
        phrase = HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = ""
    words = _SPACE.sub(" ", re.sub(r"[^a-z ]", " ", excerpt.lower())).strip()
    return "" if words in ("", phrase) else excerpt


def promised_type(declared: str | None, name: str | None) -> str | None:
    """The media type an asset was promised as: what the platform said, else what its
    name's extension says; None when neither says anything."""
    media = _media(declared)
    if media and media != "application/octet-stream":
        return media
    if name:
        guessed, _ = mimetypes.guess_type(name, strict=False)
        if guessed:
            return guessed.lower()
    return None


@dataclass(frozen=True)
class BodyVerdict:
    """Whether a 2xx body may be kept as the file; `reason` says why not."""

    ok: bool
    reason: str = ""


_OK = BodyVerdict(True)


def judge_body(declared: str | None, promised: str | None, head: bytes | None) -> BodyVerdict:
    """Whether a 2xx answer declared as `declared`, whose first bytes are `head` (None:
    not seen yet), is the file promised as `promised`.

    An HTML, XML or JSON answer standing in for a file promised as something else is an
    error page; a file promised as a ZIP must start like one.  Nothing is sniffed of an
    asset promised as nothing, or as a page itself (a KML is XML).
    """
    if promised is None or _is_page(promised):
        return _OK
    media = _media(declared)
    if _is_page(media):
        return BodyVerdict(False, f"{media} answer instead of the {promised} promised")
    if promised == _ZIP and head is not None and head[:4] not in _ZIP_MAGIC:
        return BodyVerdict(False, f"answer is not a ZIP, as promised (it starts {head[:8]!r})")
    return _OK


def promises_start(promised: str | None) -> bool:
    """Whether an asset promised as `promised` must start with bytes of its own (a ZIP's
    signature), to be looked at once it is fetched."""
    return promised == _ZIP


def implausible_size(size: int | None) -> bool:
    """Whether a size told by a header is beyond any real file."""
    return size is not None and size > MAX_PLAUSIBLE_SIZE


def unasked_encoding(content_encoding: str | None) -> str | None:
    """The content coding of a body sent although only `identity` was asked for, if any."""
    if content_encoding is None:
        return None
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    applied = [c for c in codings if c and c != "identity"]
    return ", ".join(applied) or None
