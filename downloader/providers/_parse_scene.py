"""Where and when a Pixxel catalog's or order item's image was taken, from its record.

Pure: the decoded JSON of `GET /v0/catalogs/{id}` (its `details` are a STAC Item)
or `GET /v0/order-items/{id}` (its `images[]` carry a geometry each) in, a `Scene`
or None out.  A field that is missing or not of its kind is left out rather than
guessed: the scene only describes the bag, it never decides anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from downloader.providers._types import Scene

__all__ = ["scene_of_catalog", "scene_of_order_item"]

_GEOMETRY_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)


def _geometry(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping) or value.get("type") not in _GEOMETRY_TYPES:
        return None
    key = "geometries" if value["type"] == "GeometryCollection" else "coordinates"
    if not isinstance(value.get(key), list):
        return None
    return {"type": value["type"], key: value[key]}


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _scene(
    geometry: dict[str, Any] | None,
    acquired: datetime | None,
    span: tuple[datetime, datetime] | None = None,
) -> Scene | None:
    if geometry is None and acquired is None and span is None:
        return None
    return Scene(geometry=geometry, acquired=acquired, acquired_range=span)


def scene_of_catalog(body: Any) -> Scene | None:
    """The footprint and time of a catalog, from its STAC `details`."""
    details = body.get("details") if isinstance(body, Mapping) else None
    if not isinstance(details, Mapping):
        return None
    properties = details.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    start, end = _moment(properties.get("start_datetime")), _moment(properties.get("end_datetime"))
    span = (start, end) if start is not None and end is not None and start <= end else None
    return _scene(_geometry(details.get("geometry")), _moment(properties.get("datetime")), span)


def scene_of_order_item(body: Any) -> Scene | None:
    """The footprint of an order item's images (one geometry, or a collection of
    several), and their time when they all give the same."""
    images = body.get("images") if isinstance(body, Mapping) else None
    if not isinstance(images, list):
        return None
    shapes = [
        g for g in (_geometry(i.get("geometry")) for i in images if isinstance(i, Mapping)) if g
    ]
    times = {_moment(i.get("datetime")) for i in images if isinstance(i, Mapping)}
    geometry: dict[str, Any] | None = None
    if len(shapes) == 1:
        geometry = shapes[0]
    elif shapes:
        geometry = {"type": "GeometryCollection", "geometries": shapes}
    acquired = times.pop() if len(times) == 1 else None
    return _scene(geometry, acquired)
