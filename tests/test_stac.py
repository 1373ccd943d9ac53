"""The STAC Item of a bag and the archive's catalog: valid by the schemas, true to the bag."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import bagit
import pystac.validation
import pytest

from downloader.archive import BagBuilder, item_path, verify_bag
from downloader.archive._catalog import CATALOG, add_to_catalog, catalog_href_from
from downloader.archive._stac import STAC_ITEM, ItemFacts, bbox_of, render_stac_item
from downloader.archive._tagfiles import PayloadFile, render_tag_files
from downloader.clock import FakeClock
from downloader.errors import PlantedLink
from downloader.items import ItemRef
from downloader.jail import Jail
from downloader.runners._describe import link_in_catalog
from tests.support.stac import catalog_items, check_bag_stac, validated

JOB = ItemRef("pixxel", "job", ("wf-1", "job-2"))
CATALOG_ITEM = ItemRef("pixxel", "catalog", ("47435e2b",))
WHEN = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[77.5, 12.9], [77.7, 12.9], [77.7, 13.1], [77.5, 12.9]]],
}


def payload(*names: str) -> list[PayloadFile]:
    return [
        PayloadFile(name, len(name), hashlib.sha256(name.encode()).hexdigest()) for name in names
    ]


def item_of(facts: ItemFacts, files: list[PayloadFile]) -> dict[str, Any]:
    text = render_stac_item(facts, files, bagged_at=WHEN, catalog_href="../c.json")
    document: dict[str, Any] = json.loads(text)
    pystac.validation.validate_dict(document)
    return document


def test_item_describes_each_payload_file_with_size_and_sha256_multihash() -> None:
    files = payload("scene.tif", "odd name 100%.txt", "nested/dir/meta.json")
    item = item_of(ItemFacts(JOB, "Pixxel job package (ZIP)", "dl-7"), files)
    assert item["id"] == "pixxel:job:wf-1/job-2"
    assert set(item["assets"]) == {f.path for f in files}
    for entry in files:
        asset = item["assets"][entry.path]
        assert asset["file:size"] == entry.size
        assert asset["file:checksum"] == "1220" + entry.sha256
        assert asset["roles"] == ["data"]
    assert item["assets"]["odd name 100%.txt"]["href"] == "./data/odd%20name%20100%25.txt"
    assert item["assets"]["scene.tif"]["type"] == "image/tiff; application=geotiff"
    props = item["properties"]
    assert props["pixxel:workflow_id"] == "wf-1"
    assert props["pixxel:job_id"] == "job-2"
    assert props["pixxel:download_id"] == "dl-7"
    assert props["downloader:source"] == "Pixxel job package (ZIP)"
    assert {link["rel"] for link in item["links"]} == {"root", "parent"}


def test_item_without_a_platform_time_is_dated_by_its_bagging_and_says_so() -> None:
    item = item_of(ItemFacts(CATALOG_ITEM), payload("a.zip"))
    assert item["geometry"] is None
    assert "bbox" not in item
    assert item["properties"]["datetime"] == "2026-11-30T10:00:00Z"
    assert item["properties"]["downloader:datetime_from"] == "bagging"
    assert item["properties"]["pixxel:catalog_id"] == "47435e2b"


def test_item_carries_the_platforms_geometry_with_its_bbox_and_acquisition_time() -> None:
    acquired = datetime(2026, 5, 1, 5, 30, tzinfo=UTC)
    facts = ItemFacts(CATALOG_ITEM, geometry=SQUARE, acquired=acquired)
    item = item_of(facts, payload("a.zip"))
    assert item["geometry"] == SQUARE
    assert item["bbox"] == [77.5, 12.9, 77.7, 13.1]
    assert item["properties"]["datetime"] == "2026-05-01T05:30:00Z"
    assert "downloader:datetime_from" not in item["properties"]


def test_item_with_a_time_range_has_a_null_datetime_and_both_ends() -> None:
    start, end = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 3, tzinfo=UTC)
    item = item_of(ItemFacts(CATALOG_ITEM, acquired_range=(start, end)), payload("a.zip"))
    assert item["properties"]["datetime"] is None
    assert item["properties"]["start_datetime"] == "2026-05-01T00:00:00Z"
    assert item["properties"]["end_datetime"] == "2026-05-03T00:00:00Z"


def test_a_geometry_without_any_position_is_left_out_rather_than_made_invalid() -> None:
    empty = {"type": "Polygon", "coordinates": []}
    item = item_of(ItemFacts(CATALOG_ITEM, geometry=empty), payload("a.zip"))
    assert item["geometry"] is None


def test_bbox_of_a_geometry_collection_spans_every_part() -> None:
    collection = {
        "type": "GeometryCollection",
        "geometries": [SQUARE, {"type": "Point", "coordinates": [-10.0, 50.0, 12.0]}],
    }
    assert bbox_of(collection) == [-10.0, 12.9, 77.7, 50.0]


def test_only_known_extra_tag_files_are_rendered() -> None:
    with pytest.raises(ValueError, match="not a tag file"):
        render_tag_files("k", [], bagging_date="d", agent="a", info={}, extra={"x.json": b"{}"})


def put(builder: BagBuilder, relative: str, data: bytes) -> None:
    path = builder.data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    builder.add_payload(relative, len(data), hashlib.sha256(data).hexdigest())


async def archive(root: Path, ref: ItemRef, files: dict[str, bytes]) -> Path:
    builder = BagBuilder.in_archive(root, ref, clock=FakeClock())
    for name, data in files.items():
        put(builder, name, data)
    relative = item_path(ref)
    stac = render_stac_item(
        ItemFacts(ref), builder.payload, bagged_at=WHEN, catalog_href=catalog_href_from(relative)
    )
    final = await builder.finish(root / relative, tag_files={STAC_ITEM: stac})
    add_to_catalog(Jail(root), relative, ref.key)
    return final


async def test_bag_with_its_stac_item_validates_and_passes_the_audit(tmp_path: Path) -> None:
    bag = await archive(tmp_path, JOB, {"scene.tif": b"x" * 1000, "sub dir/m.json": b"{}"})
    bagit.Bag(str(bag)).validate()
    assert check_bag_stac(bag)["id"] == JOB.key
    assert verify_bag(bag).ok
    # the Item's root link leads to the archive's catalog, which links back to the bag
    item = json.loads((bag / STAC_ITEM).read_bytes())
    root_link = next(link for link in item["links"] if link["rel"] == "root")
    assert (bag / root_link["href"]).resolve() == (tmp_path / CATALOG).resolve()
    assert catalog_items(tmp_path) == {JOB.key: bag.resolve()}


async def test_a_changed_stac_item_is_caught_by_the_tag_manifest(tmp_path: Path) -> None:
    bag = await archive(tmp_path, JOB, {"scene.tif": b"x" * 10})
    (bag / STAC_ITEM).write_text("{}")
    assert not verify_bag(bag).ok
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(bag)).validate()


async def test_a_bag_archived_again_is_linked_once(tmp_path: Path) -> None:
    await archive(tmp_path, JOB, {"a.tif": b"1"})
    bag = await archive(tmp_path, JOB, {"a.tif": b"2"})
    catalog = json.loads((tmp_path / CATALOG).read_bytes())
    assert [link["title"] for link in catalog["links"] if link["rel"] == "item"] == [JOB.key]
    assert catalog_items(tmp_path) == {JOB.key: bag.resolve()}


async def test_a_damaged_catalog_is_rebuilt_from_the_bags(tmp_path: Path) -> None:
    first = await archive(tmp_path, JOB, {"a.tif": b"1"})
    (tmp_path / CATALOG).write_bytes(b'{"type": "Catalog", "links": [')  # cut short
    second = await archive(tmp_path, CATALOG_ITEM, {"b.zip": b"2"})
    assert catalog_items(tmp_path) == {JOB.key: first.resolve(), CATALOG_ITEM.key: second.resolve()}


def test_links_added_at_once_from_many_threads_are_all_kept(tmp_path: Path) -> None:
    refs = [ItemRef("scale", "job", (str(n),)) for n in range(40)]
    for ref in refs:  # bags need not exist for their links to be added
        (tmp_path / item_path(ref)).mkdir(parents=True)
    threads = [
        threading.Thread(target=add_to_catalog, args=(Jail(tmp_path), item_path(r), r.key))
        for r in refs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    catalog = validated(tmp_path / CATALOG)
    titles = sorted(link["title"] for link in catalog["links"] if link["rel"] == "item")
    assert titles == sorted(r.key for r in refs)
    assert not list(tmp_path.glob(".catalog.json.*"))  # no temporary file left behind


def test_catalog_href_climbs_out_of_the_bag() -> None:
    assert catalog_href_from(PurePosixPath("pixxel/jobs/wf/job")) == "../../../../catalog.json"


async def test_a_link_planted_at_the_catalog_is_replaced_never_read_through(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    outside.mkdir()
    first = await archive(root, JOB, {"a.tif": b"1"})
    planted = json.loads((root / CATALOG).read_bytes())
    planted["links"].append({"rel": "item", "href": "./elsewhere/stac-item.json", "title": "x"})
    target = outside / "catalog.json"
    target.write_text(json.dumps(planted))
    before = target.read_bytes()
    (root / CATALOG).unlink()
    (root / CATALOG).symlink_to(target)
    second = await archive(root, CATALOG_ITEM, {"b.zip": b"2"})
    # rebuilt from the bags: nothing of what the link pointed at is taken in
    assert not (root / CATALOG).is_symlink()
    assert catalog_items(root) == {JOB.key: first.resolve(), CATALOG_ITEM.key: second.resolve()}
    assert target.read_bytes() == before


async def test_a_link_planted_at_partial_gets_no_lock_and_fails_no_item(tmp_path: Path) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / ".partial").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PlantedLink):
        add_to_catalog(Jail(root), item_path(JOB), JOB.key)
    # the pipeline's step: the bag is in place already, so the catalog is let go
    await link_in_catalog(Jail(root), item_path(JOB), JOB.key)
    assert list(outside.iterdir()) == []
    assert not (root / CATALOG).exists()
