"""The fixity audit of an archived bag: every payload byte re-hashed against its manifests.

`verify_bag` never stops at the first fault: it returns a `BagAudit` listing each
problem (a modified, missing or extra file, a wrong `Payload-Oxum`, a tag file that
fails its tag manifest, an unreadable tag file, a link inside the payload).  It never
follows a link (every file is opened by folder descriptors, from the archive root when
given its jail) and never opens a path a manifest names outside the bag.  Every
algorithm of every `manifest-<alg>.txt` is checked, all in one read of each file.

Blocking code (it reads every payload byte): run it in a worker thread from async code.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from downloader.archive._tagfiles import (
    HASH_ALGORITHMS,
    parse_bag_info,
    parse_bagit_txt,
    parse_manifest,
    parse_oxum,
)
from downloader.errors import PlantedLink
from downloader.jail import Jail

__all__ = ["AuditProblem", "BagAudit", "ProblemKind", "verify_bag"]

_READ_BLOCK = 1024 * 1024
_MANIFEST_FILE = re.compile(r"(tag)?manifest-([A-Za-z0-9]+)\.txt")


class ProblemKind(StrEnum):
    """What is wrong with one file (or with the bag as a whole)."""

    NOT_A_BAG = "not-a-bag"
    MALFORMED = "malformed"
    MISSING = "missing"
    MODIFIED = "modified"
    EXTRA = "extra"
    OXUM = "oxum"
    UNSAFE = "unsafe"


@dataclass(frozen=True, order=True)
class AuditProblem:
    """One problem: its kind, the path inside the bag it concerns, and the details."""

    path: str
    kind: ProblemKind
    detail: str = ""

    def __str__(self) -> str:
        where = self.path or "."
        return f"{self.kind}: {where}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class BagAudit:
    """The outcome of auditing one bag; `ok` when no problem was found."""

    path: Path
    identifier: str | None
    problems: tuple[AuditProblem, ...]
    files_checked: int
    bytes_checked: int

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bag_missing(self) -> bool:
        """Whether there was no folder at all where the bag belongs."""
        return [(p.path, p.kind) for p in self.problems] == [(".", ProblemKind.MISSING)]

    def report_lines(self) -> list[str]:
        """One line for the bag, then one per problem."""
        name = self.identifier or str(self.path)
        if self.ok:
            return [f"{name}: intact ({self.files_checked} files, {self.bytes_checked} bytes)"]
        return [f"{name}: {len(self.problems)} problem(s)"] + [f"  {p}" for p in self.problems]


def _is_inside(relative: str) -> bool:
    """Whether a manifest path stays inside the bag without any trick."""
    parts = relative.split("/")
    return (
        bool(relative)
        and not relative.startswith("/")
        and "\x00" not in relative
        and all(part not in ("", ".", "..") for part in parts)
    )


def _open_regular(jail: Jail, path: PurePosixPath) -> BinaryIO:
    """`path` opened for reading if it is a regular file; `OSError` otherwise.

    Opened by the jail (no link followed) without blocking, and looked at through the
    open file: a FIFO put in a bag (even in place of a file just seen as regular)
    would otherwise hold the audit forever.
    """
    fd = jail.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(errno.EINVAL, "a link or special file, not a regular file")
    return handle


def _hash_file(jail: Jail, path: PurePosixPath, algorithms: set[str]) -> tuple[dict[str, str], int]:
    hashers = {name: hashlib.new(name) for name in algorithms}
    size = 0
    with _open_regular(jail, path) as handle:
        while block := handle.read(_READ_BLOCK):
            size += len(block)
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}, size


@dataclass
class _Audit:
    jail: Jail
    bag: PurePosixPath
    problems: list[AuditProblem] = field(default_factory=list)
    encoding: str = "utf-8"
    files_checked: int = 0
    bytes_checked: int = 0

    def note(self, kind: ProblemKind, path: str, detail: str = "") -> None:
        self.problems.append(AuditProblem(path, kind, detail))

    def read_text(self, name: str) -> str | None:
        try:
            with _open_regular(self.jail, self.bag / name) as handle:
                return handle.read().decode(self.encoding)
        except FileNotFoundError:
            return None
        except PlantedLink:
            self.note(ProblemKind.UNSAFE, name, "a tag file that is a link")
            return None
        except (OSError, UnicodeDecodeError, LookupError) as exc:
            self.note(ProblemKind.MALFORMED, name, f"unreadable: {exc}")
            return None

    def read_declaration(self) -> bool:
        text = self.read_text("bagit.txt")
        fields = parse_bagit_txt(text) if text is not None else None
        if fields is None:
            self.note(ProblemKind.NOT_A_BAG, "bagit.txt", "missing or without its two fields")
            return False
        self.encoding = fields["Tag-File-Character-Encoding"]
        return True

    def scan_payload(self) -> dict[str, int]:
        """Regular files below data/ ("data/..." paths) with their sizes; links reported."""
        found: dict[str, int] = {}
        data = self.jail.lstat(self.bag / "data")
        if data is not None and stat.S_ISLNK(data.st_mode):
            self.note(ProblemKind.UNSAFE, "data/", "the payload folder is a link; not followed")
            return found
        if data is None or not stat.S_ISDIR(data.st_mode):
            self.note(ProblemKind.MISSING, "data/", "the payload folder is missing")
            return found
        # by folder descriptors: a link anywhere below is listed, never entered
        for dirpath, dirnames, filenames, dirfd in self.jail.walk(self.bag / "data"):
            for name in dirnames + filenames:
                relative = os.path.normpath(os.path.join("data", dirpath, name))
                info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                mode = info.st_mode
                if stat.S_ISREG(mode):
                    found[relative] = info.st_size
                elif not stat.S_ISDIR(mode):
                    self.note(ProblemKind.UNSAFE, relative, "a link or special file")
        return found

    def load_manifest(self, name: str, tag: bool) -> dict[str, str]:
        """Path -> digest of one manifest; malformed, unsafe and duplicate lines reported."""
        entries: dict[str, str] = {}
        text = self.read_text(name)
        if text is None:
            return entries
        parsed, errors = parse_manifest(text)
        for error in errors:
            self.note(ProblemKind.MALFORMED, name, error)
        for entry in parsed:
            where = f"line {entry.line} names {entry.path!r}"
            if not _is_inside(entry.path):
                self.note(ProblemKind.UNSAFE, name, f"{where}, outside the bag")
            elif entry.path.startswith("data/") == tag:
                kind = "a payload file" if tag else "no payload file"
                self.note(ProblemKind.MALFORMED, name, f"{where}, {kind}")
            elif entry.path in entries:
                self.note(ProblemKind.MALFORMED, name, f"{entry.path!r} listed twice")
            else:
                entries[entry.path] = entry.digest
        return entries

    def compare(self, path: str, expected: dict[str, str], *, count: bool) -> None:
        """Hash `path` with every algorithm in `expected` and report any difference."""
        try:
            actual, size = _hash_file(self.jail, self.bag / path, set(expected))
        except (OSError, PlantedLink) as exc:
            self.note(ProblemKind.MALFORMED, path, f"unreadable: {exc}")
            return
        if count:
            self.files_checked += 1
            self.bytes_checked += size
        for algorithm, digest in sorted(expected.items()):
            if actual[algorithm] != digest:
                detail = f"{algorithm} expected {digest}, got {actual[algorithm]}"
                self.note(ProblemKind.MODIFIED, path, detail)

    def check_oxum(self, found: dict[str, int], info: dict[str, str]) -> None:
        value = info.get("Payload-Oxum")
        if value is None:
            return
        oxum = parse_oxum(value)
        actual = (sum(found.values()), len(found))
        if oxum is None:
            self.note(ProblemKind.MALFORMED, "bag-info.txt", f"Payload-Oxum {value!r}")
        elif oxum != actual:
            detail = f"declared {oxum[0]}.{oxum[1]}, found {actual[0]}.{actual[1]}"
            self.note(ProblemKind.OXUM, "data/", detail)

    def find_manifests(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """`(file name, algorithm)` of the payload manifests and of the tag manifests."""
        payload: list[tuple[str, str]] = []
        tags: list[tuple[str, str]] = []
        with self.jail.folder(self.bag) as fd:
            names = os.listdir(fd)
        for name in sorted(names):
            match = _MANIFEST_FILE.fullmatch(name)
            if match is None:
                continue
            algorithm = match[2].lower()
            if algorithm not in HASH_ALGORITHMS:
                self.note(ProblemKind.MALFORMED, name, f"unknown algorithm {algorithm!r}")
            else:
                (tags if match[1] else payload).append((name, algorithm))
        if not payload:
            self.note(ProblemKind.MALFORMED, ".", "no payload manifest")
        return payload, tags

    def check_payload(self, manifests: list[tuple[str, str]], found: dict[str, int]) -> None:
        expected: dict[str, dict[str, str]] = {}
        unlisted: dict[str, list[str]] = {}
        for name, algorithm in manifests:
            entries = self.load_manifest(name, tag=False)
            for path, digest in entries.items():
                expected.setdefault(path, {})[algorithm] = digest
            for path in found.keys() - entries.keys():
                unlisted.setdefault(path, []).append(name)
        for path, names in unlisted.items():
            self.note(ProblemKind.EXTRA, path, "not in " + ", ".join(sorted(names)))
        for path, digests in sorted(expected.items()):
            if path in found:
                self.compare(path, digests, count=True)
            else:
                self.note(ProblemKind.MISSING, path)

    def check_tags(self, manifests: list[tuple[str, str]]) -> None:
        expected: dict[str, dict[str, str]] = {}
        for name, algorithm in manifests:
            for path, digest in self.load_manifest(name, tag=True).items():
                expected.setdefault(path, {})[algorithm] = digest
        for path, digests in sorted(expected.items()):
            try:
                found = self.jail.lstat(self.bag / path)
            except PlantedLink:
                self.note(ProblemKind.UNSAFE, path, "below a link; not followed")
                continue
            if found is None:
                self.note(ProblemKind.MISSING, path)
                continue
            mode = found.st_mode
            if stat.S_ISREG(mode):
                self.compare(path, digests, count=False)
            else:
                self.note(ProblemKind.UNSAFE, path, "a tag file that is a link or special file")


def verify_bag(path: Path, *, jail: Jail | None = None) -> BagAudit:
    """Audit the bag at `path`: every payload file re-hashed, every problem listed.

    With `jail` (the archive root's), `path` is walked from its root without
    following a link: a link planted at any folder on the way, or inside the bag,
    is reported (`unsafe`), never walked into.  Without, `path` itself is the root.
    """
    jail = jail or Jail(path)
    audit = _Audit(jail, jail.relative(path))
    identifier: str | None = None
    try:
        found_bag = jail.lstat(audit.bag) if audit.bag.parts else os.stat(path)
    except PlantedLink as exc:
        audit.note(ProblemKind.UNSAFE, ".", f"{exc.path} is a link; not followed")
        found_bag = None
    except OSError:
        found_bag = None
    if found_bag is not None and stat.S_ISLNK(found_bag.st_mode):
        audit.note(ProblemKind.UNSAFE, ".", "the bag's folder is a link; not followed")
    elif found_bag is None or not stat.S_ISDIR(found_bag.st_mode):
        if not audit.problems:
            audit.note(ProblemKind.MISSING, ".", "no bag folder there")
    elif audit.read_declaration():
        info: dict[str, str] = {}
        text = audit.read_text("bag-info.txt")
        if text is not None:
            fields, errors = parse_bag_info(text)
            for error in errors:
                audit.note(ProblemKind.MALFORMED, "bag-info.txt", error)
            for label, value in fields:
                info.setdefault(label, value)  # the first of repeated labels counts
        identifier = info.get("External-Identifier")
        payload_manifests, tag_manifests = audit.find_manifests()
        found = audit.scan_payload()
        audit.check_payload(payload_manifests, found)
        audit.check_oxum(found, info)
        audit.check_tags(tag_manifests)
    return BagAudit(
        path=path,
        identifier=identifier,
        problems=tuple(sorted(audit.problems)),
        files_checked=audit.files_checked,
        bytes_checked=audit.bytes_checked,
    )
