"""An HTTP/1.1 response head, read from bytes: the sans-IO half of the body receiver.

Bytes in, a `Head` (status, headers, how the body is framed) out; nothing here reads
a socket.  Only what a download needs is understood: a status line, header fields
(repeats kept, names case-insensitive), and a body framed by Content-Length, by
chunked transfer coding, or by the end of the connection.  A head that is too long or
unreadable raises `HeadError`, which the receiver turns into a `ProtocolViolation`.

Nothing here may import aiohttp, anyio or asyncio or do any I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
MAX_LINE = 8190  # a status or header line, as client libraries cap it


class HeadError(ValueError):
    """The bytes are no HTTP/1.x response head."""


@dataclass(frozen=True)
class Head:
    status: int
    reason: str
    version: str
    fields: tuple[tuple[str, str], ...]
    length: int | None
    """Body bytes framed by Content-Length; None for chunked or until the connection ends."""
    chunked: bool
    keep_alive: bool

    def get(self, name: str) -> str | None:
        """The first field named `name` (any case), or None."""
        wanted = name.lower()
        for key, value in self.fields:
            if key.lower() == wanted:
                return value
        return None

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)


def find_head_end(data: bytes | bytearray | memoryview) -> int | None:
    """Where the body starts (after the blank line), or None if the head is not all there.

    Raises `HeadError` once `MAX_HEAD` bytes came without a blank line.
    """
    end = bytes(data[: MAX_HEAD + 4]).find(b"\r\n\r\n")
    if end >= 0:
        return end + 4
    if len(data) >= MAX_HEAD:
        raise HeadError(f"no end of the response head in its first {MAX_HEAD} bytes")
    return None


def parse_head(raw: bytes, *, asked_head: bool = False) -> Head:
    """The response head in `raw` (up to and including its blank line)."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise HeadError(str(exc)) from None
    lines = text.split("\r\n")
    for line in lines:
        if len(line) > MAX_LINE:
            raise HeadError(f"a line of the response head longer than {MAX_LINE} bytes")
    version, status, reason = _status_line(lines[0])
    fields = tuple(_field(line) for line in lines[1:] if line)
    head = Head(status, reason, version, fields, None, False, version == "HTTP/1.1")
    connection = (head.get("Connection") or "").lower()
    keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if asked_head or status in (204, 304) or 100 <= status < 200:
        return _with(head, length=0, chunked=False, keep_alive=keep_alive)
    coding = (head.get("Transfer-Encoding") or "").lower()
    if coding:
        if coding.rsplit(",", 1)[-1].strip() != "chunked":
            return _with(head, length=None, chunked=False, keep_alive=False)
        return _with(head, length=None, chunked=True, keep_alive=keep_alive)
    lengths = {value.strip() for key, value in fields if key.lower() == "content-length"}
    if not lengths:
        return _with(head, length=None, chunked=False, keep_alive=False)
    if len(lengths) > 1 or not all(part.isdigit() for part in lengths):
        raise HeadError(f"unreadable Content-Length {sorted(lengths)!r}")
    return _with(head, length=int(lengths.pop()), chunked=False, keep_alive=keep_alive)


def _with(head: Head, *, length: int | None, chunked: bool, keep_alive: bool) -> Head:
    return Head(head.status, head.reason, head.version, head.fields, length, chunked, keep_alive)


def _status_line(line: str) -> tuple[str, int, str]:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise HeadError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return version, int(code), reason


_CONTROLS = frozenset(chr(c) for c in range(32) if c != 9) | {chr(127)}


def _field(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not name or name != name.strip() or line[0] in " \t":
        raise HeadError(f"unreadable header line {line[:80]!r}")
    if any(c in _CONTROLS for c in line):  # a NUL, a bare CR or LF, another control
        raise HeadError(f"a control character in header line {line[:80]!r}")
    return name, value.strip(" \t")
