"""ZIP archives laid out on the fly from `Content` members, never materialised.

A `ZipContent` is itself a `Content`: the file host serves any byte range of it.
Every member is STORED (no compression), with its CRC-32 in the local header, so
the archive's layout (every offset, the total size) is known from the member sizes
alone; the CRC-32s are computed the first time a header needs them and then kept.
ZIP64 records are written when a size or offset does not fit in 32 bits or there
are 65535 entries or more (or always, with `force_zip64`, which lets tests check
the ZIP64 layout on small archives).

Layout::

    [local header 1][data 1] ... [local header n][data n]
    [central directory] [zip64 end record + locator]? [end of central directory]
"""

from __future__ import annotations

import bisect
import hashlib
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from downloader.emulator._content import Content

_U32_MAX = 0xFFFFFFFF
_U16_MAX = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
# 2026-01-01 00:00:00 in MS-DOS form: a fixed stamp keeps archives reproducible.
_DOS_DATE = ((2026 - 1980) << 9) | (1 << 5) | 1
_DOS_TIME = 0
_UNIX_FILE_MODE = 0o100644 << 16
_CRC_CHUNK = 1 << 20


@dataclass(frozen=True)
class ZipMember:
    """One archive member: its name inside the ZIP and its bytes.

    `crc32` may be given when it is already known (then the member's bytes are
    never read to lay out headers).
    """

    name: str
    content: Content
    crc32: int | None = None


@dataclass(frozen=True)
class _Entry:
    name: bytes
    flags: int
    size: int
    header_offset: int
    header_length: int
    zip64: bool

    @property
    def data_offset(self) -> int:
        return self.header_offset + self.header_length


@dataclass(frozen=True)
class _Layout:
    """Where everything of a STORED ZIP lies, known from member names and sizes alone."""

    entries: list[_Entry]
    cd_offset: int
    cd_size: int
    zip64_end: bool
    size: int


def _lay_out(members: Sequence[tuple[str, int]], force_zip64: bool) -> _Layout:
    entries: list[_Entry] = []
    offset = 0
    for text, size in members:
        name = text.encode()
        zip64 = force_zip64 or size >= _U32_MAX or offset >= _U32_MAX
        length = _LOCAL.size + len(name) + (20 if zip64 else 0)
        flags = 0 if text.isascii() else 0x0800
        entries.append(_Entry(name, flags, size, offset, length, zip64))
        offset += length + size
    cd_size = sum(_CENTRAL.size + len(e.name) + _cd_extra_length(e) for e in entries)
    zip64_end = (
        force_zip64
        or any(e.zip64 for e in entries)
        or len(entries) >= _U16_MAX
        or offset + cd_size >= _U32_MAX
    )
    tail_length = cd_size + _END.size
    if zip64_end:
        tail_length += _ZIP64_END.size + _ZIP64_LOCATOR.size
    return _Layout(entries, offset, cd_size, zip64_end, offset + tail_length)


def stored_zip_size(members: Sequence[tuple[str, int]]) -> int:
    """The size of the STORED ZIP of members `(name, size)`, without reading a byte."""
    return _lay_out(members, force_zip64=False).size


