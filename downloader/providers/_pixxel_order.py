"""Waiting for a Pixxel order item to be fulfilled before its download is asked for.

An order item (`GET /v0/order-items/{id}`) is `ACTIVE` while the platform takes,
processes and delivers its images, which may be days; only a `FULFILLED` one has
something to download.  So it is read first, on the `[poll]` schedule, until it is
fulfilled; `CANCELLED` or `FAILED`, or a task of it `EXPIRED`, fail the item with
that reason.  The download request that follows may still be refused with a 400
while the delivery catches up with the status: that is "not ready", asked again on
the same schedule, never a failure.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from downloader.errors import ApiError, RemoteJobFailed
from downloader.providers._api import ApiClient
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_pixxel import OrderItemState, parse_order_item
from downloader.providers._poll import NotYet, PhaseTracker, Poller

__all__ = ["NOT_FULFILLED", "post_when_fulfilled", "wait_until_fulfilled"]

NOT_FULFILLED = 400
"""What Pixxel answers a download request for an order item that is not fulfilled."""


async def wait_until_fulfilled(
    api: ApiClient, poller: Poller, phases: PhaseTracker, item_id: str
) -> OrderItemState:
    """Read the order item until it is fulfilled; raises `RemoteJobFailed` when it never will be."""
    label = f"Pixxel order item {item_id}"
    path = f"/v0/order-items/{quote(item_id, safe='')}"

    async def ask() -> OrderItemState | NotYet:
        state = parse_order_item(await api.call("GET", path))
        failure = state.failure(label)
        if failure is not None:
            raise RemoteJobFailed(api.clean(failure))
        if state.status.state is RemoteState.SUCCEEDED:
            return state
        await phases.enter("waiting", state.status.word)
        return NotYet(state.status.word, state.status.known)

    return await poller.until(ask, what=label, goal="fulfilled")


async def post_when_fulfilled(
    api: ApiClient, poller: Poller, path: str, body: Any, what: str
) -> Any:
    """POST `body` to `path`, asking again on the schedule while it is refused as not
    fulfilled yet; the decoded answer."""

    async def ask() -> Any:
        try:
            return await api.call("POST", path, json_body=body)
        except ApiError as exc:
            if exc.status != NOT_FULFILLED:
                raise
            return NotYet("download refused: not fulfilled yet")

    return await poller.until(ask, what=what, goal="available")
