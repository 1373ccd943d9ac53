"""The archive's STAC Catalog, `<root>/catalog.json`: one `item` link per bag.

`add_to_catalog` links a newly archived bag's `stac-item.json`.  The file is read,
changed and written whole under an exclusive `flock` of `<root>/.partial/catalog.lock`
(several processes, even on several hosts sharing the archive, add bags at once),
and replaced with `os.replace` after an fsync, so a reader sees the old catalog or
the new one, never half of one.  A catalog that cannot be read (damaged, or of
something else) is rebuilt from the bags on disk rather than trusted or lost.

Blocking: call it from a worker thread.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

import pystac
import structlog

from downloader.archive._stac import STAC_ITEM
from downloader.transfer._writer import fsync_dir

__all__ = ["CATALOG", "CATALOG_ID", "add_to_catalog", "catalog_href_from", "item_link"]

log = structlog.get_logger("downloader.archive")

CATALOG = "catalog.json"
CATALOG_ID = "downloader-archive"
_LOCK = (".partial", "catalog.lock")


def catalog_href_from(relative_bag: PurePath) -> str:
    """`catalog.json` as seen from the bag at `relative_bag` (relative to the root)."""
    return "../" * len(relative_bag.parts) + CATALOG


def item_link(relative_bag: PurePath, key: str) -> dict[str, Any]:
    """The catalog's link to the STAC Item of the bag at `relative_bag`."""
    link = pystac.Link(
        pystac.RelType.ITEM,
        f"./{relative_bag.as_posix()}/{STAC_ITEM}",
        media_type=pystac.MediaType.GEOJSON,
        title=key,
    )
    return link.to_dict(transform_href=False)


def _empty_catalog() -> dict[str, Any]:
    catalog = pystac.Catalog(
        id=CATALOG_ID,
        description="Every bag of this archive, each described by its STAC Item.",
        title="downloader archive",
    )
    document = catalog.to_dict(include_self_link=False, transform_hrefs=False)
    root = pystac.Link(pystac.RelType.ROOT, f"./{CATALOG}", media_type=pystac.MediaType.JSON)
    document["links"] = [root.to_dict(transform_href=False)]
    return document


def add_to_catalog(root: Path, relative_bag: PurePath, key: str) -> None:
    """Link the bag at `root / relative_bag` from `<root>/catalog.json`."""
    lock_path = root.joinpath(*_LOCK)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        document, rebuilt = _read(root)
        link = item_link(relative_bag, key)
        links = document["links"]
        known = any(other.get("href") == link["href"] for other in links if isinstance(other, dict))
        if known and not rebuilt:
            return
        if not known:
            links.append(link)
        _replace(root / CATALOG, document)
    finally:
        os.close(fd)  # drops the lock


def _read(root: Path) -> tuple[dict[str, Any], bool]:
    """The catalog as it is on disk, or built anew; whether it was rebuilt."""
    path = root / CATALOG
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return _empty_catalog(), False
    except (OSError, ValueError) as exc:
        log.warning("archive.catalog_rebuilt", path=str(path), reason=str(exc))
        return _rebuilt(root), True
    if (
        not isinstance(document, dict)
        or document.get("type") != "Catalog"
        or not isinstance(document.get("links"), list)
    ):
        log.warning("archive.catalog_rebuilt", path=str(path), reason="not a STAC Catalog")
        return _rebuilt(root), True
    return document, False


def _rebuilt(root: Path) -> dict[str, Any]:
    document = _empty_catalog()
    for relative, key in _bags_with_items(root):
        document["links"].append(item_link(relative, key))
    return document


def _bags_with_items(root: Path) -> Iterator[tuple[PurePath, str]]:
    """Every bag below `root` that holds a STAC Item, with its key; `.partial/` skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if "bagit.txt" in filenames:
            dirnames[:] = []  # a bag's payload holds no bag of ours
            if STAC_ITEM in filenames:
                try:
                    key = json.loads((here / STAC_ITEM).read_bytes())["id"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                yield here.relative_to(root), str(key)
        dirnames.sort()


def _replace(path: Path, document: dict[str, Any]) -> None:
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_dir(path.parent)
