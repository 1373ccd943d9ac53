"""Taking a complete bag found at an item's final path as the item's archive.

Two ways leave a good bag where the state store does not know it as archived: a
process killed between the bag's rename and the store's "archived", and a state
database lost (or started empty) next to a full archive.  Fetching such an item
again would cost the whole download and move the good bag aside.  So before an
item is worked, a bag of that item at its final path is judged:

- the store recorded the item's files (name, size, SHA-256): the bag is adopted
  when its `manifest-sha256.txt`, its `Payload-Oxum` and the sizes on disk say
  exactly those files, nothing re-read (the bytes were verified as they came); when
  it holds a recorded ZIP as the files unpacked from it (`[archive] extract`), whose
  digests the store never saw, only if the full audit passes too;
- the store knows no file of the item: the bag is adopted only when the full
  audit passes (every payload byte re-hashed against every manifest);
- anything else (another item's bag, files other than the recorded ones, a
  failed audit) is left to the usual path, which fetches again and moves the old
  bag aside.

`judge_bag` and `steps_to` are the pure decisions; `adoption_of` is the shell.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Mapping
from enum import StrEnum
from pathlib import PurePosixPath

from downloader.archive._audit import verify_bag
from downloader.archive._layout import REPLACED_DIR, replaced_prefix
from downloader.archive._tagfiles import parse_bag_info, parse_manifest, parse_oxum
from downloader.errors import PlantedLink
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.store._lifecycle import TRANSITIONS, ItemState

__all__ = ["Verdict", "adoption_of", "duplicates_of", "judge_bag", "steps_to", "unpacked_folder"]

Expected = Mapping[str, tuple[int, str]]
"""What the store recorded of an item's files: name below `data/` -> (size, SHA-256)."""


class Verdict(StrEnum):
    """What to make of a bag found at an item's final path."""

    ADOPT = "adopt"
    """It holds exactly the files the store recorded: the item is archived."""
    AUDIT = "audit"
    """The store recorded no file, or recorded a ZIP the bag holds unpacked: adopt it
    only if the full audit passes."""
    LEAVE = "leave"
    """Not this item's complete bag: work the item as usual."""


def judge_bag(
    key: str,
    identifier: str | None,
    manifest: Mapping[str, str] | None,
    oxum: tuple[int, int] | None,
    sizes: Mapping[str, int],
    expected: Expected,
) -> Verdict:
    """The verdict on a bag of `identifier` whose `manifest-sha256.txt` says `manifest`
    (None: missing or malformed), whose `Payload-Oxum` says `oxum` and whose payload
    files have `sizes` on disk (paths with their `data/`), for item `key`."""
    if identifier != key or manifest is None:
        return Verdict.LEAVE
    if not expected:
        return Verdict.AUDIT
    wanted_digests = {f"data/{name}": sha256 for name, (_, sha256) in expected.items()}
    wanted_sizes = {f"data/{name}": size for name, (size, _) in expected.items()}
    total = (sum(wanted_sizes.values()), len(wanted_sizes))
    if manifest == wanted_digests and dict(sizes) == wanted_sizes and oxum == total:
        return Verdict.ADOPT
    if _holds_unpacked(manifest, sizes, expected):
        return Verdict.AUDIT
    return Verdict.LEAVE


def unpacked_folder(name: str) -> str:
    """The folder below `data/` that a ZIP payload file `name` is unpacked into (with
    `[archive] extract`), as the pipeline names it."""
    return name.removesuffix(".zip") or "package"


def _holds_unpacked(
    manifest: Mapping[str, str], sizes: Mapping[str, int], expected: Expected
) -> bool:
    """Whether the bag holds every recorded file as it was fetched or, for a ZIP, as the
    files unpacked from it (at least one so), and nothing else.  The unpacked files'
    digests are not recorded: only the full audit can vouch for them."""
    claimed: set[str] = set()
    unpacked = False
    for name, (size, sha256) in expected.items():
        path = f"data/{name}"
        if manifest.get(path) == sha256 and sizes.get(path) == size:
            claimed.add(path)
            continue
        prefix = f"data/{unpacked_folder(name)}/"
        inside = {entry for entry in manifest if entry.startswith(prefix)}
        if not inside:
            return False
        claimed |= inside
        unpacked = True
    return unpacked and claimed == set(manifest) == set(sizes)


