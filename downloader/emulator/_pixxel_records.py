"""Pixxel's records of catalogs (`GET /v0/catalogs/{id}`) and the images of order items.

A catalog's `details` is a STAC Item whose geometry and datetime come from the
scenario's `geometry` and `acquired`; an order item (its status answered by
`_pixxel_orders`) lists one image with the same.  Reading a catalog's record is
not a step of any download, so it is logged (like every API request) but counted
in no item's statistics and never throttled.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from downloader.emulator._pixxel_catalog import pixxel_error
from downloader.emulator._scenario import DownloadKind, PixxelDownload

__all__ = ["PixxelRecords", "bbox_of", "images_of"]

_CREATED = "2026-01-01T00:00:00Z"


def bbox_of(geometry: dict[str, Any]) -> list[float] | None:
    """`[west, south, east, north]` of every position in `geometry`."""
    xs: list[float] = []
    ys: list[float] = []
    stack: list[Any] = [geometry.get("coordinates")]
    stack += [g.get("coordinates") for g in geometry.get("geometries") or () if isinstance(g, dict)]
    while stack:
        value = stack.pop()
        if not isinstance(value, list):
            continue
        if len(value) >= 2 and all(isinstance(v, int | float) for v in value[:2]):
            xs.append(float(value[0]))
            ys.append(float(value[1]))
        else:
            stack.extend(value)
    return [min(xs), min(ys), max(xs), max(ys)] if xs else None


def images_of(item: PixxelDownload) -> list[dict[str, Any]]:
    """The `images[]` of an order item's record: one with the scenario's footprint and
    time, or none when it gives no footprint."""
    if item.geometry is None:
        return []
    image: dict[str, Any] = {"item_id": f"{item.id}-image", "geometry": item.geometry}
    if item.acquired is not None:
        image["datetime"] = item.acquired
    return [image]


class PixxelRecords:
    """The catalog record endpoint over the scenario's catalogs."""

    def __init__(self, downloads: tuple[PixxelDownload, ...]) -> None:
        self.items = {(d.kind, d.id): d for d in downloads}

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        item = self.items.get((DownloadKind.CATALOG, request.match_info["id"]))
        if item is None:
            return pixxel_error(404, "catalog not found")
        details: dict[str, Any] = {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": item.id,
            "collection": "pixxel-hyperspectral",
            "geometry": item.geometry,
            "properties": {"datetime": item.acquired},
            "links": [],
            "assets": {},
        }
        if item.geometry is not None:
            details["bbox"] = bbox_of(dict(item.geometry))
        body = {
            "id": item.id,
            "task_id": None,
            "bandset_id": None,
            "area": 0,
            "org_id": "org-emulated",
            "delivery_status": "SUCCESSFUL",
            "details": details,
            "created_at": _CREATED,
            "updated_at": _CREATED,
        }
        return web.json_response(body)
