"""Assembling one item's BagIt bag (RFC 8493, version 1.0) and moving it into place.

A `BagBuilder` owns a staging folder (`<root>/.partial/bags/<hash>`): the engine
fetches payload files into `.data_dir`, the caller declares each one with the digests
computed while it streamed, and `finish` writes the tag files, makes everything
durable in one pass of fsyncs (`_commit`) and renames the whole folder to the item's
final path in one step.  Payload
bytes are never read again here: sizes are checked with `stat`, digests are taken
on trust from the transfer that produced them (the audit re-hashes later).

An item archived again replaces its old bag, which is moved aside to
`<root>/.partial/replaced/<hash>-<UTC time>` first, never deleted.  Between the two
renames the final path is briefly absent, never half a bag.  `finish` refuses (with
`ArchiveError`, the staging bag left as it is) when the final path holds anything but
an earlier bag of the same item, or lies inside another bag.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import anyio
import structlog

from downloader import __version__
from downloader.archive._commit import FinalPlace, StagedBag, Syncer
from downloader.archive._layout import replaced_path, staging_path
from downloader.archive._tagfiles import (
    EXTRA_TAG_FILES,
    PayloadFile,
    is_tag_file,
    parse_bag_info,
    render_tag_files,
)
from downloader.clock import Clock, SystemClock
from downloader.errors import ArchiveError
from downloader.items import ItemRef, check_sha256
from downloader.jail import Jail

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
        self,
        staging_dir: Path,
        ref: ItemRef,
        *,
        clock: Clock | None = None,
        create: bool = True,
        jail: Jail | None = None,
        syncer: Syncer | None = None,
    ) -> None:
        """`create=False` leaves making `data_dir` to whoever first writes into it (the
        transfer engine does, in a worker thread), and to `finish`: no blocking call here.
        `jail` is the archive root's (by default the folder three levels up, as
        `.partial/bags/<hash>` is below the root): no link below it is ever followed.
        `syncer` makes the bag durable at its finish (by default `os.fsync`)."""
        self.staging_dir = staging_dir
        self.ref = ref
        self.jail = jail or Jail(staging_dir.parent.parent.parent)
        self._clock: Clock = clock or SystemClock()
        self._syncer = syncer or Syncer()
        self._payload: dict[str, PayloadFile] = {}
        self._durable: set[str] = set()
        self._notes: dict[str, list[str]] = {}
        self._finished = False
        if create:
            with self.jail.folder(self.jail.relative(self.data_dir), create=True):
                pass

    @classmethod
    def in_archive(
        cls, root: Path, ref: ItemRef, *, clock: Clock | None = None, create: bool = True
    ) -> BagBuilder:
        """The builder of `ref` in its usual staging folder below archive `root`."""
        return cls(root / staging_path(ref), ref, clock=clock, create=create, jail=Jail(root))

    @property
    def data_dir(self) -> Path:
        """Where payload files go (the bag's `data/`)."""
        return self.staging_dir / "data"

    @property
    def payload(self) -> tuple[PayloadFile, ...]:
        """The payload files declared so far, sorted by path."""
        return tuple(self._payload[path] for path in sorted(self._payload))

    def add_payload(
        self,
        relative_path: str,
        size: int,
        sha256_hex: str,
        md5_hex: str | None = None,
        *,
        durable: bool = False,
    ) -> PayloadFile:
        """Declare `data/<relative_path>` ("/"-separated) with its size and digests.

        `durable`: the file's bytes and its entry in its folder are durable already (the
        engine fsyncs what it fetched, renames it into place and fsyncs the folder), so
        `finish` need not sync it again, nor its folder when nothing else there is new."""
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
        if durable:
            self._durable.add(relative_path)
        return entry

    def note(self, label: str, value: str) -> None:
        """Add `value` to the `bag-info.txt` field `label` (notes of one label are joined
        with "; "): what was learnt while the payload was fetched."""
        self._notes.setdefault(label, []).append(value)

    def note_coding(self, name: str, coding: str | None) -> None:
        """Say that payload file `name` is kept content-coded (`gzip`...) as a server sent
        it although identity was asked for; nothing when `coding` is None."""
        if coding is not None:
            self.note("Payload-Content-Coding", f"data/{name}: {coding}")

    async def finish(
        self,
        final_dir: Path,
        *,
        info: Mapping[str, str] | None = None,
        tag_files: Mapping[str, bytes] | None = None,
        tags: Iterable[tuple[str, bytes]] = (),
    ) -> Path:
        """Write the tag files, make the bag durable and rename it to `final_dir`.

        `info` adds `bag-info.txt` fields (`Source-Organization`, `External-Description`,
        ...); the four fields the builder writes itself may not be given.  `tag_files`
        adds tag files of ours by name (`EXTRA_TAG_FILES`: `stac-item.json`), and `tags`
        are (name, content) of the platform's own tag files (`alteryx-messages.json`);
        both are listed in the tag manifest too.  Runs in a worker thread and is
        shielded from cancellation, which takes effect after it.
        """
        extra = dict(info or {})
        extra.update({label: "; ".join(values) for label, values in self._notes.items()})
        for label in extra:
            if label.lower() in _RESERVED:
                raise ValueError(f"bag-info field {label!r} is written by the builder")
        if self._finished:
            raise ArchiveError(f"the bag of {self.ref.key} is already finished")
        # Shielded: a cancelled caller still learns nothing false, because the rename
        # either happened (and the builder knows it) or did not.
        with anyio.CancelScope(shield=True):
            replaced = await anyio.to_thread.run_sync(
                self._finish_sync, final_dir, extra, _tag_files(tag_files, tags)
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
        staging = self.jail.relative(self.staging_dir)
        await anyio.to_thread.run_sync(self.jail.rmtree, staging)

    def payload_size(self, relative_path: str) -> int | None:
        """The size of `data/<relative_path>` when it is a regular file, else None.

        Walked from the archive root: a link on the way raises `PlantedLink`.
        """
        where = self.jail.relative(self.data_dir) / relative_path
        found = self.jail.lstat(where)
        return found.st_size if found is not None and stat.S_ISREG(found.st_mode) else None

    # --- blocking work, in a worker thread ------------------------------------------------

    def _finish_sync(
        self, final_dir: Path, info: dict[str, str], extra_tags: dict[str, bytes]
    ) -> Path | None:
        jail = self.jail
        staging, final = jail.relative(self.staging_dir), jail.relative(final_dir)
        if staging == final or staging in final.parents or final in staging.parents:
            raise ValueError("the staging folder and the final path must not contain each other")
        try:
            bag = StagedBag(jail, staging)  # data/ made for a package of no file at all
            try:
                self._check_staging(bag)
                with contextlib.closing(FinalPlace(jail, final)) as place:
                    must_replace = self._check_destination(final, place.found())
                    now = self._clock.utcnow()
                    tag_files = render_tag_files(
                        self.ref.key,
                        self.payload,
                        bagging_date=now.date().isoformat(),
                        agent=f"downloader {__version__}",
                        info=info,
                        extra=extra_tags,
                    )
                    bag.sync(bag.write_tags(tag_files), self._payload, self._durable, self._syncer)
                    replaced = None
                    if must_replace:
                        replaced = self._move_aside(final, now.strftime("%Y%m%dT%H%M%SZ"))
                    place.move_in(staging, self._syncer)
            finally:
                bag.close()
        except OSError as exc:
            raise ArchiveError(f"cannot archive {self.ref.key} at {final_dir}: {exc}") from exc
        return replaced

    def _check_staging(self, bag: StagedBag) -> None:
        """Every file under data/ declared, of the declared size; no stray entries."""
        for name, is_dir, is_file in bag.top_entries():
            if name == "data" and is_dir:
                continue
            if is_tag_file(name) and is_file:
                bag.remove_top(name)  # stale, from an interrupted finish
                continue
            raise ArchiveError(f"unexpected entry {name!r} in {self.staging_dir}")
        found = bag.payload_sizes()
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

    def _check_destination(self, final: PurePosixPath, found: os.stat_result | None) -> bool:
        """Whether an earlier bag of this item (`found` at `final`) is in the way; refuse
        anything else there."""
        where = self.jail.root / final
        if found is None:
            return False
        if not stat.S_ISDIR(found.st_mode):
            raise ArchiveError(f"{where} exists and is not a directory")
        identifier = read_identifier_in(self.jail, final)
        if identifier is None:
            raise ArchiveError(f"{where} exists and is not a bag; not replacing it")
        if identifier != self.ref.key:
            raise ArchiveError(f"{where} holds the bag of {identifier}, not of {self.ref.key}")
        with self.jail.folder(final) as fd:
            names = os.listdir(fd)
        foreign = sorted(n for n in names if n != "data" and not is_tag_file(n))
        if foreign:
            raise ArchiveError(f"{where} holds entries of no bag {foreign}; not moving them")
        return True

    def _move_aside(self, final: PurePosixPath, stamp: str) -> Path:
        """Move the earlier bag at `final` to `.partial/replaced/`; returns where it went."""
        target = replaced_path(self.ref, stamp)
        counter = 0
        while self.jail.lstat(target) is not None:
            counter += 1
            target = replaced_path(self.ref, f"{stamp}-{counter}")
        self.jail.rename(final, target)
        return self.jail.root / target


def _tag_files(
    ours: Mapping[str, bytes] | None, platform: Iterable[tuple[str, bytes]]
) -> dict[str, bytes]:
    """Our tag files and the platform's by name; a platform's never takes one of ours."""
    files = dict(ours or {})
    for name in files:
        if name not in EXTRA_TAG_FILES:
            raise ValueError(f"{name!r} is not a tag file of ours")
    for name, data in platform:
        if name in EXTRA_TAG_FILES or name in files:
            raise ValueError(f"{name!r} is no name for a platform's tag file")
        files[name] = data
    return files


def read_identifier(bag: Path) -> str | None:
    """The `External-Identifier` of the bag at `bag`; None if it is not a readable bag."""
    return read_identifier_in(Jail(bag), PurePosixPath("."))


def read_identifier_in(jail: Jail, bag: PurePosixPath) -> str | None:
    """The `External-Identifier` of the bag at `bag` below `jail`'s root, no link followed."""
    try:
        info = jail.lstat(bag / "bagit.txt")
        if info is None or not stat.S_ISREG(info.st_mode):
            return None
        text = jail.read_bytes(bag / "bag-info.txt").decode("utf-8")
    except (OSError, UnicodeDecodeError, ArchiveError):
        return None
    fields, _ = parse_bag_info(text)
    return dict(fields).get("External-Identifier")
