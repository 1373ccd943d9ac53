"""The resumable state of one transfer, and where it is kept.

A `Checkpoint` holds two cursors per segment: `pos`, what has been written, and
`durable`, what had been flushed to disk (fdatasync) when it was last synced.
It is saved often and cheaply, without a sync, tagged with the kernel's boot id.
A process that was killed leaves its written bytes in the page cache, so a
restart in the same boot trusts `pos` and fetches almost nothing again; after a
reboot, unsynced bytes may be lost, so only the `durable` cursors are trusted.
Either way a cursor never points past bytes that are really on disk.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from downloader.jail import Jail
from downloader.transfer._plan import Segment

_FORMAT = 1


@dataclass
class Checkpoint:
    """Everything needed to continue a transfer without asking for a byte twice."""

    validator: str | None
    total: int | None
    name: str
    ranges_supported: bool
    segments: list[Segment]
    offered: list[tuple[str, str, str]] = field(default_factory=list)  # (algorithm, hex, source)
    durable: list[int] = field(default_factory=list)  # per segment: synced cursor
    boot_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": _FORMAT,
                "validator": self.validator,
                "total": self.total,
                "name": self.name,
                "ranges_supported": self.ranges_supported,
                "segments": [[s.start, s.end, s.pos] for s in self.segments],
                "offered": [list(o) for o in self.offered],
                "durable": self.durable,
                "boot_id": self.boot_id,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Checkpoint | None:
        """Parse a checkpoint; None when it is unreadable or inconsistent (start over)."""
        try:
            raw: Any = json.loads(text)
        except (ValueError, RecursionError):
            return None
        try:
            return cls._from_raw(raw)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    @classmethod
    def _from_raw(cls, raw: Any) -> Checkpoint | None:
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
            return None
        validator, total, name = raw["validator"], raw["total"], raw["name"]
        ranges = raw["ranges_supported"]
        if not (validator is None or isinstance(validator, str)):
            return None
        if not (total is None or _is_count(total)):
            return None
        if not isinstance(name, str) or not name or not isinstance(ranges, bool):
            return None
        segments = []
        for entry in raw["segments"]:
            start, end, pos = entry
            if not (_is_count(start) and _is_count(pos) and (end is None or _is_count(end))):
                return None
            if pos < start or (end is not None and not start <= pos <= end):
                return None
            segments.append(Segment(start, end, pos))
        if not segments:
            return None
        offered = []
        for entry in raw.get("offered", []):
            if not (isinstance(entry, list) and len(entry) == 3):
                return None
            if not all(isinstance(part, str) for part in entry):
                return None
            offered.append((entry[0], entry[1], entry[2]))
        durable = raw.get("durable", [])
        boot_id = raw.get("boot_id")
        if not isinstance(durable, list) or not (boot_id is None or isinstance(boot_id, str)):
            return None
        if durable and len(durable) != len(segments):
            return None
        for cursor, segment in zip(durable, segments, strict=False):
            if not _is_count(cursor) or not segment.start <= cursor <= segment.pos:
                return None
        return cls(validator, total, name, ranges, segments, offered, list(durable), boot_id)

    def trusted_after_restart(self, boot_id: str | None) -> Checkpoint:
        """The cursors a new process may rely on: written ones in the same boot, else synced."""
        if boot_id is not None and boot_id == self.boot_id:
            return self
        for index, segment in enumerate(self.segments):
            segment.pos = self.durable[index] if self.durable else segment.start
        return self


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@functools.cache
def current_boot_id() -> str | None:
    """The kernel's id of this boot (Linux); None where it cannot be read."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def work_files_for(partial_root: Path, key: str, jail: Jail | None = None) -> WorkFiles:
    """The data file and checkpoint of one asset, under `<root>/.partial/transfers/`."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return WorkFiles(partial_root / "transfers", digest, jail)


class WorkFiles:
    """The data file and checkpoint of one transfer: `<stem>.part` and `<stem>.json`.

    Every transfer's files sit side by side in one shared folder, so a transfer
    creates no folder of its own and deletes none: on a busy archive, creating and
    deleting thousands of inodes a minute is a cost of its own.  Every operation
    goes through `jail` (the archive root's, by default the folder's parent's), so
    a link planted at a work file or at a folder on the way is never followed.

    What may be on disk is known rather than tried: `saved` says whether a checkpoint
    may be there (one was found, or written), so a fresh transfer removes nothing
    that cannot exist, and a data file left by a crash is replaced when the next
    fresh start makes its own (`open_data`).
    """

    def __init__(self, directory: Path, stem: str, jail: Jail | None = None) -> None:
        self.directory = directory
        self.data = directory / f"{stem}.part"
        self.checkpoint = directory / f"{stem}.json"
        self.jail = jail or Jail(directory.parent)
        where = self.jail.relative(directory)
        self.data_rel = where / f"{stem}.part"
        self.checkpoint_rel = where / f"{stem}.json"
        self._directory_rel = where
        self.saved = True  # until looked at, a checkpoint may be there

    def prepare(self) -> Checkpoint | None:
        """The checkpoint a restart may trust, if any; else none is left behind.

        One walk to the shared folder (made if need be) and, for a fresh transfer, one
        failed open: the data file is not looked at until a checkpoint names it."""
        with self.jail.folder(self._directory_rel, create=True) as folder:
            try:
                fd = self.jail.open_at(folder, self.checkpoint_rel, os.O_RDONLY)
            except FileNotFoundError:
                self.saved = False
                return None
            except OSError:
                fd = -1
            checkpoint = None if fd < 0 else self._parse(folder, fd)
            if checkpoint is None:
                for relative in (self.checkpoint_rel, self.data_rel):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(relative.name, dir_fd=folder)  # a link removed, not followed
            self.saved = checkpoint is not None
            return checkpoint

    def _parse(self, folder: int, fd: int) -> Checkpoint | None:
        with os.fdopen(fd, "rb") as handle:
            text = handle.read().decode(errors="replace")
        try:
            os.stat(self.data_rel.name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None
        checkpoint = Checkpoint.from_json(text)
        return None if checkpoint is None else checkpoint.trusted_after_restart(current_boot_id())

    def open_data(self, *, fresh: bool) -> int:
        """A descriptor of the data file: made anew for a `fresh` transfer (whatever a
        crash left there removed first, a link too), else opened as it is."""
        with self.jail.folder(self._directory_rel, create=True) as folder:
            if not fresh:
                return self.jail.open_at(folder, self.data_rel, os.O_RDWR | os.O_CREAT)
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL  # O_EXCL follows no link either
            try:
                return self.jail.open_at(folder, self.data_rel, flags)
            except FileExistsError:
                os.unlink(self.data_rel.name, dir_fd=folder)
            return self.jail.open_at(folder, self.data_rel, flags)

    def open_directory(self) -> Checkpoint | None:
        """Create the shared folder if need be; the checkpoint a restart may trust, if any."""
        with self.jail.folder(self._directory_rel, create=True):
            pass
        return self.load()

    def load(self) -> Checkpoint | None:
        """The checkpoint a restart may trust, if any; nothing made or removed."""
        try:
            with self.jail.folder(self._directory_rel) as folder:
                fd = self.jail.open_at(folder, self.checkpoint_rel, os.O_RDONLY)
                return self._parse(folder, fd)
        except OSError:
            return None

    def save(self, checkpoint: Checkpoint) -> None:
        self.write(checkpoint.to_json())

    def write(self, text: str) -> None:
        """Replace the checkpoint with `text` (a `Checkpoint.to_json()`) atomically."""
        self.saved = True  # even a write that fails may leave it
        self.jail.write_atomically(self.checkpoint_rel, text.encode())

    def reset(self) -> None:
        """Delete the checkpoint and the data file (links there too); the shared folder stays."""
        for relative in (self.checkpoint_rel, self.data_rel):
            self.jail.unlink(relative)
        self.saved = False

    def forget(self) -> None:
        """After the data file was moved into place: the checkpoint removed, if one may
        be there (no syscall for a transfer that never saved one)."""
        if self.saved:
            self.jail.unlink(self.checkpoint_rel)
            self.saved = False
