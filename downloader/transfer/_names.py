"""File names offered by servers, made safe to put on a disk.

A pure core: it reads header values and URLs and returns strings or pure paths.
Nothing here may import aiohttp, anyio or asyncio, or touch the filesystem; the
name a server suggests is hostile input until `sanitize_filename` has seen it.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import unquote, unquote_to_bytes, urlsplit

__all__ = [
    "choose_filename",
    "name_from_url",
    "parse_content_disposition",
    "safe_join",
    "sanitize_filename",
]

# RFC 9110 token characters.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 8187 ext-value: charset ' [language] ' value-chars
_EXT_VALUE = re.compile(r"(?P<charset>[^']*)'(?P<language>[^']*)'(?P<chars>.*)", re.DOTALL)
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CHARSETS = {"utf-8": "utf-8", "iso-8859-1": "iso-8859-1"}


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _read_quoted(text: str, pos: int) -> tuple[str, int] | None:
    """Read a quoted-string starting at the opening quote; None if it never closes."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    return None


def _parse_params(text: str, pos: int) -> dict[str, str] | None:
    """Parameters after the disposition type, first occurrence of each name wins."""
    params: dict[str, str] = {}
    while pos < len(text):
        pos = _skip_spaces(text, pos)
        if pos < len(text) and text[pos] == ";":
            pos += 1
            continue
        name_match = _TOKEN.match(text, pos)
        if name_match is None:
            return None
        name = name_match.group().lower()
        pos = _skip_spaces(text, name_match.end())
        if pos >= len(text) or text[pos] != "=":
            # A bare word where a parameter belongs: skip it rather than give up on the rest.
            end = text.find(";", pos)
            pos = len(text) if end < 0 else end
            continue
        pos = _skip_spaces(text, pos + 1)
        if pos < len(text) and text[pos] == '"':
            quoted = _read_quoted(text, pos)
            if quoted is None:
                return None
            value, pos = quoted
            pos = _skip_spaces(text, pos)
            if pos < len(text) and text[pos] != ";":
                return None
        else:
            # Lenient on purpose: servers send unquoted names with spaces in them.
            end = text.find(";", pos)
            end = len(text) if end < 0 else end
            value, pos = text[pos:end].strip(" \t"), end
        params.setdefault(name, value)
    return params


def _decode_ext_value(value: str) -> str | None:
    """RFC 8187 `charset'lang'pct-encoded`; None when anything is off."""
    match = _EXT_VALUE.fullmatch(value.strip())
    if match is None:
        return None
    charset = _CHARSETS.get(match["charset"].lower())
    chars = match["chars"]
    if charset is None or _BAD_PERCENT.search(chars):
        return None
    try:
        return unquote_to_bytes(chars).decode(charset)
    except UnicodeDecodeError:
        return None


def parse_content_disposition(value: str | None) -> str | None:
    """The file name a Content-Disposition header suggests (RFC 6266), not yet sanitised.

    `filename*` (RFC 8187, UTF-8 or ISO-8859-1) is preferred over `filename` wherever it
    stands; an undecodable `filename*` falls back to `filename`.  Returns None for a
    missing, empty or unreadable header and never raises.
    """
    if not value:
        return None
    text = value.strip()
    kind = _TOKEN.match(text)
    if kind is None:
        return None
    pos = _skip_spaces(text, kind.end())
    if pos < len(text) and text[pos] != ";":
        return None
    params = _parse_params(text, pos)
    if params is None:
        return None
    if "filename*" in params:
        decoded = _decode_ext_value(params["filename*"])
        if decoded:
            return decoded
    name = params.get("filename")
    return name or None


