"""A plain URL item as a step machine: fetched at once, asked nothing."""

from __future__ import annotations

from downloader.items import ItemRef
from downloader.providers._http_steps import http_step
from downloader.providers._steps import Fail, Fetch


def test_a_plain_url_is_fetched_at_once_and_an_item_without_one_fails() -> None:
    item = ItemRef("http", "file", ("h/scene.tif",), url="http://127.0.0.1:1/scene.tif")
    assert http_step(item, {}, None) == Fetch("http://127.0.0.1:1/scene.tif", None)
    assert http_step(ItemRef("http", "file", ("h/x",)), {}, None) == Fail(
        "http:file:h/x has no URL"
    )
    scale = ItemRef.parse("scale:job:1")
    assert http_step(scale, {}, None) == Fail("scale:job:1 is not a plain URL item")
