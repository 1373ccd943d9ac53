"""The emulator's Pixxel records: a catalog's STAC details and an order item's images
carry the scenario's `geometry` and `acquired`."""

from __future__ import annotations

import pytest

from downloader.emulator import DownloadKind, PixxelDownload, Scenario, parse_scenario
from downloader.errors import ConfigError
from tests.support.emulator_fixtures import serve

KEY = {"Authorization": "px-test-key"}
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[77.5, 12.9], [77.7, 12.9], [77.7, 13.1], [77.5, 12.9]]],
}


async def test_a_catalog_record_shows_its_footprint_bbox_and_time_in_stac_details() -> None:
    catalog = PixxelDownload(
        DownloadKind.CATALOG, "cat-1", geometry=SQUARE, acquired="2026-05-01T05:31:12Z"
    )
    plain = PixxelDownload(DownloadKind.ORDER_ITEM, "oi-1")
    async with serve(Scenario(pixxel_downloads=(catalog, plain))) as s:
        reply = await s.call("GET", "/pixxel/v0/catalogs/cat-1", headers=KEY)
        assert reply.status == 200
        details = reply.json["details"]
        assert details["geometry"] == SQUARE
        assert details["bbox"] == [77.5, 12.9, 77.7, 13.1]
        assert details["properties"]["datetime"] == "2026-05-01T05:31:12Z"
        reply = await s.call("GET", "/pixxel/v0/order-items/oi-1", headers=KEY)
        assert reply.status == 200
        assert reply.json["images"] == []  # no geometry given: no image to show
        assert (await s.call("GET", "/pixxel/v0/catalogs/oi-1", headers=KEY)).status == 404
        # the download routes keep their meaning
        created = await s.call(
            "POST", "/pixxel/v0/catalogs/download", headers=KEY, json={"catalog_ids": ["cat-1"]}
        )
        assert created.status == 201
        status = await s.call(
            "GET", f"/pixxel/v0/catalogs/download/{created.json['id']}", headers=KEY
        )
        assert status.status == 200


def test_the_scenario_reads_geometry_and_acquired_and_refuses_them_malformed() -> None:
    text = """
[[pixxel.order_item]]
id = "oi-2"
geometry = { type = "Point", coordinates = [1.0, 2.0] }
acquired = 2026-06-14T06:02:45Z
"""
    (item,) = parse_scenario(text, source="s.toml").pixxel_downloads
    assert item.geometry == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert item.acquired == "2026-06-14T06:02:45Z"
    bad = """
[[pixxel.catalog]]
id = "c"
geometry = { coordinates = [1.0, 2.0] }
acquired = 2026-06-14T06:02:45
"""
    with pytest.raises(ConfigError) as caught:
        parse_scenario(bad, source="s.toml")
    keys = {problem.key for problem in caught.value.problems}
    assert keys == {"pixxel.catalog[0].geometry", "pixxel.catalog[0].acquired"}
