"""Pixxel order items: `GET /v0/order-items/{id}` (`clerk.OrderItemResponse`).

An order item is fulfilled when its `done` timing is over, counted in these status
answers (`job_polls`) or in clock seconds from the first request naming it.  Until
then its download cannot be asked for: `POST /v0/catalogs/download` naming it is
answered 400, as are its first `refuse_downloads` requests after (a platform whose
delivery lags behind the item's status).  The body is pure (`order_item_body`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from downloader.emulator._pixxel_catalog import pixxel_error
from downloader.emulator._pixxel_records import images_of
from downloader.emulator._respond import admit, answer
from downloader.emulator._scenario import DownloadKind, PixxelDownload, Timing

if TYPE_CHECKING:
    from downloader.emulator._state import Context

__all__ = ["OrderItems", "order_item_body"]


def _cased(word: str, case: str) -> str:
    if case == "lower":
        return word.lower()
    if case == "title":
        return word.title()
    return word.upper()


def order_item_body(item: PixxelDownload, done: bool) -> dict[str, Any]:
    """What `GET /v0/order-items/{id}` says of `item`, before or after its timing is over."""
    spec = item.order
    status, task_status = "ACTIVE", "IN_PROGRESS"
    if done and spec.task_outcome is not None:
        task_status = spec.task_outcome
    elif done:
        status = task_status = spec.outcome or "FULFILLED"
    delivered = "SUCCESSFUL" if task_status == "FULFILLED" else "PENDING"
    task = {
        "id": f"{item.id}-task-1",
        "order_item_id": item.id,
        "type": "ARCHIVE",
        "status": _cased(task_status, spec.status_case),
        "delivery_status": _cased(delivered, spec.status_case),
    }
    return {
        "id": item.id,
        "order_id": f"order-of-{item.id}",
        "name": f"order item {item.id}",
        "type": "ARCHIVE",
        "status": _cased(status, spec.status_case),
        "payment_status": "PAID",
        "tasks": [task],
        "images": images_of(item),
        "validation_errors": [],
    }


def is_fulfilled(item: PixxelDownload, done: bool) -> bool:
    """Whether the item's package may be asked for."""
    spec = item.order
    return done and spec.outcome is None and spec.task_outcome is None


class OrderItems:
    """The order-item status route, and the gate of order-item downloads."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.items = {
            d.id: d for d in ctx.scenario.pixxel_downloads if d.kind is DownloadKind.ORDER_ITEM
        }
        self._refused: dict[str, int] = {}

    async def get(self, request: web.Request) -> web.StreamResponse:
        item = self.items.get(request.match_info["id"])
        if item is None:
            return pixxel_error(404, "order item not found")
        blocked = admit(self.ctx, item.key, item.knobs, pixxel_error)
        if blocked is not None:
            return blocked
        stats = self.ctx.item(item.key)
        stats.job_polls += 1
        done = self.ctx.is_done(item.key, item.order.done, stats.job_polls)
        return answer(self.ctx, item.key, item.knobs, order_item_body(item, done))

    def refusal(self, item: PixxelDownload) -> web.Response | None:
        """A 400 when a download of `item` may not be asked for yet, else None."""
        stats = self.ctx.item(item.key)
        timing = item.order.done
        # an item of no timing was fulfilled before anyone asked (the scenarios of old)
        done = timing == Timing() or self.ctx.peek_done(item.key, timing, stats.job_polls)
        if not is_fulfilled(item, done):
            return pixxel_error(400, f"order item {item.id} is not fulfilled")
        refused = self._refused.get(item.id, 0)
        if refused < item.order.refuse_downloads:
            self._refused[item.id] = refused + 1
            return pixxel_error(400, f"order item {item.id} has no delivery yet")
        return None
