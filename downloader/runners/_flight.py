"""The items in flight: one task each, from claim to the end of its task.

A slot is what an item holds while its files are fetched: once its assets are all
in, its slot goes to the next claim while the same task files its bag (vets,
bags, archives it), so no slot waits on fsyncs and store round trips with no
file fetched in it.  The items being filed have their own bound: at most
`concurrency` more, so no more than twice `concurrency` items (and their leases
and memory) are held at once (`free_slots`).  An item being filed is still a member:
its lease is renewed, it is cancelled with the others, and the run waits for it.
An item whose work is cancelled (it left the watchlist, its lease was lost, the grace
period is over) says why in its log line.  Each task releases its item's lease as
it ends, unless the item went terminal (the transition dropped it) or the lease
was lost (it is another owner's now).
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import structlog
from anyio.abc import TaskGroup

from downloader.errors import LeaseLost, StoreError
from downloader.items import ItemRef
from downloader.runners._pipeline import ItemWorker
from downloader.store import ItemRecord, ItemState, StateStore, is_terminal

log = structlog.get_logger("downloader.scheduler")


def free_slots(concurrency: int, fetching: int, held: int) -> int:
    """Items that may be claimed now: a slot of `concurrency` is free while fewer
    items than that are fetching, and `held` (fetching and filing) stays within twice
    `concurrency`."""
    return max(0, min(concurrency - fetching, 2 * concurrency - held))


class Flight:
    """Works each claimed item in its own task, up to `concurrency` at once."""

    def __init__(
        self,
        *,
        store: StateStore,
        worker: ItemWorker,
        owner: str,
        concurrency: int,
        on_end: Callable[[], None],
    ) -> None:
        self.store, self.worker, self.owner = store, worker, owner
        self.concurrency = concurrency
        self._on_end = on_end
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._why: dict[str, str] = {}
        self._lost: set[str] = set()
        self._fetching: set[str] = set()
        """Keys holding a slot: claimed and not yet done fetching."""
        self._empty = anyio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._scopes)

    def __contains__(self, key: object) -> bool:
        return key in self._scopes

    def members(self) -> frozenset[str]:
        return frozenset(self._scopes)

    def held(self) -> list[str]:
        """Keys whose lease is still ours as far as known: those to renew."""
        return [k for k in self._scopes if k not in self._lost]

    def filing(self) -> frozenset[str]:
        """Keys whose files are all fetched, being filed: holding no slot."""
        return frozenset(self._scopes.keys() - self._fetching)

    @property
    def free(self) -> int:
        return free_slots(self.concurrency, len(self._fetching), len(self._scopes))

    def start(self, items: TaskGroup, ref: ItemRef, record: ItemRecord) -> None:
        scope = anyio.CancelScope()
        self._scopes[ref.key] = scope
        self._fetching.add(ref.key)
        self._empty = anyio.Event()
        items.start_soon(self._work_one, ref, scope, record, name=f"item {ref.key}")

    def cancel(self, key: str, reason: str) -> None:
        scope = self._scopes.get(key)
        if scope is not None and not scope.cancel_called:
            self._why[key] = reason
            scope.cancel()

    def cancel_all(self, reason: str) -> None:
        for key in list(self._scopes):
            self.cancel(key, reason)

    def lose(self, key: str) -> None:
        """Its lease passed to another owner: stop its work, leave the lease alone."""
        self._lost.add(key)
        self.cancel(key, "lease lost")

    async def emptied(self) -> None:
        await self._empty.wait()

    def _fetched(self, key: str) -> None:
        """`key`'s files are all in: its slot is the next claim's while it is filed."""
        if key in self._fetching:
            self._fetching.discard(key)
            self._on_end()

    async def _work_one(self, ref: ItemRef, scope: anyio.CancelScope, claimed: ItemRecord) -> None:
        key = ref.key
        state: ItemState | None = None
        try:
            with scope:
                state = await self.worker.work(
                    ref, claimed.state, park=True, fetched=lambda: self._fetched(key)
                )
            if scope.cancelled_caught:
                log.info("item.stopped", item=key, reason=self._why.get(key, ""))
        except LeaseLost as exc:
            self._lost.add(key)
            self.worker.observer.lease_lost()
            log.warning("item.lease_lost", item=key, holder=exc.holder)
        except Exception as exc:  # escaped the worker's own net: this item's, still
            with anyio.CancelScope(shield=True):
                try:
                    state = await self.worker.crashed(ref, exc)
                except Exception as again:  # the store too: the lease runs out, it comes back
                    log.warning("item.schedule_failed", item=key, error=str(again))
        finally:
            del self._scopes[key]
            self._fetching.discard(key)
            self._why.pop(key, None)
            # the transition to archived or failed dropped the lease with it: one store
            # call fewer per finished item
            if key not in self._lost and (state is None or not is_terminal(state)):
                with anyio.CancelScope(shield=True):
                    await release(self.store, self.owner, key)
            self._lost.discard(key)
            if not self._scopes:
                self._empty.set()
            self._on_end()


async def release(store: StateStore, owner: str, key: str) -> None:
    try:
        await store.release(owner, key)
    except StoreError as exc:  # the lease then simply expires
        log.warning("lease.release_failed", item=key, error=str(exc))
