"""A Pixxel catalog or order item as a step machine, driven by hand: no loop, no server."""

from __future__ import annotations

from typing import Any

import pytest

from downloader.errors import MalformedResponse, RemoteJobFailed
from downloader.items import ItemRef
from downloader.providers._pixxel_catalog_steps import catalog_step, refresh_step
from downloader.providers._steps import Ask, Fail, Fetch, Refused, Wait

CATALOG = ItemRef.parse("pixxel:catalog:c1")
ORDER = ItemRef.parse("pixxel:order_item:o1")
URL = "https://files.example/p.zip?sig=1"
STORED = {"download_id": "d1", "kind": "catalog"}
IMAGES = [{"geometry": {"type": "Point", "coordinates": [77.5, 12.9]}, "datetime": None}]


def test_a_catalog_asks_for_its_download_once_and_remembers_it_before_polling() -> None:
    first = catalog_step(CATALOG, {}, None)
    assert isinstance(first, Ask)
    assert (first.method, first.path, first.memo) == ("POST", "/v0/catalogs/download", None)
    assert first.body == {"catalog_ids": ["c1"], "order_item_ids": []}
    # asking again would make a second download: an answer it cannot read fails at once
    assert not first.repeat_unreadable
    assert first.refusals == frozenset()
    poll = catalog_step(CATALOG, {}, {"id": "d1", "status": "pending"})
    assert isinstance(poll, Ask)
    assert (poll.method, poll.path, poll.memo) == ("GET", "/v0/catalogs/download/d1", STORED)
    assert (poll.phase, poll.detail, poll.event) == (
        "requested",
        "download d1",
        "provider.download_created",
    )
    # a download this turn made is never taken for forgotten
    assert poll.refusals == frozenset()
    ready = catalog_step(CATALOG, {}, {"id": "d1", "status": "ready", "signed_url": URL})
    assert ready == Fetch(URL, "d1", memo=STORED)


def test_a_download_answer_without_its_id_cannot_be_read() -> None:
    with pytest.raises(MalformedResponse, match="has no 'id'"):
        catalog_step(CATALOG, {}, {"status": "pending"})


def test_a_stored_download_is_polled_and_asked_anew_when_the_platform_forgot_it() -> None:
    resumed = catalog_step(CATALOG, STORED, None)
    assert isinstance(resumed, Ask)
    assert (resumed.path, resumed.refusals) == ("/v0/catalogs/download/d1", frozenset({404}))
    assert resumed.event == "provider.download_resumed"
    anew = catalog_step(CATALOG, STORED, Refused(404, "HTTP 404"))
    assert isinstance(anew, Ask)
    assert (anew.method, anew.memo, anew.event) == ("POST", {}, "provider.download_forgotten")


def test_a_download_is_waited_for_fetched_or_failed_and_then_forgotten() -> None:
    assert catalog_step(CATALOG, STORED, {"id": "d1", "status": "pending"}) == Wait(
        "pending", phase="preparing", detail="pending"
    )
    assert catalog_step(
        CATALOG, STORED, {"id": "d1", "status": "ready", "signed_url": URL}
    ) == Fetch(URL, "d1")
    assert catalog_step(CATALOG, STORED, {"id": "d1", "status": "failed"}) == Fail(
        "Pixxel catalog c1 download d1: Pixxel reports 'failed'", RemoteJobFailed, memo={}
    )


def test_an_order_item_is_read_until_fulfilled_and_its_images_kept() -> None:
    first = catalog_step(ORDER, {}, None)
    assert isinstance(first, Ask)
    assert (first.method, first.path, first.goal) == ("GET", "/v0/order-items/o1", "fulfilled")
    assert catalog_step(ORDER, {}, {"status": "ACTIVE"}) == Wait(
        "ACTIVE", phase="waiting", detail="ACTIVE"
    )
    failed = catalog_step(ORDER, {}, {"status": "CANCELLED"})
    assert isinstance(failed, Fail)
    assert failed.kind is RemoteJobFailed
    post = catalog_step(ORDER, {}, {"status": "FULFILLED", "images": IMAGES, "other": 1})
    assert isinstance(post, Ask)
    assert post.method == "POST"
    assert post.refusals == frozenset({400})
    assert post.memo == {"fulfilled": True, "images": IMAGES}
    # taken up later, the fulfilled order item is not read again
    memo = post.memo
    again = catalog_step(ORDER, memo, None)
    assert isinstance(again, Ask)
    assert again.method == "POST"
    assert catalog_step(ORDER, memo, Refused(400, "not yet")) == Wait(
        "download refused: not fulfilled yet"
    )
    poll = catalog_step(ORDER, memo, {"id": "d2", "status": "pending"})
    assert isinstance(poll, Ask)
    stored: dict[str, Any] = {"download_id": "d2", "kind": "order_item", "images": IMAGES}
    assert poll.memo == stored
    ready = {"id": "d2", "status": "ready", "signed_url": URL}
    assert catalog_step(ORDER, stored, ready) == Fetch(URL, "d2", {"images": IMAGES})


def test_a_refresh_polls_the_same_download_and_never_takes_a_404_for_forgotten() -> None:
    first = refresh_step(CATALOG, "d1", STORED, None)
    assert isinstance(first, Ask)
    assert (first.path, first.refusals, first.event) == (
        "/v0/catalogs/download/d1",
        frozenset(),
        "",
    )
    ready = {"id": "d1", "status": "ready", "signed_url": URL}
    assert refresh_step(CATALOG, "d1", STORED, ready) == Fetch(URL, "d1")
