"""Where and when an image was taken, read from Pixxel's catalog and order item records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from downloader.providers._parse_scene import scene_of_catalog, scene_of_order_item
from downloader.providers._types import Scene

SQUARE = {"type": "Polygon", "coordinates": [[[1, 2], [3, 2], [3, 4], [1, 2]]]}
WHEN = datetime(2026, 5, 1, 5, 31, 12, tzinfo=UTC)


def test_a_catalogs_stac_details_give_its_geometry_and_datetime() -> None:
    body = {
        "id": "c",
        "details": {
            "type": "Feature",
            "geometry": {**SQUARE, "crs": "ignored"},
            "properties": {"datetime": "2026-05-01T05:31:12Z", "eo:cloud_cover": 3},
        },
    }
    assert scene_of_catalog(body) == Scene(geometry=SQUARE, acquired=WHEN)


def test_a_catalog_with_only_a_time_range_gives_the_range() -> None:
    properties = {
        "datetime": None,
        "start_datetime": "2026-05-01T00:00:00+00:00",
        "end_datetime": "2026-05-02T00:00:00Z",
    }
    scene = scene_of_catalog({"details": {"geometry": None, "properties": properties}})
    assert scene is not None
    assert scene.acquired_range == (
        datetime(2026, 5, 1, tzinfo=UTC),
        datetime(2026, 5, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"details": "x"},
        {"details": {"geometry": {"type": "Blob", "coordinates": []}}},
        {"details": {"geometry": {"type": "Polygon"}, "properties": {"datetime": "noon"}}},
        {"details": {"properties": {"datetime": "2026-05-01T05:31:12"}}},  # no offset
    ],
)
def test_a_record_without_a_usable_geometry_or_time_gives_no_scene(body: Any) -> None:
    assert scene_of_catalog(body) is None


def test_an_order_items_one_image_gives_its_geometry_and_time() -> None:
    body = {"images": [{"item_id": "i", "geometry": SQUARE, "datetime": "2026-05-01T05:31:12Z"}]}
    assert scene_of_order_item(body) == Scene(geometry=SQUARE, acquired=WHEN)


def test_several_images_give_a_collection_and_a_time_only_when_they_agree() -> None:
    other = {"type": "Point", "coordinates": [5, 6]}
    body = {
        "images": [
            {"geometry": SQUARE, "datetime": "2026-05-01T05:31:12Z"},
            {"geometry": other, "datetime": "2026-05-03T00:00:00Z"},
            "not an image",
        ]
    }
    scene = scene_of_order_item(body)
    assert scene == Scene(geometry={"type": "GeometryCollection", "geometries": [SQUARE, other]})
    assert scene_of_order_item({"images": []}) is None
