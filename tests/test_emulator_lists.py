"""The emulator's lists that sources read: an order's items and an Alteryx workflow's
jobs (paged), creation times, jobs that appear later, and the knobs that refuse them."""

from __future__ import annotations

from typing import Any

from downloader.emulator import (
    AlteryxJob,
    DownloadKind,
    PixxelDownload,
    PixxelJob,
    Scenario,
    Settings,
    parse_scenario,
)
from downloader.emulator._scenario import Knobs, OrderItemSpec
from tests.support.emulator_fixtures import START, ManualClock, Served, bearer, serve

PX = {"Authorization": "px-test-key"}
T1, T2 = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"


def order_item(item_id: str, order: str, created: str | None = None) -> PixxelDownload:
    return PixxelDownload(
        DownloadKind.ORDER_ITEM,
        item_id,
        knobs=Knobs(created_at=created),
        order=OrderItemSpec(order_id=order),
    )


async def order_page(s: Served, query: str) -> tuple[int, Any]:
    reply = await s.call("GET", f"/pixxel/v0/order-items?{query}", headers=PX)
    return reply.status, reply.json


async def test_an_orders_items_are_listed_in_pages_with_their_total_and_creation_time() -> None:
    items = [order_item(f"oi-{i}", "ord-1", T1) for i in range(5)] + [order_item("x", "ord-2")]
    async with serve(Scenario(pixxel_downloads=tuple(items))) as s:
        status, body = await order_page(s, "order_ids=ord-1&offset=2&limit=2")
        assert status == 200
        assert [i["id"] for i in body["order_items"]] == ["oi-2", "oi-3"]
        assert body["pagination"] == {"limit": 2, "offset": 2, "total": 5}
        first = body["order_items"][0]
        assert (first["order_id"], first["created_at"], first["status"]) == (
            "ord-1",
            T1,
            "ACTIVE",
        )
        assert s.emulator.stats()["pixxel:order_item:oi-2"]["listed"] == 1
        status, body = await order_page(s, "order_ids=ord-2")
        assert [i["id"] for i in body["order_items"]] == ["x"]
        assert (await order_page(s, "order_ids=ord-1&offset=-1"))[0] == 400


async def test_an_alteryx_workflows_jobs_come_newest_first_when_asked_and_in_pages() -> None:
    jobs = (
        AlteryxJob("a", app_id="wf", knobs=Knobs(created_at=T1)),
        AlteryxJob("b", app_id="wf", knobs=Knobs(created_at=T2)),
        AlteryxJob("c", app_id="other", knobs=Knobs(created_at=T2)),
    )
    async with serve(Scenario(alteryx_jobs=jobs)) as s:
        auth = await bearer(s)
        path = "/alteryx/webapi/v3/workflows/wf/jobs"
        reply = await s.call("GET", f"{path}?sortField=createDate&direction=desc", headers=auth)
        assert [(j["id"], j["createDate"]) for j in reply.json] == [("b", T2), ("a", T1)]
        assert reply.json[0]["status"] == "Completed"  # as its next status answer will say
        reply = await s.call("GET", f"{path}?offset=1&limit=5", headers=auth)
        assert [j["id"] for j in reply.json] == ["b"]
        unauthenticated = await s.call("GET", path)
        assert unauthenticated.status == 401


async def test_a_job_with_listed_after_appears_in_its_list_only_then() -> None:
    clock = ManualClock(START)
    jobs = (PixxelJob("wf", "early"), PixxelJob("wf", "late", knobs=Knobs(listed_after=30)))
    async with serve(Scenario(pixxel_jobs=jobs), clock) as s:
        listed = await s.call("GET", "/pixxel/v0/workflows/wf/jobs", headers=PX)
        assert [j["id"] for j in listed.json["jobs"]] == ["early"]
        clock.advance(30)
        listed = await s.call("GET", "/pixxel/v0/workflows/wf/jobs", headers=PX)
        assert [j["id"] for j in listed.json["jobs"]] == ["early", "late"]


async def test_lists_are_refused_as_the_knobs_say() -> None:
    settings = Settings(order_item_lists=False, alteryx_job_lists=False)
    scenario = Scenario(
        settings=settings,
        pixxel_downloads=(order_item("oi", "o"),),
        alteryx_jobs=(AlteryxJob("a", app_id="wf"),),
    )
    async with serve(scenario) as s:
        assert (await order_page(s, "order_ids=o"))[0] == 404
        auth = await bearer(s)
        refused = await s.call("GET", "/alteryx/webapi/v3/workflows/wf/jobs", headers=auth)
        assert refused.status == 404
    failing = Scenario(
        settings=Settings(list_failures=2, list_retry_after="9"),
        pixxel_jobs=(PixxelJob("wf", "j"),),
    )
    async with serve(failing) as s:
        answers = [await s.call("GET", "/pixxel/v0/workflows/wf/jobs", headers=PX) for _ in "abc"]
        assert [a.status for a in answers] == [503, 503, 200]
        assert answers[0].headers["Retry-After"] == "9"


def test_the_scenario_file_takes_the_list_knobs() -> None:
    scenario = parse_scenario(
        "[emulator]\norder_item_lists = false\nalteryx_job_lists = false\nlist_failures = 3\n"
        'list_retry_after = "2"\nlist_delay = 0.5\n'
        '[[pixxel.order_item]]\nid = "oi"\norder_id = "ord"\ncreated_at = "2026-11-01T00:00:00Z"\n'
        '[[scale.job]]\nid = 4\njob_type_name = "ingest"\njob_type_id = 12\nlisted_after = 5\n'
    )
    s = scenario.settings
    assert (s.order_item_lists, s.alteryx_job_lists, s.list_failures) == (False, False, 3)
    assert (s.list_retry_after, s.list_delay) == ("2", 0.5)
    (item,) = scenario.pixxel_downloads
    assert (item.order.order_id, item.knobs.created_at) == ("ord", "2026-11-01T00:00:00Z")
    (job,) = scenario.scale_jobs
    assert (job.job_type_name, job.job_type_id, job.knobs.listed_after) == ("ingest", 12, 5.0)
