"""An item's assets fetched straight into its bag under `.partial/`, each one recorded.

An asset the store holds as done, whose file in the bag has the size recorded, is
kept and not asked for again.  Each other one is fetched under a name no other asset
of the item has taken, its progress told to the store as the item's, and recorded
as done before the next begins, so a restart continues after it.
"""

from __future__ import annotations

import dataclasses

from downloader.archive import BagBuilder
from downloader.errors import DownloaderError
from downloader.items import ItemRef
from downloader.observe import counted_refresh
from downloader.providers import Package
from downloader.runners._item_bytes import ItemBytes, known_size
from downloader.runners._item_hands import ItemHands
from downloader.runners._vet import Fetched, url_hint
from downloader.store._models import AssetRecord, AssetState
from downloader.transfer import AssetRequest
from downloader.transfer._names import sanitize_filename

__all__ = ["fetch_assets", "unique_name"]


async def fetch_assets(
    hands: ItemHands, ref: ItemRef, package: Package, bag: BagBuilder
) -> list[Fetched]:
    """Every asset of `package` in `bag`, in order; the item's progress at its total."""
    store, clock, owner = hands.store, hands.clock, hands.owner
    done = {a.asset_key: a for a in await store.assets(ref.key)}
    taken: set[str] = set()
    fetched: list[Fetched] = []
    total_done = 0
    for index, asset in enumerate(package.assets):
        record = done.get(asset.key)
        if (
            record is not None
            and record.state is AssetState.DONE
            and record.sha256
            and bag.payload_size(record.name) == record.size
        ):
            size = record.size or 0
            fetched.append(Fetched(asset, record.name, size, record.sha256))
            taken.add(record.name)
            total_done += size
            continue
        told = ItemBytes(
            store,
            ref.key,
            owner=owner,
            clock=clock,
            before=total_done,
            after=known_size(package.assets[index + 1 :]),
        )
        asset = dataclasses.replace(
            asset,
            on_progress=told.report,
            on_size=told.sized,
            on_wait=hands.waiting(ref.key),
            on_refetch=hands.vetter.refetch_noter(ref, asset.key),
            on_retry=lambda _why: hands.observer.retried(ref.provider, "transfer"),
            refresh_url=counted_refresh(
                asset.refresh_url, lambda: hands.observer.url_refreshed(ref.provider)
            ),
        )
        one = await _fetch(hands, ref, asset, bag, taken)
        fetched.append(one)
        taken.add(one.name)
        await store.save_asset(
            AssetRecord(
                item_key=ref.key,
                asset_key=asset.key,
                name=one.name,
                url_hint=url_hint(asset),
                size=one.size,
                sha256=one.sha256,
                state=AssetState.DONE,
                bytes_done=one.size,
            ),
            now=clock.utcnow(),
        )
        total_done += one.size
        if index < len(package.assets) - 1:  # after the last one, the total is set below
            await store.set_progress(ref.key, total_done, None, now=clock.utcnow(), owner=owner)
    await store.set_progress(ref.key, total_done, total_done, now=clock.utcnow(), owner=owner)
    return fetched


async def _fetch(
    hands: ItemHands, ref: ItemRef, asset: AssetRequest, bag: BagBuilder, taken: set[str]
) -> Fetched:
    # straight into the bag, under a name no other asset of the item has taken
    result = await hands.engine.fetch(asset, bag.data_dir, rename=lambda n: unique_name(n, taken))
    bag.note_coding(result.name, result.content_encoding)  # kept as sent: the bag says so
    hands.observer.fetched(ref.provider, result.bytes_received)
    return Fetched.of(asset, result)


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3` ... before its extension: the first not `taken`."""
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    for n in range(2, 10_000):
        candidate = sanitize_filename(f"{stem}-{n}{'.' + ext if ext else ''}")
        if candidate not in taken:
            return candidate
    raise DownloaderError(f"too many files named {name!r}")
