"""An item's fetched files vetted, described and filed as a bag; the item archived.

Each file is vetted (a ZIP's members checked and repaired) and added to the bag's
payload; `bag-info.txt` says what the platform called the package and which source
listed the item; the STAC Item describes it.  The bag is renamed into its final
place only when complete, linked in the catalog, and the item moved to archived
with its hook events in the same transaction.
"""

from __future__ import annotations

from pathlib import Path

from downloader.archive import BagBuilder, item_path
from downloader.hooks._plan import PayloadEntry, plan_outbox
from downloader.items import ItemRef
from downloader.providers import Package
from downloader.runners._describe import stac_tag_files
from downloader.runners._item_hands import ItemHands
from downloader.runners._vet import Fetched, url_hint
from downloader.store import ItemState

__all__ = ["SOURCE_FIELD", "file_bag"]

SOURCE_FIELD = "Downloader-Source"
"""The `bag-info.txt` field naming the source that listed the item."""


async def file_bag(
    hands: ItemHands, ref: ItemRef, package: Package, bag: BagBuilder, fetched: list[Fetched]
) -> Path:
    """The bag of `ref` at its final path, and the item archived; that path."""
    store, clock, owner = hands.store, hands.clock, hands.owner
    # the item was moved to downloading before its fetch, and nothing but its worker moves it
    await store.transition(ref.key, ItemState.VERIFYING, now=clock.utcnow(), owner=owner)
    files: list[PayloadEntry] = []
    sources: dict[str, str] = {}
    for one in fetched:
        for entry in await hands.vetter.vet(ref, one, bag):
            # the file as the engine delivered it in this turn is durable (fsynced, renamed,
            # its folder fsynced); one kept from an earlier run, repaired in place or
            # unpacked is not known to be
            durable = one.is_zip is not None and entry == one.payload
            added = bag.add_payload(*entry, durable=durable)
            files.append(PayloadEntry(f"data/{added.path}", added.size, added.sha256))
            sources[entry[0]] = url_hint(one.asset) or ""
    info: dict[str, str] = {}
    if package.download_id:
        info["External-Description"] = f"{package.description} {package.download_id}".strip()
    source = (await store.sources().item_sources(ref.key)).get(ref.key)
    if source is not None:  # listed by a source: which one, for whoever reads the bag
        info[SOURCE_FIELD] = source
    await hands.engine.space.room_for(0, hands.waiting(ref.key), key=ref.key)
    relative = item_path(ref)
    tag_files = stac_tag_files(
        ref,
        package,
        bag.payload,
        sources,
        relative_bag=relative,
        bagged_at=clock.utcnow(),
        listed_by=source,
    )
    final = await bag.finish(
        hands.root / relative, info=info, tag_files=tag_files, tags=package.tag_files
    )
    await hands.catalog.link(relative, ref.key)
    now = clock.utcnow()
    events = plan_outbox(
        hands.hooks,
        "archived",
        ref,
        at=now,
        archive_path=str(final),
        files=files,
        listed_by=source,
    )
    await store.transition(
        ref.key,
        ItemState.ARCHIVED,
        now=now,
        owner=owner,
        archive_path=str(final),
        outbox=events,
    )
    hands.outbox_written()
    return final
