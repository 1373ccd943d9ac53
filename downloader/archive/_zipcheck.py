"""Checking ZIP packages (every member's CRC-32) and unpacking them safely.

`check_zip` streams every member through CRC-32 in constant memory.  `extract_zip`
does the same while writing, and computes each file's SHA-256 on the way, so the
bag's manifest needs no second read.  Before a byte is written every member name is
vetted (no absolute paths, no "..", each segment sanitised, no two members on one
path) and links and device files are refused; during the write the caps on total
size and per-member compression ratio count the bytes really produced, not what the
headers claim.  Any violation raises `ArchiveError` and removes what was extracted.

Blocking code: call it from a worker thread (`anyio.to_thread.run_sync`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple

from downloader.archive._zipread import (
    MemberKind,
    is_absolute_name,
    iter_member,
    member_kind,
    member_span,
    zip_errors,
)
from downloader.errors import ArchiveError, CorruptMember, DamagedMember
from downloader.transfer._names import safe_join

__all__ = [
    "RATIO_GRACE",
    "ExtractedFile",
    "ZipMember",
    "ZipReport",
    "check_zip",
    "extract_zip",
    "plan_extraction",
]

RATIO_GRACE = 1024 * 1024
"""A member is never refused for its ratio before it has produced this many bytes:
small files compress absurdly well (a page of blanks) and cannot bomb anything."""

_HERE = PurePosixPath(".")


@dataclass(frozen=True)
class ZipMember:
    """One member as checked: its name, kind, actual size, stored size and CRC-32."""

    name: str
    kind: MemberKind
    size: int
    compressed_size: int
    crc: int


@dataclass(frozen=True)
class ZipReport:
    """Every member of a ZIP archive whose CRC-32 checks passed."""

    path: Path
    members: tuple[ZipMember, ...]

    @property
    def total_size(self) -> int:
        """Uncompressed bytes of all members together."""
        return sum(member.size for member in self.members)


class ExtractedFile(NamedTuple):
    """A file written by `extract_zip`: "/"-separated path below the destination."""

    path: str
    size: int
    sha256: str


@dataclass
class _Budget:
    """The caps, counted on bytes actually produced."""

    path: Path
    max_total: int | None = None
    max_ratio: float | None = None
    max_members: int | None = None
    total: int = 0

    def check_members(self, infos: list[zipfile.ZipInfo]) -> None:
        if self.max_members is not None and len(infos) > self.max_members:
            raise ArchiveError(
                f"{self.path}: {len(infos)} members, more than the {self.max_members} allowed"
            )
        declared = sum(info.file_size for info in infos)
        if self.max_total is not None and declared > self.max_total:
            raise ArchiveError(
                f"{self.path}: declares {declared} uncompressed bytes, "
                f"more than the {self.max_total} allowed"
            )

    def account(self, name: str, chunk: int, produced: int, consumed: int) -> None:
        self.total += chunk
        if self.max_total is not None and self.total > self.max_total:
            raise ArchiveError(
                f"{self.path}: uncompressed size passes the {self.max_total} bytes allowed "
                f"(at member {name!r})"
            )
        ratio = self.max_ratio
        if ratio is not None and produced > RATIO_GRACE and produced > ratio * max(consumed, 1):
            raise ArchiveError(
                f"{self.path}: member {name!r} expands more than {ratio:g} times "
                f"({consumed} bytes gave {produced})"
            )


def _check_member(
    handle: BinaryIO,
    info: zipfile.ZipInfo,
    budget: _Budget,
    sink: Callable[[bytes], object] | None = None,
) -> ZipMember:
    """Stream one member through the caps and CRC-32, feeding `sink` each chunk."""
    crc = 0
    size = 0
    try:
        for chunk, consumed in iter_member(handle, info, budget.path):
            size += len(chunk)
            if size > info.file_size:
                raise DamagedMember(
                    f"{budget.path}: member {info.filename!r} produces more than the "
                    f"{info.file_size} bytes its header declares",
                    member=info.filename,
                )
            budget.account(info.filename, len(chunk), size, consumed)
            crc = zlib.crc32(chunk, crc)
            if sink is not None:
                sink(chunk)
        if size != info.file_size:
            raise DamagedMember(
                f"{budget.path}: member {info.filename!r} holds {size} bytes, "
                f"its header declares {info.file_size}",
                member=info.filename,
            )
    except DamagedMember as exc:  # its bytes are wrong: say where to fetch them again
        exc.span = member_span(handle, info)
        raise
    if crc != info.CRC:
        span = member_span(handle, info)
        raise CorruptMember(str(budget.path), info.filename, info.CRC, crc, span)
    return ZipMember(info.filename, member_kind(info), size, info.compress_size, crc)


def check_zip(
    path: Path,
    *,
    max_total: int | None = None,
    max_ratio: float | None = None,
    max_members: int | None = None,
) -> ZipReport:
    """Verify the CRC-32 of every member of `path`; `ArchiveError` for any fault.

    A CRC failure is a `CorruptMember` naming the member and both CRCs, a broken deflate
    stream a `DamagedMember`; both say where the member lies in the file.  The caps are
    optional here (the same as `extract_zip`'s) and bound the work a bomb can cause.
    """
    budget = _Budget(path, max_total, max_ratio, max_members)
    members: list[ZipMember] = []
    with zip_errors(path), zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
        infos = archive.infolist()
        budget.check_members(infos)
        for info in infos:
            members.append(_check_member(handle, info, budget))
    return ZipReport(path, tuple(members))


def _target(info: zipfile.ZipInfo, path: Path) -> PurePosixPath | None:
    """Where a member goes below the destination; None for the destination itself."""
    name = info.filename
    if "\x00" in name or is_absolute_name(name):
        raise ArchiveError(f"{path}: member {name!r} has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise ArchiveError(f"{path}: member {name!r} climbs out of the extraction folder")
    try:
        return safe_join(_HERE, name)
    except ValueError:
        if member_kind(info) == "dir":
            return None
        raise ArchiveError(f"{path}: member {name!r} has no usable file name") from None


def plan_extraction(
    infos: list[zipfile.ZipInfo], path: Path
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Each member that makes a file or folder, with its vetted relative target.

    Refuses links, device files, absolute paths, "..", and two members (or a file
    and a folder) that would land on one path after sanitising.
    """
    files: set[PurePosixPath] = set()
    dirs: set[PurePosixPath] = set()
    plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    for info in infos:
        kind = member_kind(info)
        if kind in ("symlink", "special"):
            raise ArchiveError(f"{path}: member {info.filename!r} is a {kind}; refused")
        if kind == "dir" and info.file_size:
            raise ArchiveError(f"{path}: folder member {info.filename!r} carries data")
        target = _target(info, path)
        if target is None:
            continue
        parents = set(target.parents) - {_HERE}
        if target in files or (kind == "file" and target in dirs) or parents & files:
            raise ArchiveError(
                f"{path}: member {info.filename!r} collides with another at {target}"
            )
        dirs.update(parents)
        (dirs if kind == "dir" else files).add(target)
        plan.append((info, target))
    return plan


@dataclass
class _Created:
    """What an extraction made, so a failure can take it all back."""

    files: list[Path] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def make_dirs(self, base: Path, relative: PurePosixPath) -> Path:
        current = base
        for part in relative.parts:
            current = current / part
            try:
                os.mkdir(current, 0o750)
                self.dirs.append(current)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(current).st_mode):
                    raise ArchiveError(f"{current} exists and is not a folder") from None
            except OSError as exc:
                raise ArchiveError(f"cannot create folder {current}: {exc}") from exc
        return current

    def remove(self) -> None:
        for file in reversed(self.files):
            with contextlib.suppress(OSError):
                os.unlink(file)
        for directory in reversed(self.dirs):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def _prepare_destination(dest_dir: Path, created: _Created) -> None:
    missing: list[Path] = []
    current = dest_dir
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o750)
        except OSError as exc:
            raise ArchiveError(f"cannot create folder {directory}: {exc}") from exc
        created.dirs.append(directory)
    if not stat.S_ISDIR(os.lstat(dest_dir).st_mode):
        raise ArchiveError(f"{dest_dir} is not a folder (or is a link)")


