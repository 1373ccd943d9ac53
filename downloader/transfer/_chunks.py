"""The chunked transfer coding, decoded from bytes fed in pieces of any size: sans-IO.

`ChunkDecoder.feed` takes what the socket gave and returns the body's bytes in it as
views of the same memory (the framing left out), so a receiver copies each byte once,
into the ring.  Chunk extensions are ignored and trailer fields skipped.  A size line
that cannot be read, a chunk not closed by CRLF, or a line longer than `MAX_LINE`
ends the decoding with a `ChunkError` in `error` (which the receiver turns into a
`ProtocolViolation`); the good bytes before it are still returned.

Nothing here may import aiohttp, anyio or asyncio or do any I/O.
"""

from __future__ import annotations

import enum

MAX_LINE = 4096


class ChunkError(ValueError):
    """The body is not in the chunked coding it claims."""


class _State(enum.Enum):
    SIZE = enum.auto()  # reading a chunk-size line
    DATA = enum.auto()
    DATA_END = enum.auto()  # the CRLF after a chunk's data
    TRAILER = enum.auto()  # trailer lines, up to an empty one
    DONE = enum.auto()


class ChunkDecoder:
    """Feed it the coded bytes; it hands back the body's bytes and says when it ended."""

    def __init__(self) -> None:
        self._state = _State.SIZE
        self._line = bytearray()
        self._left = 0  # data bytes of the current chunk still to come
        self.extra = 0  # bytes after the last chunk's trailer (none on a sound connection)
        self.error: ChunkError | None = None

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    def feed(self, data: memoryview) -> list[memoryview]:
        """The body bytes in `data`, as views of it (up to a broken coding, if any)."""
        out: list[memoryview] = []
        if self.error is None:
            try:
                self._feed(data, out)
            except ChunkError as exc:
                self.error = exc
        return out

    def _feed(self, data: memoryview, out: list[memoryview]) -> None:
        at = 0
        while at < len(data):
            if self._state is _State.DONE:
                self.extra += len(data) - at
                break
            if self._state is _State.DATA:
                take = min(self._left, len(data) - at)
                out.append(data[at : at + take])
                at += take
                self._left -= take
                if self._left == 0:
                    self._state = _State.DATA_END
                continue
            line, at = self._read_line(data, at)
            if line is not None:
                self._on_line(line)

    def _read_line(self, data: memoryview, at: int) -> tuple[bytes | None, int]:
        """A whole line (without CRLF) once it is all there; where reading stopped."""
        end = bytes(data[at : at + MAX_LINE + 2]).find(b"\n")
        if end < 0:
            self._line += data[at:]
            if len(self._line) > MAX_LINE:
                raise ChunkError(f"a line of the chunked coding longer than {MAX_LINE} bytes")
            return None, len(data)
        self._line += data[at : at + end + 1]
        line, self._line = bytes(self._line), bytearray()
        if not line.endswith(b"\r\n") or len(line) > MAX_LINE + 2:
            raise ChunkError(f"a line of the chunked coding is not ended by CRLF: {line[:40]!r}")
        return line[:-2], at + end + 1

    def _on_line(self, line: bytes) -> None:
        if self._state is _State.DATA_END:
            if line:
                raise ChunkError(f"a chunk is followed by {line[:40]!r}, not CRLF")
            self._state = _State.SIZE
        elif self._state is _State.SIZE:
            text = line.split(b";", 1)[0].strip()
            if not text or len(text) > 16 or text.strip(b"0123456789abcdefABCDEF"):
                raise ChunkError(f"unreadable chunk-size line {line[:40]!r}")
            self._left = int(text, 16)
            self._state = _State.DATA if self._left else _State.TRAILER
        elif not line:  # TRAILER: the empty line ends the message
            self._state = _State.DONE
