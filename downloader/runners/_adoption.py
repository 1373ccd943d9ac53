"""An item whose complete bag is already at its final path is archived, not fetched again.

The shell around `archive.adoption_of`: it asks the archive, walks the item through
the allowed transitions to archived, cleans what the item left under `.partial/`,
and says so in the log (`archive.bag_adopted`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath

import anyio
import structlog

from downloader.archive import item_path, staging_path
from downloader.archive._adopt import adoption_of, duplicates_of, steps_to
from downloader.archive._layout import PARTIAL_DIR
from downloader.archive._tagfiles import parse_manifest
from downloader.config import HookSettings
from downloader.errors import PlantedLink
from downloader.hooks._plan import PayloadEntry, plan_outbox
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.runners._records import StoreListener
from downloader.store import ItemState, StateStore
from downloader.store._models import AssetState
from downloader.transfer._checkpoint import work_files_for

__all__ = ["adopt_archived_bag"]

log = structlog.get_logger("downloader.archive")


async def adopt_archived_bag(
    store: StateStore,
    jail: Jail,
    ref: ItemRef,
    listener: StoreListener,
    now: Callable[[], datetime],
    *,
    hooks: Sequence[HookSettings] = (),
) -> Path | None:
    """Take the bag at `ref`'s final path as its archive if it is `ref`'s complete bag;
    returns its path then, else None (and nothing changed).  The `hooks`' events of
    its archiving are recorded with the move to archived, as for a bag just made."""
    final = item_path(ref)
    # the usual case, nothing there yet, costs one stat on the loop (a thread hop would
    # cost more) and no store query; what is there is judged in a thread, by walks
    if not jail.glance(final):
        return None
    current = await listener.current()
    if current is None:
        return None
    assets = await store.assets(ref.key)
    expected = {
        asset.name: (asset.size or 0, asset.sha256)
        for asset in assets
        if asset.state is AssetState.DONE and asset.sha256
    }
    how = await anyio.to_thread.run_sync(adoption_of, jail, final, ref.key, expected)
    if how is None:
        return None
    where = jail.root / final
    await store.record_event(ref.key, "adopted", f"bag at {where} adopted: {how}", now=now())
    files = await anyio.to_thread.run_sync(payload_files, jail, final) if hooks else []
    listed_by = await source_of(store, ref.key) if hooks else None
    for step in steps_to(current, ItemState.ARCHIVED):
        if step is ItemState.ARCHIVED:
            at = now()
            events = plan_outbox(
                hooks,
                "archived",
                ref,
                at=at,
                archive_path=str(where),
                files=files,
                listed_by=listed_by,
            )
            await listener.move(step, archive_path=str(where), outbox=events, at=at)
        else:
            await listener.move(step)
    keys = [a.asset_key for a in assets]
    copies = await anyio.to_thread.run_sync(_clean_leftovers, jail, ref, keys)
    log.info("archive.bag_adopted", item=ref.key, path=str(where), how=how, copies_removed=copies)
    return where


def _clean_leftovers(jail: Jail, ref: ItemRef, asset_keys: list[str]) -> int:
    """What the item's earlier attempts left under `.partial/`: its staging folder and
    work files, and copies of the adopted bag moved aside by runs that fetched it again
    rather than adopt it (a bag moved aside that differs stays); how many copies."""
    jail.rmtree(staging_path(ref))
    for key in asset_keys:
        work_files_for(jail.root / PARTIAL_DIR, key, jail).reset()
    copies = duplicates_of(jail, item_path(ref), ref)
    for copy in copies:
        jail.rmtree(copy)
    return len(copies)


def payload_files(jail: Jail, bag: PurePosixPath) -> list[PayloadEntry]:
    """The payload files of an adopted bag as its manifest and the disk give them (the
    store may know none of them: a lost state database)."""
    try:
        text = jail.read_bytes(bag / "manifest-sha256.txt").decode("utf-8")
        entries, _ = parse_manifest(text)
        files = []
        for entry in entries:
            found = jail.lstat(bag / entry.path)
            files.append(PayloadEntry(entry.path, found.st_size if found else 0, entry.digest))
    except (OSError, UnicodeDecodeError, PlantedLink):  # it passed its audit just now
        return []
    return sorted(files, key=lambda f: f.path)


async def source_of(store: StateStore, key: str) -> str | None:
    """The source that listed the item `key` (e.g. `pixxel:workflow:WF`), or None for
    an item named by its own entry: what its hooks' events name as their `source`."""
    return (await store.sources().item_sources(key)).get(key)