def extract_zip(
    path: Path, dest_dir: Path, *, max_total: int, max_ratio: float, max_members: int
) -> list[ExtractedFile]:
    """Unpack `path` into `dest_dir` safely; the files written, with size and SHA-256.

    Files are created exclusively (an existing file is never overwritten) and are not
    fsynced: `BagBuilder.finish` makes the whole bag durable.  On any error everything
    this call created is removed and `ArchiveError` (or `CorruptMember`) is raised.
    """
    budget = _Budget(path, max_total, max_ratio, max_members)
    created = _Created()
    extracted: list[ExtractedFile] = []
    try:
        with zip_errors(path), zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
            infos = archive.infolist()
            budget.check_members(infos)
            plan = plan_extraction(infos, path)
            _prepare_destination(dest_dir, created)
            for info, target in plan:
                if member_kind(info) == "dir":
                    created.make_dirs(dest_dir, target)
                    _check_member(handle, info, budget)
                    continue
                created.make_dirs(dest_dir, target.parent)
                extracted.append(_extract_file(handle, info, dest_dir, target, budget, created))
    except BaseException:
        created.remove()
        raise
    return extracted


def _extract_file(
    handle: BinaryIO,
    info: zipfile.ZipInfo,
    dest_dir: Path,
    target: PurePosixPath,
    budget: _Budget,
    created: _Created,
) -> ExtractedFile:
    full = dest_dir / target
    try:
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
    except OSError as exc:
        raise ArchiveError(f"cannot create {full} for member {info.filename!r}: {exc}") from exc
    created.files.append(full)
    hasher = hashlib.sha256()

    def sink(chunk: bytes) -> None:
        hasher.update(chunk)
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            raise ArchiveError(f"cannot write {full}: {exc}") from exc

    try:
        member = _check_member(handle, info, budget, sink)
    finally:
        os.close(fd)
    return ExtractedFile(target.as_posix(), member.size, hasher.hexdigest())
