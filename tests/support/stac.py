"""Checks of a bag's STAC Item and the archive's catalog, against the JSON schemas.

`pystac` validates with the STAC and extension schemas it ships (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import bagit
import pystac.validation


def validated(path: Path) -> dict[str, Any]:
    """The JSON document at `path`, after it passed STAC validation."""
    document: dict[str, Any] = json.loads(path.read_bytes())
    pystac.validation.validate_dict(document)
    return document


def check_bag_stac(bag_path: Path) -> dict[str, Any]:
    """The bag's STAC Item, checked: valid, one asset per payload file with its size and
    the SHA-256 of the manifest as multihash, and listed in the tag manifest."""
    item = validated(bag_path / "stac-item.json")
    bag = bagit.Bag(str(bag_path))
    manifest = {path: digests["sha256"] for path, digests in bag.payload_entries().items()}
    described = {}
    for asset in item["assets"].values():
        path = unquote(asset["href"]).removeprefix("./")
        assert (bag_path / path).stat().st_size == asset["file:size"]
        described[path] = asset["file:checksum"]
    assert described == {path: "1220" + digest for path, digest in manifest.items()}
    tagmanifest = (bag_path / "tagmanifest-sha256.txt").read_text()
    assert any(line.endswith(" stac-item.json") for line in tagmanifest.splitlines())
    assert item["id"] == bag.info["External-Identifier"]
    return item


def catalog_items(root: Path) -> dict[str, Path]:
    """The archive's catalog, validated: the bag each `item` link leads to, by its title."""
    catalog = validated(root / "catalog.json")
    assert catalog["type"] == "Catalog"
    found = {}
    for link in catalog["links"]:
        if link["rel"] == "item":
            found[link["title"]] = (root / link["href"]).parent.resolve()
    return found