class ZipContent:
    """A STORED ZIP archive of `members`, implementing the `Content` protocol."""

    def __init__(self, members: Sequence[ZipMember], *, force_zip64: bool = False) -> None:
        self.members = list(members)
        self._crcs: list[int | None] = [m.crc32 for m in self.members]
        self._lock = threading.Lock()
        self._tail: bytes | None = None
        self._digests: dict[str, bytes] = {}
        layout = _lay_out([(m.name, m.content.size) for m in self.members], force_zip64)
        self._entries = layout.entries
        self._cd_offset = layout.cd_offset
        self._cd_size = layout.cd_size
        self._zip64_end = layout.zip64_end
        self._size = layout.size
        self._starts = [0]
        for entry in self._entries:
            self._starts += [entry.data_offset, entry.data_offset + entry.size]
        # Pieces alternate header, data, header, data, ..., then the tail.

    @property
    def size(self) -> int:
        return self._size

    def crc32(self, index: int) -> int:
        """The CRC-32 of member `index`, computed on first use."""
        known = self._crcs[index]
        if known is not None:
            return known
        content = self.members[index].content
        value = 0
        for piece in content.iter_range(0, content.size, _CRC_CHUNK):
            value = zlib.crc32(piece, value)
        self._crcs[index] = value
        return value

    def member_data(self, name: str) -> tuple[int, int] | None:
        """Where the data of member `name` lies, `[start, end)`; None when there is none.

        A name also matches a member it ends (after a "/"): a catalog download puts each
        item's files under a folder of the item's id.
        """
        for member, entry in zip(self.members, self._entries, strict=True):
            if member.name == name or member.name.endswith("/" + name):
                return entry.data_offset, entry.data_offset + entry.size
        return None

    def prepare(self) -> None:
        """Compute every CRC-32 and the central directory now (e.g. in a worker thread)."""
        self._tail_bytes()

    def iter_range(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        """Yield the archive's bytes `[start, end)` in pieces of at most `chunk` bytes."""
        if not 0 <= start <= end <= self._size:
            raise ValueError(f"range [{start}, {end}) outside 0..{self._size}")
        piece = bisect.bisect_right(self._starts, start) - 1
        pos = start
        while pos < end:
            piece_start = self._starts[piece]
            piece_end = self._starts[piece + 1] if piece + 1 < len(self._starts) else self._size
            low, high = pos - piece_start, min(end, piece_end) - piece_start
            if piece == len(self._starts) - 1:
                yield from _slices(self._tail_bytes(), low, high, chunk)
            elif piece % 2 == 0:
                yield from _slices(self._local_header(piece // 2), low, high, chunk)
            else:
                yield from self.members[piece // 2].content.iter_range(low, high, chunk)
            pos = piece_start + high
            piece += 1

    def digest(self, algorithm: str = "sha256") -> bytes:
        """The whole archive's digest under a `hashlib` algorithm name (cached)."""
        known = self._digests.get(algorithm)
        if known is None:
            h = hashlib.new(algorithm)
            for piece in self.iter_range(0, self._size, _CRC_CHUNK):
                h.update(piece)
            known = self._digests[algorithm] = h.digest()
        return known

    def _local_header(self, index: int) -> bytes:
        entry = self._entries[index]
        small = _U32_MAX if entry.zip64 else entry.size
        extra = struct.pack("<HHQQ", 1, 16, entry.size, entry.size) if entry.zip64 else b""
        header = _LOCAL.pack(
            0x04034B50,
            45 if entry.zip64 else 20,
            entry.flags,
            0,
            _DOS_TIME,
            _DOS_DATE,
            self.crc32(index),
            small,
            small,
            len(entry.name),
            len(extra),
        )
        return header + entry.name + extra

    def _tail_bytes(self) -> bytes:
        with self._lock:
            if self._tail is None:
                self._tail = self._build_tail()
            return self._tail

    def _build_tail(self) -> bytes:
        parts: list[bytes] = []
        for index, entry in enumerate(self._entries):
            big_size = entry.size >= _U32_MAX or entry.zip64
            big_offset = entry.header_offset >= _U32_MAX or entry.zip64
            fields = [entry.size, entry.size] if big_size else []
            if big_offset:
                fields.append(entry.header_offset)
            extra = (
                struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
            )
            parts.append(
                _CENTRAL.pack(
                    0x02014B50,
                    (3 << 8) | 45,
                    45 if entry.zip64 else 20,
                    entry.flags,
                    0,
                    _DOS_TIME,
                    _DOS_DATE,
                    self.crc32(index),
                    _U32_MAX if big_size else entry.size,
                    _U32_MAX if big_size else entry.size,
                    len(entry.name),
                    len(extra),
                    0,
                    0,
                    0,
                    _UNIX_FILE_MODE,
                    _U32_MAX if big_offset else entry.header_offset,
                )
                + entry.name
                + extra
            )
        count = len(self._entries)
        if self._zip64_end:
            end64_offset = self._cd_offset + self._cd_size
            parts.append(
                _ZIP64_END.pack(
                    0x06064B50,
                    _ZIP64_END.size - 12,
                    (3 << 8) | 45,
                    45,
                    0,
                    0,
                    count,
                    count,
                    self._cd_size,
                    self._cd_offset,
                )
            )
            parts.append(_ZIP64_LOCATOR.pack(0x07064B50, 0, end64_offset, 1))
        parts.append(
            _END.pack(
                0x06054B50,
                0,
                0,
                min(count, _U16_MAX),
                min(count, _U16_MAX),
                min(self._cd_size, _U32_MAX),
                min(self._cd_offset, _U32_MAX),
                0,
            )
        )
        return b"".join(parts)


def _cd_extra_length(entry: _Entry) -> int:
    fields = 2 if entry.size >= _U32_MAX or entry.zip64 else 0
    if entry.header_offset >= _U32_MAX or entry.zip64:
        fields += 1
    return 4 + 8 * fields if fields else 0


def _slices(data: bytes, low: int, high: int, chunk: int) -> Iterator[bytes]:
    view = memoryview(data)
    for at in range(low, high, chunk):
        yield bytes(view[at : min(high, at + chunk)])
