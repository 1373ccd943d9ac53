"""Pixxel order items are read until fulfilled before their download is asked for.

Against the emulator's `GET /v0/order-items/{id}`: an item still `ACTIVE` is asked
again on the `[poll]` schedule; a download request refused with 400 once it is
fulfilled is "not ready", asked again; `CANCELLED`, `FAILED` or an `EXPIRED` task
fail the item with that reason; status words count in any case.
"""

from __future__ import annotations

from pathlib import Path

from downloader.store import ItemState, open_store
from tests.support.once import once_against

SCENARIO = """
[emulator]
seed = 3

[[pixxel.order_item]]
id = "oi-slow"
files = [{ name = "scene.tif", size = 20000 }]
polls_until_done = 3
refuse_downloads = 2

[[pixxel.order_item]]
id = "oi-lower"
files = [{ name = "scene.tif", size = 1000 }]
polls_until_done = 1
status_case = "lower"

[[pixxel.order_item]]
id = "oi-cancelled"
files = [{ name = "scene.tif", size = 1000 }]
polls_until_done = 1
outcome = "CANCELLED"

[[pixxel.order_item]]
id = "oi-failed"
files = [{ name = "scene.tif", size = 1000 }]
outcome = "Failed"

[[pixxel.order_item]]
id = "oi-expired"
files = [{ name = "scene.tif", size = 1000 }]
polls_until_done = 1
task_outcome = "EXPIRED"
"""


async def test_order_items_wait_until_fulfilled_and_fail_only_for_the_platforms_reasons(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, SCENARIO) as (running, settings):
        stats = running.emulator.stats()
    async with open_store(settings.state.url) as store:
        records = {r.key: r for r in await store.list_items()}

    slow = records["pixxel:order_item:oi-slow"]
    assert slow.state is ItemState.ARCHIVED, slow.error
    # read until fulfilled (three ACTIVE answers, then FULFILLED), then the download
    # asked for three times: two refused with 400, the third created
    assert stats["pixxel:order_item:oi-slow"]["job_polls"] == 4
    assert stats["pixxel:order_item:oi-slow"]["downloads_created"] == 1
    assert records["pixxel:order_item:oi-lower"].state is ItemState.ARCHIVED

    reasons = {
        "oi-cancelled": "Pixxel order item oi-cancelled CANCELLED",
        "oi-failed": "Pixxel order item oi-failed FAILED",
        "oi-expired": "Pixxel order item oi-expired: its task oi-expired-task-1 EXPIRED",
    }
    for item_id, reason in reasons.items():
        record = records[f"pixxel:order_item:{item_id}"]
        assert record.state is ItemState.FAILED
        assert record.error == f"RemoteJobFailed: {reason}"
        # never asked for a download it could not have
        assert stats[f"pixxel:order_item:{item_id}"]["downloads_created"] == 0