def steps_to(current: ItemState, target: ItemState) -> list[ItemState]:
    """The shortest run of allowed transitions from `current` to `target` (none: [])."""
    paths: deque[list[ItemState]] = deque([[current]])
    seen = {current}
    while paths:
        path = paths.popleft()
        if path[-1] is target:
            return path[1:]
        for following in sorted(TRANSITIONS[path[-1]]):
            if following not in seen:
                seen.add(following)
                paths.append([*path, following])
    return []


def _read(jail: Jail, path: PurePosixPath) -> str | None:
    try:
        return jail.read_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _payload_sizes(jail: Jail, bag: PurePosixPath) -> dict[str, int] | None:
    """Size of every regular file below `data/`; None when a link or odd entry is there."""
    sizes: dict[str, int] = {}
    for dirpath, dirnames, filenames, dirfd in jail.walk(bag / "data"):
        for name in dirnames + filenames:
            mode = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if stat.S_ISREG(mode.st_mode):
                sizes[os.path.normpath(os.path.join("data", dirpath, name))] = mode.st_size
            elif not stat.S_ISDIR(mode.st_mode):
                return None
    return sizes


def adoption_of(jail: Jail, bag: PurePosixPath, key: str, expected: Expected) -> str | None:
    """How the bag at `bag` below `jail`'s root is adopted as `key`'s archive (a few
    words for the log), or None when it is not.  Blocking: run it in a worker thread."""
    try:
        found = jail.lstat(bag)
        if found is None or not stat.S_ISDIR(found.st_mode):
            return None
        info_text = _read(jail, bag / "bag-info.txt")
        manifest_text = _read(jail, bag / "manifest-sha256.txt")
        sizes = _payload_sizes(jail, bag)
    except (OSError, PlantedLink):
        return None  # the usual path says what is wrong there
    if info_text is None or sizes is None:
        return None
    fields = dict(parse_bag_info(info_text)[0])
    manifest: dict[str, str] | None = None
    if manifest_text is not None:
        entries, errors = parse_manifest(manifest_text)
        manifest = None if errors else {entry.path: entry.digest for entry in entries}
    oxum = parse_oxum(fields.get("Payload-Oxum", ""))
    verdict = judge_bag(key, fields.get("External-Identifier"), manifest, oxum, sizes, expected)
    if verdict is Verdict.ADOPT:
        return "its manifest holds the files the state store recorded"
    if verdict is Verdict.AUDIT and verify_bag(jail.root / bag, jail=jail).ok:
        if expected:
            return "it holds the recorded files, ZIPs unpacked, and passed the full audit"
        return "the state store knew none of its files, and it passed the full audit"
    return None


def duplicates_of(jail: Jail, bag: PurePosixPath, ref: ItemRef) -> list[PurePosixPath]:
    """The bags of `ref` below `.partial/replaced` that are copies of the bag at `bag`:
    the same `External-Identifier` and the same `manifest-sha256.txt`, byte for byte.

    Left there when an older run fetched a bag again instead of adopting it; they hold
    nothing the archived bag does not.  A moved-aside bag that differs is not one.
    """
    try:
        own = _read(jail, bag / "manifest-sha256.txt")
        with jail.folder(REPLACED_DIR) as fd:
            names = sorted(n for n in os.listdir(fd) if n.startswith(replaced_prefix(ref)))
    except (OSError, PlantedLink):
        return []
    found: list[PurePosixPath] = []
    for name in names:
        candidate = REPLACED_DIR / name
        try:
            info = jail.lstat(candidate)
            if info is None or not stat.S_ISDIR(info.st_mode):
                continue
            fields = dict(parse_bag_info(_read(jail, candidate / "bag-info.txt") or "")[0])
            manifest = _read(jail, candidate / "manifest-sha256.txt")
        except (OSError, PlantedLink):
            continue
        if own is not None and manifest == own and fields.get("External-Identifier") == ref.key:
            found.append(candidate)
    return found
