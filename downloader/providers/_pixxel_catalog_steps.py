"""A Pixxel catalog or order item as a step machine. Pure.

A catalog download is asked for once (`POST /v0/catalogs/download`); its id is
stored in the memo before anything else is asked, so a later turn or a restarted
process polls that download (`GET /v0/catalogs/download/{id}`) instead of making
another.  An order item is first read until it is fulfilled (`GET
/v0/order-items/{id}`); the memo then keeps that fact and where and when its images
were taken, so neither is asked again.  The stages, by memo::

    memo                    question                 answer                next step
    {} (order item)         GET /v0/order-items/{id}  fulfilled            POST; memo
                                                                           `fulfilled`, `images`
                                                      active, draft        wait (`waiting`)
                                                      cancelled, expired   fail
    {} (catalog), fulfilled POST /v0/catalogs/download  ready              fetch; memo the id
                                                      pending              poll; memo the id
                                                      400 (order item)     wait: not fulfilled
    download_id             GET .../download/{id}     ready                fetch
                                                      pending              wait (`preparing`)
                                                      failed               fail; memo {}
                                                      404, when resumed    forget it: as {}

A 404 is taken as a forgotten download only for a download taken up from the memo,
never for one this turn created.  Only I/O-free modules may be imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from downloader.errors import MalformedResponse, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._parse_common import RemoteState
from downloader.providers._parse_pixxel import catalog_request, parse_order_item, parse_package
from downloader.providers._pixxel_steps import judge_package
from downloader.providers._steps import Ask, Fail, Fetch, Memo, Refused, Step, Wait

__all__ = ["DOWNLOADS", "FORGOTTEN", "NOT_FULFILLED", "catalog_step", "label_of", "refresh_step"]

DOWNLOADS = "/v0/catalogs/download"
NOT_FULFILLED = 400
"""What Pixxel answers a download request for an order item that is not fulfilled."""
FORGOTTEN = 404
"""What Pixxel answers for a download it no longer knows (they do not live for ever)."""


def label_of(item: ItemRef) -> str:
    """The item as messages name it: "Pixxel catalog 5d0c...", "Pixxel order item 0b7c..."."""
    return f"Pixxel {item.kind.replace('_', ' ')} {item.ids[0]}"


def catalog_step(item: ItemRef, memo: Memo, answer: Any | None) -> Step:
    """The next step of a catalog or order item; `answer` None: its stage's first
    question, taken up from the stored memo."""
    download_id = memo.get("download_id")
    if isinstance(download_id, str) and download_id:
        if answer is None:
            return _poll(item, download_id, resumed=True)
        return _judge_download(item, memo, download_id, answer)
    if item.kind == "order_item" and not memo.get("fulfilled"):
        if answer is None:
            path = f"/v0/order-items/{quote(item.ids[0], safe='')}"
            return Ask("GET", path, label_of(item), goal="fulfilled")
        return _judge_order_item(item, answer)
    if answer is None:
        return _create(item)
    return _created(item, memo, answer)


def refresh_step(item: ItemRef, download_id: str, memo: Memo, answer: Any | None) -> Step:
    """Polling `download_id` for a fresh URL, while its file is fetched: a 404 then
    fails (the bytes fetched are kept), rather than a new download being made."""
    if answer is None:
        return _poll(item, download_id, resumed=False, event="")
    return _judge_download(item, memo, download_id, answer)


def _create(item: ItemRef, memo: Memo | None = None) -> Ask:
    return Ask(
        "POST",
        DOWNLOADS,
        f"{label_of(item)} download request",
        goal="available",
        body=catalog_request(item.kind, item.ids[0]),
        memo=memo,
        refusals=frozenset({NOT_FULFILLED}) if item.kind == "order_item" else frozenset(),
        repeat_unreadable=False,
    )


def _poll(
    item: ItemRef,
    download_id: str,
    *,
    resumed: bool,
    memo: Memo | None = None,
    event: str | None = None,
) -> Ask:
    if event is None:
        event = "provider.download_resumed" if resumed else "provider.download_created"
    return Ask(
        "GET",
        f"{DOWNLOADS}/{quote(download_id, safe='')}",
        f"{label_of(item)} download {download_id}",
        memo=memo,
        phase="requested",
        detail=f"download {download_id}",
        refusals=frozenset({FORGOTTEN}) if resumed else frozenset(),
        event=event,
    )


def _judge_order_item(item: ItemRef, answer: Any) -> Step:
    state = parse_order_item(answer)
    failure = state.failure(label_of(item))
    if failure is not None:
        return Fail(failure, RemoteJobFailed)
    if state.status.state is not RemoteState.SUCCEEDED:
        word = state.status.word
        return Wait(word, state.status.known, phase="waiting", detail=word)
    return _create(item, {"fulfilled": True, "images": _images(answer)})


def _images(answer: Any) -> list[dict[str, Any]]:
    """Where and when an order item's images were taken, as its answer gave them
    (read again by `scene_of_order_item`)."""
    images = answer.get("images") if isinstance(answer, Mapping) else None
    if not isinstance(images, list):
        return []
    return [
        {"geometry": image.get("geometry"), "datetime": image.get("datetime")}
        for image in images
        if isinstance(image, Mapping)
    ]


def _created(item: ItemRef, memo: Memo, answer: Any) -> Step:
    what = f"{label_of(item)} download request"
    if isinstance(answer, Refused):  # only ever NOT_FULFILLED, for an order item
        return Wait("download refused: not fulfilled yet")
    state = parse_package(answer, what)
    if state.download_id is None:
        raise MalformedResponse(f"{what}: the answer has no 'id'")
    kept = {"download_id": state.download_id, "kind": item.kind}
    if "images" in memo:
        kept["images"] = memo["images"]
    if state.ready and state.signed_url is not None:
        return Fetch(state.signed_url, state.download_id, _extra(kept), memo=kept)
    return _poll(item, state.download_id, resumed=False, memo=kept)


def _judge_download(item: ItemRef, memo: Memo, download_id: str, answer: Any) -> Step:
    if isinstance(answer, Refused):  # a resumed download the platform forgot: ask anew
        first = catalog_step(item, {}, None)
        assert isinstance(first, Ask)  # with nothing stored, a first question
        return Ask(
            first.method,
            first.path,
            first.what,
            goal=first.goal,
            body=first.body,
            memo={},
            refusals=first.refusals,
            repeat_unreadable=first.repeat_unreadable,
            event="provider.download_forgotten",
        )
    what = f"{label_of(item)} download {download_id}"
    state = parse_package(answer, what)
    if state.status.state is RemoteState.FAILED:
        # a retry of the item must ask for a new download
        return Fail(f"{what}: Pixxel reports {state.status.word!r}", RemoteJobFailed, memo={})
    step = judge_package(state, what)
    if isinstance(step, Fetch):
        return Fetch(step.url, download_id, _extra(memo))
    return step


def _extra(memo: Memo) -> dict[str, Any]:
    """What the package is built with besides its URL: an order item's images."""
    return {"images": memo["images"]} if "images" in memo else {}
