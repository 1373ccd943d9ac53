"""Assembling one item's BagIt bag (RFC 8493, version 1.0) and moving it into place.

A `BagBuilder` owns a staging folder (`<root>/.partial/bags/<hash>`): the engine
fetches payload files into `.data_dir`, the caller declares each one with the digests
computed while it streamed, and `finish` writes the tag files, makes everything
durable and renames the whole folder to the item's final path in one step.  Payload
bytes are never read again here: sizes are checked with `stat`, digests are taken
on trust from the transfer that produced them (the audit re-hashes later).

An item archived again replaces its old bag, which is moved aside to
`<root>/.partial/replaced/<hash>-<UTC time>` first, never deleted.  Between the two
renames the final path is briefly absent, never half a bag.  `finish` refuses (with
`ArchiveError`, the staging bag left as it is) when the final path holds anything but
an earlier bag of the same item, or lies inside another bag.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

import anyio
import structlog

from downloader import __version__
from downloader.archive._layout import replaced_path, staging_path
from downloader.archive._tagfiles import PayloadFile, is_tag_file, parse_bag_info, render_tag_files
from downloader.clock import Clock, SystemClock
from downloader.errors import ArchiveError
from downloader.items import ItemRef, check_sha256
from downloader.transfer._writer import fsync_dir

__all__ = ["BagBuilder", "PayloadFile"]

log = structlog.get_logger("downloader.archive")

_MD5 = re.compile(r"[0-9a-f]{32}")
_RESERVED = frozenset({"external-identifier", "bagging-date", "payload-oxum", "bag-software-agent"})


def _check_payload_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"payload path {path!r} must be relative, without '.', '..' or '//'")
    if "\x00" in path:
        raise ValueError(f"payload path {path!r} contains NUL")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"payload path {path!r} is not valid UTF-8") from exc


class BagBuilder:
    """Builds the bag of `ref` in `staging_dir`; `finish` moves it to its final path.

    Files already in the staging folder (left by an interrupted run) are kept; every
    file under `data_dir` must be declared with `add_payload` before `finish`.
    """

    def __init__(
        self, staging_dir: Path, ref: ItemRef, *, clock: Clock | None = None, create: bool = True
    ) -> None:
        """`create=False` leaves making `data_dir` to whoever first writes into it (the
        transfer engine does, in a worker thread), and to `finish`: no blocking call here."""
        self.staging_dir = staging_dir
        self.ref = ref
        self._clock: Clock = clock or SystemClock()
        self._payload: dict[str, PayloadFile] = {}
        self._finished = False
        if create:
            self.data_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def in_archive(
        cls, root: Path, ref: ItemRef, *, clock: Clock | None = None, create: bool = True
    ) -> BagBuilder:
        """The builder of `ref` in its usual staging folder below archive `root`."""
        return cls(root / staging_path(ref), ref, clock=clock, create=create)

    @property
    def data_dir(self) -> Path:
        """Where payload files go (the bag's `data/`)."""
        return self.staging_dir / "data"

    @property
    def payload(self) -> tuple[PayloadFile, ...]:
        """The payload files declared so far, sorted by path."""
        return tuple(self._payload[path] for path in sorted(self._payload))

    def add_payload(
        self, relative_path: str, size: int, sha256_hex: str, md5_hex: str | None = None
    ) -> PayloadFile:
        """Declare `data/<relative_path>` ("/"-separated) with its size and digests."""
        if self._finished:
            raise ArchiveError(f"the bag of {self.ref.key} is already finished")
        _check_payload_path(relative_path)
        if size < 0:
            raise ValueError("size must not be negative")
        check_sha256(sha256_hex.lower())
        md5 = md5_hex.lower() if md5_hex is not None else None
        if md5 is not None and not _MD5.fullmatch(md5):
            raise ValueError("md5 must be 32 hexadecimal digits")
        if relative_path in self._payload:
            raise ArchiveError(f"payload file {relative_path!r} declared twice")
        entry = PayloadFile(relative_path, size, sha256_hex.lower(), md5)
        self._payload[relative_path] = entry
        return entry

    async def finish(
        self,
        final_dir: Path,
        *,
        info: Mapping[str, str] | None = None,
        tag_files: Mapping[str, bytes] | None = None,
    ) -> Path:
        """Write the tag files, make the bag durable and rename it to `final_dir`.

        `info` adds `bag-info.txt` fields (`Source-Organization`, `External-Description`,
        ...); the four fields the builder writes itself may not be given.  `tag_files`
        adds tag files of `EXTRA_TAG_FILES` by name (`stac-item.json`).  Runs in a
        worker thread and is shielded from cancellation, which takes effect after it.
        """
        extra = dict(info or {})
        for label in extra:
            if label.lower() in _RESERVED:
                raise ValueError(f"bag-info field {label!r} is written by the builder")
        if self._finished:
            raise ArchiveError(f"the bag of {self.ref.key} is already finished")
        # Shielded: a cancelled caller still learns nothing false, because the rename
        # either happened (and the builder knows it) or did not.
        with anyio.CancelScope(shield=True):
            replaced = await anyio.to_thread.run_sync(
                self._finish_sync, final_dir, extra, dict(tag_files or {})
            )
            self._finished = True
        total = sum(entry.size for entry in self._payload.values())
        # the item's own `item.archived` line tells the news; a replaced bag is news too
        (log.info if replaced else log.debug)(
            "archive.bag_finished",
            item=self.ref.key,
            path=str(final_dir),
            files=len(self._payload),
            bytes=total,
            replaced=str(replaced) if replaced else None,
        )
        return final_dir

    async def discard(self) -> None:
        """Remove the staging folder and everything in it (an abandoned bag)."""
        await anyio.to_thread.run_sync(_remove_tree, self.staging_dir)

    # --- blocking work, in a worker thread ------------------------------------------------

    def _finish_sync(
        self, final_dir: Path, info: dict[str, str], extra: dict[str, bytes]
    ) -> Path | None:
        staging = self.staging_dir.absolute()
        final = final_dir.absolute()
        root = Path(os.path.commonpath([staging, final]))
        if root in (staging, final):
            raise ValueError("the staging folder and the final path must not contain each other")
        try:
            os.makedirs(staging / "data", exist_ok=True)  # a package of no file at all
            self._check_staging(staging)
            _refuse_nesting(final, root)
            must_replace = self._check_destination(final)
            now = self._clock.utcnow()
            tag_files = render_tag_files(
                self.ref.key,
                self.payload,
                bagging_date=now.date().isoformat(),
                agent=f"downloader {__version__}",
                info=info,
                extra=extra,
            )
            _write_durably([(staging / name, data) for name, data in tag_files.items()])
            _sync_tree(staging, [entry.path for entry in self._payload.values()])
            replaced = None
            if must_replace:
                replaced = self._move_aside(final, root, now.strftime("%Y%m%dT%H%M%SZ"))
            _make_parents(final.parent, root)
            os.rename(staging, final)
            fsync_dir(final.parent)
            fsync_dir(staging.parent)
        except OSError as exc:
            raise ArchiveError(f"cannot archive {self.ref.key} at {final_dir}: {exc}") from exc
        return replaced

    def _check_staging(self, staging: Path) -> None:
        """Every file under data/ declared, of the declared size; no stray entries."""
        for entry in os.scandir(staging):
            if entry.name == "data" and entry.is_dir(follow_symlinks=False):
                continue
            if is_tag_file(entry.name) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)  # stale, from an interrupted finish; rewritten below
                continue
            raise ArchiveError(f"unexpected entry {entry.name!r} in {staging}")
        found = _scan_payload(staging / "data")
        declared = {path: entry.size for path, entry in self._payload.items()}
        problems = [f"missing: {p}" for p in sorted(declared.keys() - found.keys())]
        problems += [f"undeclared: {p}" for p in sorted(found.keys() - declared.keys())]
        problems += [
            f"size of {p}: declared {declared[p]}, found {found[p]}"
            for p in sorted(declared.keys() & found.keys())
            if declared[p] != found[p]
        ]
        if problems:
            raise ArchiveError(
                f"payload of {self.ref.key} does not match its declaration: " + "; ".join(problems)
            )

    def _check_destination(self, final: Path) -> bool:
        """Whether an earlier bag of this item is in the way; refuse anything else there."""
        if not os.path.lexists(final):
            return False
        if final.is_symlink() or not final.is_dir():
            raise ArchiveError(f"{final} exists and is not a directory")
        identifier = read_identifier(final)
        if identifier is None:
            raise ArchiveError(f"{final} exists and is not a bag; not replacing it")
        if identifier != self.ref.key:
            raise ArchiveError(f"{final} holds the bag of {identifier}, not of {self.ref.key}")
        foreign = sorted(n for n in os.listdir(final) if n != "data" and not is_tag_file(n))
        if foreign:
            raise ArchiveError(f"{final} holds entries of no bag {foreign}; not moving them")
        return True

    def _move_aside(self, final: Path, root: Path, stamp: str) -> Path:
        """Move the earlier bag at `final` to `.partial/replaced/`; returns where it went."""
        target = root / replaced_path(self.ref, stamp)
        counter = 0
        while os.path.lexists(target):
            counter += 1
            target = root / replaced_path(self.ref, f"{stamp}-{counter}")
        _make_parents(target.parent, root)
        os.rename(final, target)
        fsync_dir(target.parent)
        fsync_dir(final.parent)
        return target


