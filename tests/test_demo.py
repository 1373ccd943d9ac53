"""The whole service against the emulator: every item kind, from watchlist to a valid bag."""

from __future__ import annotations

from pathlib import Path

import bagit

from downloader.emulator import expected_files, parse_scenario
from downloader.emulator.scenarios import demo_scenario_text
from downloader.runners._demo import run_demo
from downloader.store import ItemState, open_store
from downloader.store._models import REPAIRED
from tests.support.stac import catalog_items, check_bag_stac


async def test_demo_archives_every_item_kind_with_payloads_equal_to_the_source(
    tmp_path: Path,
) -> None:
    result = await run_demo(tmp_path)
    assert result.failed == 0
    expected = expected_files(parse_scenario(demo_scenario_text(), source="demo.toml"))
    async with open_store(f"sqlite:///{tmp_path / '.demo' / 'state.db'}") as store:
        records = {r.key: r for r in await store.list_items()}
        repaired = {
            key for key in records if any(e.kind == REPAIRED for e in await store.events(key))
        }
    # the task's package has a bit flipped on the way (`corrupt_member`): repaired, once
    assert repaired == {"pixxel:task:wf-ndvi-2026/job-0001/task-cloudmask"}
    assert set(records) == set(expected)
    kinds = {(r.provider, r.kind) for r in records.values()}
    assert kinds >= {
        ("pixxel", "job"),
        ("pixxel", "task"),
        ("pixxel", "catalog"),
        ("pixxel", "order_item"),
        ("scale", "job"),
        ("alteryx", "job"),
    }
    for key, record in records.items():
        assert record.state is ItemState.ARCHIVED, (key, record.error)
        assert record.archive_path is not None
        bag = bagit.Bag(record.archive_path)
        bag.validate()
        assert bag.info["External-Identifier"] == key
        sources = {f.sha256 for f in expected[key]}
        payload = {path: digests["sha256"] for path, digests in bag.payload_entries().items()}
        assert payload
        assert set(payload.values()) <= sources, key
        # a STAC Item that validates, its checksums the manifest's; linked by the catalog
        item = check_bag_stac(Path(record.archive_path))
        assert item["id"] == key
        # the catalog and the order item: the footprint and time Pixxel's records gave
        if record.kind in ("catalog", "order_item"):
            assert item["geometry"]["type"] == "Polygon", key
            assert len(item["bbox"]) == 4
            assert "downloader:datetime_from" not in item["properties"]
    linked = catalog_items(tmp_path)
    assert linked == {key: Path(r.archive_path or "").resolve() for key, r in records.items()}
