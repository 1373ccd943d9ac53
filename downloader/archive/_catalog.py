"""The archive's STAC Catalog, `<root>/catalog.json`: one `item` link per bag.

`add_to_catalog` links a newly archived bag's `stac-item.json`, `add_many_to_catalog`
a batch of them in one rewrite, and `repair_catalog` every bag present that the
catalog lacks (after a crash left links owed, `_catalog_pending`).  Every file here
(the catalog, its lock, the bags' Items read to rebuild it) is reached through the
archive root's jail: no link planted below the root is ever followed.  The file is read,
changed and written whole under an exclusive `flock` of `<root>/.partial/catalog.lock`
(several processes, even on several hosts sharing the archive, add bags at once),
and replaced with `os.replace` after an fsync, so a reader sees the old catalog or
the new one, never half of one.  A catalog that cannot be read (damaged, or of
something else) is rebuilt from the bags on disk rather than trusted or lost.

Blocking: call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import PurePath, PurePosixPath
from typing import Any

import structlog

from downloader.archive._stac import STAC_ITEM
from downloader.errors import PlantedLink
from downloader.jail import Jail

__all__ = [
    "CATALOG",
    "CATALOG_ID",
    "add_many_to_catalog",
    "add_to_catalog",
    "catalog_href_from",
    "item_link",
    "repair_catalog",
]

log = structlog.get_logger("downloader.archive")

CATALOG = "catalog.json"
CATALOG_ID = "downloader-archive"
_LOCK = (".partial", "catalog.lock")


def catalog_href_from(relative_bag: PurePath) -> str:
    """`catalog.json` as seen from the bag at `relative_bag` (relative to the root)."""
    return "../" * len(relative_bag.parts) + CATALOG


def item_link(relative_bag: PurePath, key: str) -> dict[str, Any]:
    """The catalog's link to the STAC Item of the bag at `relative_bag`."""
    import pystac  # loaded when a bag is finished, not before the first request

    link = pystac.Link(
        pystac.RelType.ITEM,
        f"./{relative_bag.as_posix()}/{STAC_ITEM}",
        media_type=pystac.MediaType.GEOJSON,
        title=key,
    )
    return link.to_dict(transform_href=False)


def _empty_catalog() -> dict[str, Any]:
    import pystac

    catalog = pystac.Catalog(
        id=CATALOG_ID,
        description="Every bag of this archive, each described by its STAC Item.",
        title="downloader archive",
    )
    document = catalog.to_dict(include_self_link=False, transform_hrefs=False)
    root = pystac.Link(pystac.RelType.ROOT, f"./{CATALOG}", media_type=pystac.MediaType.JSON)
    document["links"] = [root.to_dict(transform_href=False)]
    return document


def add_to_catalog(jail: Jail, relative_bag: PurePath, key: str) -> None:
    """Link the bag at `relative_bag` below `jail`'s root from `<root>/catalog.json`."""
    add_many_to_catalog(jail, [(relative_bag, key)])


def add_many_to_catalog(jail: Jail, bags: Iterable[tuple[PurePath, str]]) -> None:
    """Link each (bag, key) of `bags` from `<root>/catalog.json` in one rewrite: the
    catalog is read, changed and written whole, so a batch costs what one link does."""
    with _locked(jail):
        document, rebuilt = _read(jail)
        if _linked(document, (item_link(relative, key) for relative, key in bags)) or rebuilt:
            _replace(jail, document)


def repair_catalog(jail: Jail) -> int:
    """Link every bag below the root that holds a STAC Item and is not linked yet (links
    a crash left unwritten); how many were added.  Walks the whole archive."""
    with _locked(jail):
        document, rebuilt = _read(jail)
        added = _linked(document, (item_link(r, key) for r, key in _bags_with_items(jail)))
        if added or rebuilt:
            _replace(jail, document)
        return added


@contextlib.contextmanager
def _locked(jail: Jail) -> Iterator[None]:
    """The catalog's exclusive `flock`, held by one writer at a time across processes."""
    fd = jail.open(PurePosixPath(*_LOCK), os.O_RDWR | os.O_CREAT, 0o640, create_parents=True)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


def _linked(document: dict[str, Any], links: Iterable[dict[str, Any]]) -> int:
    """Append each of `links` that `document` lacks; how many were appended."""
    links_now = document["links"]
    known = {other.get("href") for other in links_now if isinstance(other, dict)}
    added = 0
    for link in links:
        if link["href"] not in known:
            known.add(link["href"])
            links_now.append(link)
            added += 1
    return added


def _read(jail: Jail) -> tuple[dict[str, Any], bool]:
    """The catalog as it is on disk, or built anew; whether it was rebuilt."""
    path = str(jail.root / CATALOG)
    try:
        document = json.loads(jail.read_bytes(CATALOG))
    except FileNotFoundError:
        return _empty_catalog(), False
    except (OSError, ValueError, PlantedLink) as exc:
        # a link planted there is never read through, but replaced by a catalog of ours
        log.warning("archive.catalog_rebuilt", path=path, reason=str(exc))
        return _rebuilt(jail), True
    if (
        not isinstance(document, dict)
        or document.get("type") != "Catalog"
        or not isinstance(document.get("links"), list)
    ):
        log.warning("archive.catalog_rebuilt", path=path, reason="not a STAC Catalog")
        return _rebuilt(jail), True
    return document, False


def _rebuilt(jail: Jail) -> dict[str, Any]:
    document = _empty_catalog()
    for relative, key in _bags_with_items(jail):
        document["links"].append(item_link(relative, key))
    return document


def _bags_with_items(jail: Jail) -> Iterator[tuple[PurePath, str]]:
    """Every bag below the root that holds a STAC Item, with its key; `.partial/` skipped,
    and no link followed (walked by folder descriptors)."""
    for dirpath, dirnames, filenames, dirfd in jail.walk("."):
        here = PurePosixPath(dirpath)
        if dirpath == ".":
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if "bagit.txt" in filenames:
            dirnames[:] = []  # a bag's payload holds no bag of ours
            if STAC_ITEM in filenames:
                try:
                    key = json.loads(_read_at(dirfd, STAC_ITEM))["id"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                yield here, str(key)
        dirnames.sort()


def _read_at(dirfd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _replace(jail: Jail, document: dict[str, Any]) -> None:
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    with jail.parent_of(CATALOG) as (parent, name):
        temporary = f".{name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=parent)  # a link left there is removed, not followed
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o640, dir_fd=parent)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # the entry named catalog.json is replaced, whatever it was (a link included)
        os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
        os.fsync(parent)