def _scan_payload(data_dir: Path) -> dict[str, int]:
    """Size of every regular file below `data_dir` by "/"-separated relative path."""
    found: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(data_dir):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            relative = os.path.relpath(full, data_dir)
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ArchiveError(f"payload entry {relative!r} is a link or special file")
            if stat.S_ISREG(mode):
                found[relative] = os.lstat(full).st_size
    return found


def _write_durably(files: list[tuple[Path, bytes]]) -> None:
    """Write every file, then fsync them: one journal commit can then carry them all."""
    fds: list[int] = []
    try:
        for path, data in files:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
            fds.append(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def read_identifier(bag: Path) -> str | None:
    """The `External-Identifier` of the bag at `bag`; None if it is not a readable bag."""
    try:
        if not (bag / "bagit.txt").is_file():
            return None
        text = (bag / "bag-info.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    fields, _ = parse_bag_info(text)
    return dict(fields).get("External-Identifier")


def _sync_tree(staging: Path, payload_paths: list[str]) -> None:
    """fsync every payload file, then every directory, deepest first."""
    for relative in payload_paths:
        fd = os.open(staging / "data" / relative, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for dirpath, _, _ in sorted(os.walk(staging), key=lambda item: -len(Path(item[0]).parts)):
        fsync_dir(Path(dirpath))


def _refuse_nesting(final: Path, root: Path) -> None:
    for parent in final.parents:
        if parent == root:
            return
        if os.path.lexists(parent / "bagit.txt"):
            raise ArchiveError(f"{final} would lie inside the bag at {parent}")


def _make_parents(directory: Path, root: Path) -> None:
    """Create `directory` below `root` and make every new entry durable."""
    missing: list[Path] = []
    current = directory
    while current != root and not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        fsync_dir(path.parent)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
