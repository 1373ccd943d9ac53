"""The bytes behind every scenario item, and what a correct client ends up with.

Every generated file's seed derives from the scenario seed and the file's identity
(item key, name, Alteryx format), so files differ from one another and are the same
on every run.  Pixxel items are served as STORED ZIP packages of their files.
`expected_files` is the answer key tests and demos compare an archive against.
Pure: no I/O, only (cached) computation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from downloader.emulator._content import Content, SeededContent
from downloader.emulator._scenario import (
    AlteryxJob,
    AlteryxOutput,
    FileEntry,
    Item,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
)
from downloader.emulator._zip import ZipContent, ZipMember

PixxelItem = PixxelJob | PixxelTask | PixxelDownload


@dataclass(frozen=True)
class ExpectedFile:
    """A file a client should fetch: its name, size and SHA-256 (hex).

    For a ZIP package `members` lists what is inside it; for an Alteryx output
    `format` says which of its formats these bytes are.
    """

    name: str
    size: int
    sha256: str
    members: tuple[ExpectedFile, ...] = ()
    format: str | None = None


def content_seed(seed: int, *identity: str) -> int:
    """A stable seed for the file named by `identity` within a scenario."""
    digest = hashlib.sha256("\0".join([str(seed), *identity]).encode()).digest()
    return int.from_bytes(digest[:6], "big")


def output_file_name(output: AlteryxOutput, fmt: str) -> str:
    """The name an Alteryx output carries in a format: `fileName` for Raw, else re-suffixed."""
    if fmt == "Raw":
        return output.file_name
    stem = output.file_name.rsplit(".", 1)[0] if "." in output.file_name else output.file_name
    return f"{stem}.{fmt.lower()}"


def slug(name: str) -> str:
    """`name` reduced to characters that are safe in a URL path segment."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return cleaned or "file"


class LazySeeded:
    """Generated content that builds its 2 MiB generator only while being read.

    ZIP packages may hold many members; keeping a `SeededContent` alive for each
    would pin its base block in memory for the life of the emulator.
    """

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size

    def iter_range(self, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        return SeededContent(self.seed, self.size).iter_range(start, end, chunk)

    def digest(self, algorithm: str = "sha256") -> bytes:
        return SeededContent(self.seed, self.size).digest(algorithm)


class Catalogue:
    """Contents of every file of a scenario, built once and shared by server and checks."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._packages: dict[str, ZipContent] = {}

    def seed_of(self, item: Item, *identity: str) -> int:
        return content_seed(self.scenario.settings.seed, item.key, *identity)

    def file_content(self, item: ScaleJob, entry: FileEntry) -> Content:
        """The bytes of one Scale product file: generated, or a ZIP of generated files."""
        if entry.members:
            return ZipContent(
                [
                    ZipMember(m.name, LazySeeded(self.seed_of(item, entry.name, m.name), m.size))
                    for m in entry.members
                ]
            )
        return SeededContent(self.seed_of(item, entry.name), entry.size)

    def output_content(self, job: AlteryxJob, output: AlteryxOutput, fmt: str) -> SeededContent:
        """The bytes of one Alteryx output in one format."""
        return SeededContent(self.seed_of(job, output.id, fmt), output.size)

    def package(self, item: PixxelItem) -> ZipContent:
        """The ZIP package of a Pixxel item (its layout is cached; no bytes are read)."""
        package = self._packages.get(item.key)
        if package is None:
            package = self._packages[item.key] = ZipContent(self.members(item))
        return package

    def members(self, item: PixxelItem, prefix: str = "") -> list[ZipMember]:
        """The ZIP members of a Pixxel item's files, names optionally prefixed."""
        return [
            ZipMember(prefix + f.name, LazySeeded(self.seed_of(item, f.name), f.size))
            for f in item.files
        ]

    def expected(self) -> dict[str, list[ExpectedFile]]:
        """For each item key, the files a correct client archives.

        Items that cannot succeed (failed, cancelled, a non-Success disposition,
        Scale files without URLs) map to an empty list.
        """
        result: dict[str, list[ExpectedFile]] = {}
        for item in self.scenario.items():
            result[item.key] = self._expected_for(item)
        return result

    def _expected_for(self, item: Item) -> list[ExpectedFile]:
        if isinstance(item, ScaleJob):
            if item.fail is not None or item.cancel or item.null_url:
                return []
            return [self._expect_scale(item, f) for f in item.files]
        if isinstance(item, AlteryxJob):
            if item.fail is not None or item.cancel or item.disposition != "Success":
                return []
            return [
                _expect(output_file_name(o, fmt), self.output_content(item, o, fmt), fmt)
                for o in item.outputs
                for fmt in o.formats
            ]
        if item.fail is not None:
            return []
        return [_zip_expectation(package_name(item), self.package(item))]

    def _expect_scale(self, item: ScaleJob, entry: FileEntry) -> ExpectedFile:
        content = self.file_content(item, entry)
        if isinstance(content, ZipContent):
            return _zip_expectation(entry.name, content)
        return _expect(entry.name, content)


def _zip_expectation(name: str, package: ZipContent) -> ExpectedFile:
    members = tuple(_expect(m.name, m.content) for m in package.members)
    whole = _expect(name, package)
    return ExpectedFile(whole.name, whole.size, whole.sha256, members)


def package_name(item: PixxelItem) -> str:
    """The file name of a Pixxel item's package (the last segment of its URL)."""
    if isinstance(item, PixxelJob):
        return f"{item.job_id}.zip"
    if isinstance(item, PixxelTask):
        return f"{item.task_id}.zip"
    return f"{item.id}.zip"


def expected_files(scenario: Scenario) -> dict[str, list[ExpectedFile]]:
    """For each item key (`provider:kind:id[/id...]`), the files a correct client archives."""
    return Catalogue(scenario).expected()


def _expect(name: str, content: Content, fmt: str | None = None) -> ExpectedFile:
    return ExpectedFile(name, content.size, content.digest("sha256").hex(), format=fmt)
