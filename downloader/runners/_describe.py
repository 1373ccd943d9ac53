"""A bag's STAC Item from what the pipeline knows, and its link in the archive's catalog.

The item worker gathers where each payload file came from while it vets them; this
turns that, the item and its package into the `stac-item.json` tag file, and links
the finished bag from `<root>/catalog.json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import PurePath, PurePosixPath

import anyio
import structlog

from downloader.archive._catalog import add_to_catalog, catalog_href_from
from downloader.archive._stac import STAC_ITEM, ItemFacts, render_stac_item
from downloader.archive._tagfiles import PayloadFile
from downloader.errors import PlantedLink
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.providers import Package

__all__ = ["link_in_catalog", "stac_tag_files"]

log = structlog.get_logger("downloader.archive")


def stac_tag_files(
    ref: ItemRef,
    package: Package,
    payload: Sequence[PayloadFile],
    sources: Mapping[str, str],
    *,
    relative_bag: PurePath,
    bagged_at: datetime,
) -> dict[str, bytes]:
    """The tag files describing the bag of `ref` (its STAC Item), by name."""
    scene = package.scene
    facts = ItemFacts(
        ref,
        description=package.description,
        download_id=package.download_id,
        sources=sources,
        geometry=scene.geometry if scene else None,
        acquired=scene.acquired if scene else None,
        acquired_range=scene.acquired_range if scene else None,
    )
    item = render_stac_item(
        facts, payload, bagged_at=bagged_at, catalog_href=catalog_href_from(relative_bag)
    )
    return {STAC_ITEM: item}


async def link_in_catalog(
    jail: Jail, relative_bag: PurePath, key: str, *, if_described: bool = False
) -> None:
    """Link the finished bag from the archive's catalog; with `if_described`, only when
    it holds a STAC Item (an adopted bag may come from before bags carried one).

    The bag is in place already and complete without its link, so a catalog that
    cannot be written is logged (`archive.catalog_not_updated`) rather than made the
    item's failure, which would have it fetched and archived again."""
    try:
        if if_described:
            where = PurePosixPath(relative_bag.as_posix(), STAC_ITEM)
            if await anyio.to_thread.run_sync(jail.lstat, where) is None:
                return
        await anyio.to_thread.run_sync(add_to_catalog, jail, relative_bag, key)
    except (OSError, PlantedLink) as exc:
        log.warning("archive.catalog_not_updated", item=key, error=str(exc))
