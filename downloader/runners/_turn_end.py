"""How an item's turn that ends short of its bag is recorded: parked, tried again, failed.

A `Parked` item is scheduled for when the platform is to be asked again, which is
not a try.  A passing failure is scheduled under the `[retry]` budget; a lasting
one, or a spent budget, fails the item with its hook events in the same
transaction.  An exception of no kind of ours is this item's alone: logged once with
its traceback and tried again like any passing failure.
"""

from __future__ import annotations

import errno
from datetime import timedelta
from typing import Any

import structlog

from downloader.errors import DownloaderError, FilesystemError, ItemCrashed
from downloader.hooks._plan import plan_outbox
from downloader.items import ItemRef
from downloader.providers._turn import Parked
from downloader.redact import describe
from downloader.runners._adoption import source_of
from downloader.runners._item_hands import ItemHands
from downloader.runners._retry import gave_up_text
from downloader.store import ItemState

__all__ = ["crashed", "failed", "filesystem_error", "parked"]

log = structlog.get_logger("downloader.pipeline")


async def parked(hands: ItemHands, ref: ItemRef, parked: Parked, bound: Any) -> ItemState:
    """`ref` waits for its platform until `parked.delay` from now, holding no lease."""
    now = hands.clock.utcnow()
    due = now + timedelta(seconds=parked.delay)
    record = await hands.store.schedule(ref.key, due, now=now, owner=hands.owner, counts=False)
    bound.debug("item.parked", what=parked.what, until=due.isoformat(), state=parked.last)
    # as after a retry: the scheduler drops the lease, the store wakes it when due
    return record.state


async def crashed(hands: ItemHands, ref: ItemRef, exc: Exception) -> ItemState:
    """`exc`, of no kind of ours, escaped `ref`'s work: logged once, with its
    traceback, and the item tried again under its budget like any passing failure."""
    bound = log.bind(item=ref.key, provider=ref.provider)
    bound.error("item.crashed", exc_info=exc)
    return await failed(hands, ref, ItemCrashed(exc), bound)


async def failed(hands: ItemHands, ref: ItemRef, exc: DownloaderError, bound: Any) -> ItemState:
    """`ref` tried again later, as its schedule's `[retry]` half says, or failed for good."""
    now = hands.clock.utcnow()
    message = describe(exc)
    if exc.retryable:
        record = await hands.store.get(ref.key)
        tries = (0 if record is None else record.attempts) + 1
        retry_after = getattr(exc, "retry_after", None)
        delay = hands.schedule.retry.next_try(tries, retry_after=retry_after)
        if delay is not None:
            hands.observer.retried(ref.provider, "item")
            record = await hands.store.schedule(
                ref.key,
                now + timedelta(seconds=delay),
                now=now,
                owner=hands.owner,
                error=message,
            )
            bound.warning("item.retry_later", error=message, attempt=tries, delay=delay)
            # the lease is dropped by whoever claimed the item (the scheduler), as for
            # every item that ends its turn short of archived or failed
            return record.state
        message = gave_up_text(message, tries)
    listed_by = await source_of(hands.store, ref.key) if hands.hooks else None
    events = plan_outbox(hands.hooks, "failed", ref, at=now, error=message, listed_by=listed_by)
    await hands.store.transition(
        ref.key,
        ItemState.FAILED,
        now=now,
        owner=hands.owner,
        error=message,
        counts=exc.retryable,
        outbox=events,
    )
    bound.error("item.failed", error=message)
    hands.outbox_written()
    return ItemState.FAILED


# not worth trying again until someone changes the permissions or the mount
_PERMANENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def filesystem_error(exc: OSError) -> FilesystemError:
    """`exc` as the project's error: what the filesystem said, where, and whether to retry."""
    path = exc.filename if isinstance(exc.filename, str) else None
    return FilesystemError(
        f"archive filesystem: {exc.strerror or exc}",
        path=path,
        errno=exc.errno,
        retryable=exc.errno not in _PERMANENT_ERRNOS,
    )
