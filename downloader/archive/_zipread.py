"""Reading ZIP members as a stream of bounded chunks, trusting no size a header states.

`zipfile` parses the central directory; the member data is read here, straight from
the file, so that the caller sees every decompressed chunk (at most `OUT_BLOCK`
bytes, however well the input compresses) together with the compressed bytes really
consumed so far.  That is what lets size and ratio caps act while streaming, and
lets a CRC failure report the actual CRC as well as the expected one.

Stored and deflated members are supported; any other method, and encryption, is an
`ArchiveError`.  Blocking code: run it in a worker thread.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Literal

from downloader.errors import ArchiveError, DamagedMember

__all__ = [
    "OUT_BLOCK",
    "MemberKind",
    "is_absolute_name",
    "iter_member",
    "member_kind",
    "member_span",
    "zip_errors",
]

OUT_BLOCK = 256 * 1024
"""Most decompressed bytes handed out at once."""
_RAW_BLOCK = 64 * 1024
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_FLAG_ENCRYPTED = 0x1
_FLAG_UTF8 = 0x800
_DOS_REPARSE_POINT = 0x400  # a Windows symlink or junction

MemberKind = Literal["file", "dir", "symlink", "special"]
"""What a member would become on disk."""


@contextmanager
def zip_errors(path: object) -> Iterator[None]:
    """Translate what `zipfile` and the OS raise about a broken archive into `ArchiveError`."""
    try:
        yield
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        NotImplementedError,
        struct.error,
        UnicodeDecodeError,
        ValueError,
        OSError,
    ) as exc:
        raise ArchiveError(f"{path}: not a readable ZIP archive: {exc}") from exc


def member_kind(info: zipfile.ZipInfo) -> MemberKind:
    """What a member would become on disk, from its name and external attributes."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK or info.external_attr & _DOS_REPARSE_POINT:
        return "symlink"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "special"
    if info.filename.endswith("/") or kind == stat.S_IFDIR:
        return "dir"
    return "file"


def _check_local_header(fh: BinaryIO, info: zipfile.ZipInfo, path: object) -> None:
    """Position `fh` at the member's data after checking its local header."""
    fh.seek(info.header_offset)
    raw = fh.read(_LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size or not raw.startswith(_LOCAL_SIGNATURE):
        raise ArchiveError(f"{path}: member {info.filename!r} has no valid local header")
    fields = _LOCAL_HEADER.unpack(raw)
    name_length, extra_length = fields[-2], fields[-1]
    name = fh.read(name_length)
    encoding = "utf-8" if info.flag_bits & _FLAG_UTF8 else "cp437"
    if name.decode(encoding, errors="replace") != info.orig_filename:
        raise ArchiveError(
            f"{path}: member {info.filename!r} is named differently in its local header"
        )
    fh.seek(extra_length, 1)


def member_span(fh: BinaryIO, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Where `info` lies in the archive, `[start, end)`: its local header to the end of
    its data (the lengths of name and extra field as the local header gives them)."""
    fh.seek(info.header_offset)
    fields = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
    name_length, extra_length = fields[-2], fields[-1]
    end = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return info.header_offset, end + info.compress_size


def _read_raw(fh: BinaryIO, want: int, info: zipfile.ZipInfo, path: object) -> bytes:
    raw = fh.read(want)
    if not raw:
        raise ArchiveError(f"{path}: member {info.filename!r} is truncated")
    return raw


def iter_member(fh: BinaryIO, info: zipfile.ZipInfo, path: object) -> Iterator[tuple[bytes, int]]:
    """Decompressed chunks of `info`, each with the compressed bytes consumed so far."""
    if info.flag_bits & _FLAG_ENCRYPTED:
        raise ArchiveError(f"{path}: member {info.filename!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(
            f"{path}: member {info.filename!r} uses compression method "
            f"{info.compress_type}, which is not supported (only stored and deflated)"
        )
    _check_local_header(fh, info, path)
    remaining = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        consumed = 0
        while remaining:
            raw = _read_raw(fh, min(_RAW_BLOCK, remaining), info, path)
            remaining -= len(raw)
            consumed += len(raw)
            yield raw, consumed
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    fed = 0
    pending = b""
    while not inflater.eof:
        if not pending and remaining:
            pending = _read_raw(fh, min(_RAW_BLOCK, remaining), info, path)
            remaining -= len(pending)
            fed += len(pending)
        try:
            out = inflater.decompress(pending, OUT_BLOCK)
        except zlib.error as exc:
            raise DamagedMember(
                f"{path}: member {info.filename!r} is corrupt: {exc}", member=info.filename
            ) from exc
        pending = inflater.unconsumed_tail
        if out:
            yield out, fed - len(pending)
        elif not pending and not remaining:
            break
    if not inflater.eof:
        raise DamagedMember(
            f"{path}: member {info.filename!r} ends before its deflate stream",
            member=info.filename,
        )


_DRIVE = re.compile(r"[A-Za-z]:")


def is_absolute_name(name: str) -> bool:
    """A member name that means a path outside the extraction folder on some system."""
    return name.startswith(("/", "\\")) or bool(_DRIVE.match(name))
