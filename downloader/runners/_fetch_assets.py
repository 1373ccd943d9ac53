"""An item's assets fetched straight into its bag under `.partial/`, side by side, each
one recorded.

An asset the store holds as done, whose file in the bag has the size recorded, is
kept and not asked for again.  The others are handed to the engine together, as many
at a time as it runs files (`max_concurrent`; it keeps `max_per_host` itself), in
package order.  Each is recorded as done as soon as it is in the bag, so a restart
or a retry continues after it; the first failure stops the others (their bytes so
far kept for a resume) and fails the item with its own error.  Names come from
`_asset_names`, the item's progress (the sum over its assets) from `_item_bytes`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

import anyio

from downloader.archive import BagBuilder
from downloader.items import ItemRef
from downloader.observe import counted_refresh
from downloader.providers import Package
from downloader.runners._asset_names import AssetNames, predicted_name
from downloader.runners._item_bytes import AssetTally, ItemBytes
from downloader.runners._item_hands import ItemHands
from downloader.runners._vet import Fetched, url_hint
from downloader.store._models import AssetRecord, AssetState
from downloader.transfer import AssetRequest

__all__ = ["fetch_assets", "first_failure", "in_order"]


async def fetch_assets(
    hands: ItemHands, ref: ItemRef, package: Package, bag: BagBuilder
) -> list[Fetched]:
    """Every asset of `package` in `bag`, in order; the item's progress at its total."""
    store, clock = hands.store, hands.clock
    assets = package.assets
    done = {a.asset_key: a for a in await store.assets(ref.key)}
    slots = [_kept(done.get(a.key), a, bag) for a in assets]
    tally = AssetTally.of([a.expected_size for a in assets])
    for index, kept in enumerate(slots):
        if kept is not None:
            tally.kept(index, kept.size)
    names = AssetNames(k.name for k in slots if k is not None)
    foreseen = [
        None if k is not None else predicted_name(a) for k, a in zip(slots, assets, strict=True)
    ]
    planned = names.plan(foreseen)
    told = ItemBytes(store, ref.key, tally, owner=hands.owner, clock=clock)

    async def fetch(index: int) -> None:
        asset = _dressed(hands, ref, assets[index], told, index)
        rename = names.renamer(foreseen[index], planned[index])
        one = await _fetch(hands, ref, asset, bag, rename)
        slots[index] = one
        # in the bag now: recorded even if a sibling's failure is cancelling this one
        with anyio.CancelScope(shield=True):
            await _record_done(hands, ref, asset, one)

    pending = [i for i, kept in enumerate(slots) if kept is None]
    await in_order(pending, fetch, width=hands.engine.limits.max_concurrent)
    fetched = [one for one in slots if one is not None]
    total = sum(one.size for one in fetched)
    await store.set_progress(ref.key, total, total, now=clock.utcnow(), owner=hands.owner)
    return fetched


async def in_order(
    indices: Sequence[int], work: Callable[[int], Awaitable[None]], *, width: int
) -> None:
    """`work` on each of `indices`, at most `width` at once, begun in the order given;
    the first failure cancels the rest and is raised as itself."""
    queue = iter(indices)

    async def worker() -> None:
        for index in queue:  # one iterator shared: each index is taken once
            await work(index)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(min(max(width, 1), len(indices))):
                tg.start_soon(worker)
    except BaseExceptionGroup as group:
        raise first_failure(group) from None


def first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The failure a task group ended with: its first error that is not the
    cancellation the failure caused in the other tasks."""
    cancelled = anyio.get_cancelled_exc_class()
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack[:0] = exc.exceptions
        else:
            leaves.append(exc)
    for exc in leaves:
        if not isinstance(exc, cancelled):
            return exc
    return leaves[0]


def _kept(record: AssetRecord | None, asset: AssetRequest, bag: BagBuilder) -> Fetched | None:
    """The asset as recorded done, when its file in the bag is still whole."""
    if (
        record is None
        or record.state is not AssetState.DONE
        or not record.sha256
        or bag.payload_size(record.name) != record.size
    ):
        return None
    return Fetched(asset, record.name, record.size or 0, record.sha256)


def _dressed(
    hands: ItemHands, ref: ItemRef, asset: AssetRequest, told: ItemBytes, index: int
) -> AssetRequest:
    """`asset` with the item's effects: progress into the item's sum, the waits, the
    refetches, retries and URL refreshes told to the store and the observer."""
    return dataclasses.replace(
        asset,
        on_progress=told.reporter(index),
        on_size=told.sizer(index),
        on_wait=hands.waiting(ref.key),
        on_refetch=hands.vetter.refetch_noter(ref, asset.key),
        on_retry=lambda _why: hands.observer.retried(ref.provider, "transfer"),
        refresh_url=counted_refresh(
            asset.refresh_url, lambda: hands.observer.url_refreshed(ref.provider)
        ),
    )


async def _fetch(
    hands: ItemHands,
    ref: ItemRef,
    asset: AssetRequest,
    bag: BagBuilder,
    rename: Callable[[str], str],
) -> Fetched:
    # straight into the bag, under a name no other asset of the item has taken
    result = await hands.engine.fetch(asset, bag.data_dir, rename=rename)
    bag.note_coding(result.name, result.content_encoding)  # kept as sent: the bag says so
    hands.observer.fetched(ref.provider, result.bytes_received)
    return Fetched.of(asset, result)


async def _record_done(hands: ItemHands, ref: ItemRef, asset: AssetRequest, one: Fetched) -> None:
    await hands.store.save_asset(
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
        now=hands.clock.utcnow(),
    )