def name_from_url(url: str) -> str | None:
    """The last non-empty path segment of `url`, percent-decoded; None if it has none."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return None
    return unquote(segments[-1]) or None


_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"{stem}{digit}" for stem in ("com", "lpt") for digit in "123456789¹²³"]
)
_FORBIDDEN = str.maketrans({char: "_" for char in '/\\<>:"|?*'})
# Kept although they are format characters: they shape scripts and emoji sequences.
_JOINERS = frozenset("\u200c\u200d")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_EXTENSION_BYTES = 16


def _is_dropped(char: str) -> bool:
    return char not in _JOINERS and unicodedata.category(char) in _DROPPED_CATEGORIES


def _trim(name: str) -> str:
    """No leading dots or whitespace; no trailing dots or whitespace (Windows drops them)."""
    start, end = 0, len(name)
    while start < end and (name[start] == "." or name[start].isspace()):
        start += 1
    while end > start and (name[end - 1] == "." or name[end - 1].isspace()):
        end -= 1
    return name[start:end]


def _cut(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` within `max_bytes` UTF-8 bytes, whole characters only."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def _fit(name: str, max_bytes: int) -> str:
    if len(name.encode()) <= max_bytes:
        return name
    dot = name.rfind(".")
    extension = name[dot:] if dot > 0 else ""
    ext_bytes = len(extension.encode())
    if extension and ext_bytes <= _EXTENSION_BYTES and ext_bytes < max_bytes:
        stem = _trim(_cut(name[:dot], max_bytes - ext_bytes))
        if stem:
            return stem + extension
    return _trim(_cut(name, max_bytes))


def _is_reserved(name: str) -> bool:
    return name.split(".", 1)[0].rstrip(" ").lower() in _WINDOWS_RESERVED


def _clean(name: str, max_bytes: int) -> str:
    """`name` made safe, or "" when nothing usable is left."""
    kept = "".join(char for char in name if not _is_dropped(char))
    text = _trim(unicodedata.normalize("NFC", kept).translate(_FORBIDDEN))
    text = _fit(text, max_bytes)
    if text and _is_reserved(text):
        text = _fit("_" + text, max_bytes)
    return text


def sanitize_filename(name: str, *, max_bytes: int = 200, fallback: str = "download") -> str:
    """`name` as a safe single path component of at most `max_bytes` UTF-8 bytes.

    NFC-normalised; separators and `<>:"|?*` become `_`; control, bidi and other
    invisible format characters are dropped; no leading dots or whitespace, no trailing
    dots or whitespace; Windows device names (CON, COM1, ...) get a leading `_`; a long
    name is cut at a character boundary and keeps its extension (up to 16 bytes).
    The result is never empty, ".", "..", never starts with "." and never contains "/",
    "\\" or NUL.  When nothing is left, the sanitised `fallback` is returned (and
    "download" if even that is empty).
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be at least 1")
    return _clean(name, max_bytes) or _clean(fallback, max_bytes) or _clean("download", max_bytes)


def choose_filename(content_disposition: str | None, url: str | None, fallback: str) -> str:
    """The server's Content-Disposition name, else the URL's last segment, else `fallback`.

    A candidate that sanitises to nothing (say ".." from a URL) gives way to the next.
    """
    for candidate in (
        parse_content_disposition(content_disposition),
        name_from_url(url) if url else None,
    ):
        if candidate:
            cleaned = _clean(candidate, 200)
            if cleaned:
                return cleaned
    return sanitize_filename(fallback)


def safe_join(root: PurePosixPath | str, *parts: str) -> PurePosixPath:
    """`root` joined with `parts`, each segment sanitised; never a path outside `root`.

    Parts may hold `/` or `\\` separated segments (as archive member names do); empty
    and "." segments are ignored and leading separators do not make a part absolute.
    Raises ValueError for a ".." segment, whose meaning is an escape, and when nothing
    is left to join (the result would be `root` itself).
    """
    base = PurePosixPath(root)
    segments: list[str] = []
    for part in parts:
        for segment in re.split(r"[/\\]", part):
            if segment in ("", "."):
                continue
            if segment == "..":
                raise ValueError(f"path part {part!r} climbs out of its directory")
            segments.append(sanitize_filename(segment, fallback="_"))
    if not segments:
        raise ValueError("nothing to join: the path would be the root itself")
    joined = base.joinpath(*segments)
    if base not in joined.parents:
        raise ValueError(f"{joined} is not inside {base}")
    return joined
