"""The STAC Item of a bag (`stac-item.json`, a tag file): what it holds and its payload.

A pure core: facts in, JSON bytes out, built with `pystac` so the result is what
STAC tools expect.  Nothing here touches the filesystem.

- `id` is the item's key (`provider:kind:id[/id...]`), as in `bag-info.txt`.
- Each payload file is an asset (`./data/<path>`), with `file:size` and
  `file:checksum`: the multihash (`1220` + hex) of the SHA-256 the transfer verified
  and the payload manifest lists, so the Item and the manifest cannot disagree.
- The provider's ids are properties named `<provider>:<field>` (`pixxel:workflow_id`,
  `scale:job_id`, ...), with `<provider>:download_id` when the platform gave one.
- `geometry`, `bbox` and `datetime` come from the platform where it gave them; a
  bag of no known acquisition time is dated by its bagging time (STAC asks for a
  datetime), and says so in `downloader:datetime_from`.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from downloader.archive._tagfiles import PayloadFile
from downloader.items import ID_FIELDS, ItemRef

__all__ = ["STAC_ITEM", "ItemFacts", "bbox_of", "multihash_sha256", "render_stac_item"]

STAC_ITEM = "stac-item.json"
"""The tag file holding a bag's STAC Item."""

_SHA256_MULTIHASH = "1220"  # multihash code 0x12 (sha2-256), length 0x20 (32 bytes)
# the standard library's own table only: the one read from /etc differs between machines
_TYPES = mimetypes.MimeTypes(filenames=())
_GEOTIFF = "image/tiff; application=geotiff"


@dataclass(frozen=True)
class ItemFacts:
    """What is known of an item beyond its payload files."""

    ref: ItemRef
    description: str = ""
    """What the package is ("Pixxel job package (ZIP)"); `downloader:source` when no
    watchlist source listed the item."""
    download_id: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Payload path → where its bytes came from (a URL without its query)."""
    geometry: Mapping[str, Any] | None = None
    """GeoJSON geometry the platform gave, if any."""
    acquired: datetime | None = None
    """When the data was acquired, if the platform said."""
    acquired_range: tuple[datetime, datetime] | None = None
    """Start and end of the acquisition, if the platform gave a range."""
    listed_by: str | None = None
    """The key of the watchlist source that listed the item (`pixxel:workflow:WF`), if
    one did: then `downloader:source`, as `Downloader-Source` in `bag-info.txt`."""


def multihash_sha256(sha256_hex: str) -> str:
    """The `file:checksum` of a SHA-256 given in hex: its multihash, in hex."""
    return _SHA256_MULTIHASH + sha256_hex.lower()


def bbox_of(geometry: Mapping[str, Any]) -> list[float] | None:
    """`[west, south, east, north]` of a GeoJSON geometry; None when it holds no point."""
    xs: list[float] = []
    ys: list[float] = []
    for x, y in _positions(geometry):
        xs.append(x)
        ys.append(y)
    if not xs:
        return None
    return [min(xs), min(ys), max(xs), max(ys)]


def _positions(geometry: Mapping[str, Any]) -> Iterator[tuple[float, float]]:
    if geometry.get("type") == "GeometryCollection":
        for part in geometry.get("geometries") or ():
            if isinstance(part, Mapping):
                yield from _positions(part)
        return
    stack: list[Any] = [geometry.get("coordinates")]
    while stack:
        value = stack.pop()
        if isinstance(value, list | tuple):
            if len(value) >= 2 and all(_is_number(v) for v in value[:2]):
                yield float(value[0]), float(value[1])
            else:
                stack.extend(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _media_type(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith((".tif", ".tiff")):
        return _GEOTIFF
    guessed, _ = _TYPES.guess_type(lower, strict=False)
    return guessed


def _id_properties(ref: ItemRef) -> dict[str, str]:
    # a bare "id" is named for its kind: "pixxel:catalog_id", not "pixxel:id"
    names = [n if n != "id" else f"{ref.kind}_id" for n in ID_FIELDS[(ref.provider, ref.kind)]]
    return {f"{ref.provider}:{name}": value for name, value in zip(names, ref.ids, strict=True)}


def render_stac_item(
    facts: ItemFacts,
    payload: Sequence[PayloadFile],
    *,
    bagged_at: datetime,
    catalog_href: str | None = None,
) -> bytes:
    """The `stac-item.json` of a bag of `payload`, made at `bagged_at` (aware, UTC).

    `catalog_href` is the archive's `catalog.json` relative to the bag, linked as
    the Item's root and parent.
    """
    import pystac  # loaded when a bag is finished, not before the first request
    from pystac.extensions.file import FileExtension

    ref = facts.ref
    properties: dict[str, Any] = {
        "created": pystac.utils.datetime_to_str(bagged_at),
        "providers": [{"name": ref.provider, "roles": ["host"]}],
        "downloader:item": ref.key,
        "downloader:kind": ref.kind,
        **_id_properties(ref),
    }
    if facts.listed_by or facts.description:
        properties["downloader:source"] = facts.listed_by or facts.description
    if facts.download_id:
        properties[f"{ref.provider}:download_id"] = facts.download_id
    when: datetime | None = facts.acquired
    start = end = None
    if facts.acquired_range is not None:
        start, end = facts.acquired_range
    if when is None and start is None:
        when = bagged_at
        properties["downloader:datetime_from"] = "bagging"
    geometry = dict(facts.geometry) if facts.geometry else None
    bbox = bbox_of(geometry) if geometry else None
    if bbox is None:
        geometry = None  # STAC requires a bbox beside every geometry
    item = pystac.Item(
        id=ref.key,
        geometry=geometry,
        bbox=bbox,
        datetime=when,
        start_datetime=start,
        end_datetime=end,
        properties=properties,
    )
    for entry in payload:
        asset = pystac.Asset(
            href="./data/" + quote(entry.path),
            title=entry.path.rsplit("/", 1)[-1],
            media_type=_media_type(entry.path),
            roles=["data"],
        )
        source = facts.sources.get(entry.path)
        if source:
            asset.extra_fields["downloader:source_url"] = source
        item.add_asset(entry.path, asset)
        file_info = FileExtension.ext(asset, add_if_missing=True)
        file_info.size = entry.size
        file_info.checksum = multihash_sha256(entry.sha256)
    if catalog_href is not None:
        for rel in (pystac.RelType.ROOT, pystac.RelType.PARENT):
            item.add_link(pystac.Link(rel, catalog_href, media_type=pystac.MediaType.JSON))
    document = item.to_dict(include_self_link=False, transform_hrefs=False)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
