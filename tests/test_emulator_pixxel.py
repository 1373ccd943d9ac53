from __future__ import annotations

import hashlib
import io
import zipfile

from downloader.emulator import (
    DownloadKind,
    FileEntry,
    Knobs,
    Malformed,
    OrderItemSpec,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    Scenario,
    Settings,
    Timing,
    expected_files,
)
from tests.support.emulator_fixtures import serve

KEY = {"Authorization": "px-test-key"}
JOB = "/pixxel/v0/workflows/wf-1/jobs/job-1"
FILES = (FileEntry("scene.tif", 70_000), FileEntry("meta.json", 300))


def job_scenario(**job: object) -> Scenario:
    return Scenario(pixxel_jobs=(PixxelJob("wf-1", "job-1", files=FILES, **job),))  # type: ignore[arg-type]


async def test_job_runs_then_completes_and_its_package_is_a_zip_of_its_files() -> None:
    scenario = job_scenario(done=Timing(polls=2), ready=Timing(polls=2))
    async with serve(scenario) as s:
        statuses = []
        for _ in range(3):
            reply = await s.call("GET", JOB, headers=KEY)
            assert reply.status == 200
            statuses.append(reply.json["status"])
        assert statuses == ["running", "running", "completed"]
        body = reply.json
        assert body["id"] == "job-1"
        assert body["workflow_id"] == "wf-1"
        assert body["progress"] == "100"
        task = body["tasks"][0]
        assert task["status"] == "completed"
        assert task["progress"] == 100.0
        assert task["err_msg"] == ""
        assert {"depends_on", "block_info", "estimated_time_duration"} <= set(task)

        answers = [(await s.call("PUT", JOB + "/download", headers=KEY)).json for _ in range(3)]
        assert [a["status"] for a in answers] == ["pending", "pending", "ready"]
        assert answers[0]["signed_url"] == ""
        assert answers[2]["workflowId"] == "wf-1"
        assert answers[2]["id"] == answers[0]["id"]
        package = await s.call("GET", answers[2]["signed_url"])
        assert package.status == 200
        (expected,) = expected_files(scenario)["pixxel:job:wf-1/job-1"]
        assert hashlib.sha256(package.raw).hexdigest() == expected.sha256
        with zipfile.ZipFile(io.BytesIO(package.raw)) as zf:
            assert zf.testzip() is None
            assert zf.namelist() == ["scene.tif", "meta.json"]
        assert answers[2]["signed_url"].split("?")[0].endswith("/job-1.zip")


async def test_running_job_progress_is_a_string_and_task_progress_a_number() -> None:
    async with serve(job_scenario(done=Timing(polls=3))) as s:
        body = (await s.call("GET", JOB, headers=KEY)).json
        assert body["status"] == "running"
        assert isinstance(body["progress"], str)
        assert 0 < int(body["progress"]) < 100
        assert isinstance(body["tasks"][0]["progress"], float)


async def test_download_of_an_unfinished_job_is_a_bad_request() -> None:
    async with serve(job_scenario(done=Timing(polls=5))) as s:
        await s.call("GET", JOB, headers=KEY)
        reply = await s.call("PUT", JOB + "/download", headers=KEY)
        assert reply.status == 400
        assert reply.json["error"]["code"] == "BAD_REQUEST"
        assert "running" in reply.json["error"]["message"]


async def test_bearer_form_of_the_key_is_accepted_and_others_are_forbidden() -> None:
    async with serve(job_scenario()) as s:
        assert (
            await s.call("GET", JOB, headers={"Authorization": "Bearer px-test-key"})
        ).status == 200
        for headers in ({}, {"Authorization": "wrong"}, {"Authorization": "Token px-test-key"}):
            reply = await s.call("GET", JOB, headers=headers)
            assert reply.status == 403
            assert set(reply.json["error"]) == {"code", "message", "details"}


async def test_unknown_ids_are_not_found_with_an_error_body() -> None:
    async with serve(job_scenario()) as s:
        for method, path in [
            ("GET", "/pixxel/v0/workflows/wf-1/jobs/nope"),
            ("PUT", JOB + "/tasks/nope/download"),
            ("GET", "/pixxel/v0/catalogs/download/nope"),
        ]:
            reply = await s.call(method, path, headers=KEY)
            assert reply.status == 404
            assert reply.json["error"]["code"] == "NOT_FOUND"


async def test_failed_job_reports_the_message_on_its_task_and_has_no_package() -> None:
    async with serve(job_scenario(fail="band 3 calibration failed")) as s:
        body = (await s.call("GET", JOB, headers=KEY)).json
        assert body["status"] == "failed"
        assert body["tasks"][0]["status"] == "failed"
        assert body["tasks"][0]["err_msg"] == "band 3 calibration failed"
        assert (await s.call("PUT", JOB + "/download", headers=KEY)).status == 400


async def test_task_download_packages_the_task_files_with_snake_case_fields() -> None:
    task = PixxelTask(
        "wf-1", "job-1", "t-9", name="ndvi", files=(FileEntry("ndvi.tif", 999),), ready=Timing(1)
    )
    scenario = Scenario(pixxel_tasks=(task,))
    path = JOB + "/tasks/t-9/download"
    async with serve(scenario) as s:
        assert (await s.call("PUT", path, headers=KEY)).status == 400  # nobody looked yet
        body = (await s.call("GET", JOB, headers=KEY)).json
        assert [(t["id"], t["name"], t["status"]) for t in body["tasks"]] == [
            ("t-9", "ndvi", "completed")
        ]
        first = (await s.call("PUT", path, headers=KEY)).json
        second = (await s.call("PUT", path, headers=KEY)).json
        assert first == {
            "id": "t-9",
            "job_id": "job-1",
            "workflow_id": "wf-1",
            "status": "pending",
            "signed_url": "",
        }
        assert second["status"] == "ready"
        package = await s.call("GET", second["signed_url"])
        with zipfile.ZipFile(io.BytesIO(package.raw)) as zf:
            assert zf.namelist() == ["ndvi.tif"]
        assert s.emulator.stats()[task.key]["package_requests"] == 3


async def test_a_failing_task_fails_its_job() -> None:
    tasks = (PixxelTask("wf-1", "job-1", "a"), PixxelTask("wf-1", "job-1", "b", fail="no data"))
    async with serve(Scenario(pixxel_tasks=tasks)) as s:
        body = (await s.call("GET", JOB, headers=KEY)).json
        assert body["status"] == "failed"
        assert [(t["status"], t["err_msg"]) for t in body["tasks"]] == [
            ("completed", ""),
            ("failed", "no data"),
        ]
        assert (await s.call("PUT", JOB + "/tasks/b/download", headers=KEY)).status == 400


async def test_catalog_download_is_created_then_polled_to_success() -> None:
    item = PixxelDownload(DownloadKind.CATALOG, "cat-1", FILES, ready=Timing(polls=2))
    scenario = Scenario(pixxel_downloads=(item,))
    async with serve(scenario) as s:
        created = await s.call(
            "POST", "/pixxel/v0/catalogs/download", headers=KEY, json={"catalog_ids": ["cat-1"]}
        )
        assert created.status == 201
        assert created.json["status"] == "created"
        assert created.json["signed_url"] == ""
        status_path = f"/pixxel/v0/catalogs/download/{created.json['id']}"
        answers = [(await s.call("GET", status_path, headers=KEY)).json for _ in range(3)]
        assert [a["status"] for a in answers] == ["created", "in_progress", "success"]
        assert answers[1]["signed_url"] == ""
        package = await s.call("GET", answers[2]["signed_url"])
        (expected,) = expected_files(scenario)[item.key]
        assert hashlib.sha256(package.raw).hexdigest() == expected.sha256
        stats = s.emulator.stats()[item.key]
        assert stats["downloads_created"] == 1
        assert stats["package_requests"] == 3


async def test_order_item_download_may_fail() -> None:
    item = PixxelDownload(DownloadKind.ORDER_ITEM, "oi-1", FILES, fail="expired order")
    async with serve(Scenario(pixxel_downloads=(item,))) as s:
        created = await s.call(
            "POST",
            "/pixxel/v0/catalogs/download",
            headers=KEY,
            json={"order_item_ids": ["oi-1"], "catalog_ids": []},
        )
        assert created.status == 201
        reply = await s.call(
            "GET", f"/pixxel/v0/catalogs/download/{created.json['id']}", headers=KEY
        )
        assert reply.json["status"] == "failed"
        assert reply.json["signed_url"] == ""


ORDER = "/pixxel/v0/order-items/oi-1"
ORDER_DOWNLOAD = {"order_item_ids": ["oi-1"], "catalog_ids": []}


async def test_an_order_item_is_active_until_fulfilled_and_its_download_refused_till_then() -> None:
    item = PixxelDownload(DownloadKind.ORDER_ITEM, "oi-1", FILES, order=OrderItemSpec(Timing(2)))
    async with serve(Scenario(pixxel_downloads=(item,))) as s:
        early = await s.call(
            "POST", "/pixxel/v0/catalogs/download", headers=KEY, json=ORDER_DOWNLOAD
        )
        assert early.status == 400
        assert "not fulfilled" in early.json["error"]["message"]
        answers = [(await s.call("GET", ORDER, headers=KEY)).json for _ in range(3)]
        assert [a["status"] for a in answers] == ["ACTIVE", "ACTIVE", "FULFILLED"]
        assert [a["tasks"][0]["status"] for a in answers] == ["IN_PROGRESS"] * 2 + ["FULFILLED"]
        assert answers[2]["id"] == "oi-1"
        created = await s.call(
            "POST", "/pixxel/v0/catalogs/download", headers=KEY, json=ORDER_DOWNLOAD
        )
        assert created.status == 201
        assert s.emulator.stats()[item.key]["job_polls"] == 3


async def test_an_order_item_may_end_cancelled_or_with_an_expired_task_in_any_case() -> None:
    cancelled = PixxelDownload(
        DownloadKind.ORDER_ITEM, "oi-1", FILES, order=OrderItemSpec(outcome="CANCELLED")
    )
    expired = PixxelDownload(
        DownloadKind.ORDER_ITEM,
        "oi-2",
        FILES,
        order=OrderItemSpec(task_outcome="EXPIRED", status_case="lower"),
    )
    async with serve(Scenario(pixxel_downloads=(cancelled, expired))) as s:
        one = (await s.call("GET", ORDER, headers=KEY)).json
        two = (await s.call("GET", ORDER.replace("oi-1", "oi-2"), headers=KEY)).json
        refused = await s.call(
            "POST", "/pixxel/v0/catalogs/download", headers=KEY, json=ORDER_DOWNLOAD
        )
    assert (one["status"], one["tasks"][0]["status"]) == ("CANCELLED", "CANCELLED")
    assert (two["status"], two["tasks"][0]["status"]) == ("active", "expired")
    assert refused.status == 400


async def test_an_order_item_may_refuse_its_first_downloads_though_fulfilled() -> None:
    spec = OrderItemSpec(refuse_downloads=2)
    item = PixxelDownload(DownloadKind.ORDER_ITEM, "oi-1", FILES, order=spec)
    async with serve(Scenario(pixxel_downloads=(item,))) as s:
        assert (await s.call("GET", ORDER, headers=KEY)).json["status"] == "FULFILLED"
        statuses = [
            (
                await s.call(
                    "POST", "/pixxel/v0/catalogs/download", headers=KEY, json=ORDER_DOWNLOAD
                )
            ).status
            for _ in range(3)
        ]
    assert statuses == [400, 400, 201]


async def test_catalog_download_needs_exactly_one_non_empty_id_list() -> None:
    item = PixxelDownload(DownloadKind.CATALOG, "cat-1", FILES)
    other = PixxelDownload(DownloadKind.ORDER_ITEM, "oi-1", FILES)
    async with serve(Scenario(pixxel_downloads=(item, other))) as s:
        bodies: list[dict[str, object]] = [
            {"catalog_ids": ["cat-1"], "order_item_ids": ["oi-1"]},
            {},
            {"catalog_ids": [], "order_item_ids": []},
            {"catalog_ids": "cat-1"},
        ]
        for body in bodies:
            reply = await s.call("POST", "/pixxel/v0/catalogs/download", headers=KEY, json=body)
            assert reply.status == 400
            assert set(reply.json["error"]) == {"code", "message", "details"}
        wrong_kind = await s.call(
            "POST", "/pixxel/v0/catalogs/download", headers=KEY, json={"catalog_ids": ["oi-1"]}
        )
        assert wrong_kind.status == 404
        assert s.emulator.stats().get(item.key, {}).get("downloads_created", 0) == 0


async def test_a_download_of_several_catalogs_holds_each_under_its_id() -> None:
    items = tuple(
        PixxelDownload(DownloadKind.CATALOG, name, (FileEntry("scene.tif", 50),))
        for name in ("c-1", "c-2")
    )
    async with serve(Scenario(pixxel_downloads=items)) as s:
        created = await s.call(
            "POST",
            "/pixxel/v0/catalogs/download",
            headers=KEY,
            json={"catalog_ids": ["c-1", "c-2"]},
        )
        done = await s.call(
            "GET", f"/pixxel/v0/catalogs/download/{created.json['id']}", headers=KEY
        )
        package = await s.call("GET", done.json["signed_url"])
        with zipfile.ZipFile(io.BytesIO(package.raw)) as zf:
            assert zf.namelist() == ["c-1/scene.tif", "c-2/scene.tif"]
        assert all(s.emulator.stats()[i.key]["downloads_created"] == 1 for i in items)


async def test_signed_urls_expire_and_asking_again_gives_a_fresh_one() -> None:
    scenario = job_scenario(knobs=Knobs(url_lifetime=5))
    async with serve(scenario) as s:
        await s.call("GET", JOB, headers=KEY)
        first = (await s.call("PUT", JOB + "/download", headers=KEY)).json["signed_url"]
        assert (await s.call("GET", first)).status == 200
        s.clock.advance(6)
        assert (await s.call("GET", first)).status == 403
        fresh = (await s.call("PUT", JOB + "/download", headers=KEY)).json["signed_url"]
        assert fresh != first
        assert (await s.call("GET", fresh)).status == 200


async def test_default_url_lifetime_comes_from_the_settings() -> None:
    scenario = Scenario(
        settings=Settings(url_lifetime=100),
        pixxel_jobs=(PixxelJob("wf-1", "job-1", files=FILES),),
    )
    async with serve(scenario) as s:
        await s.call("GET", JOB, headers=KEY)
        url = (await s.call("PUT", JOB + "/download", headers=KEY)).json["signed_url"]
        s.clock.advance(99)
        assert (await s.call("GET", url, headers={"Range": "bytes=0-9"})).status == 206
        s.clock.advance(2)
        assert (await s.call("GET", url)).status == 403


async def test_job_duration_in_seconds_follows_the_clock() -> None:
    async with serve(job_scenario(done=Timing(seconds=30))) as s:
        assert (await s.call("GET", JOB, headers=KEY)).json["status"] == "running"
        s.clock.advance(29)
        assert (await s.call("GET", JOB, headers=KEY)).json["status"] == "running"
        s.clock.advance(1)
        body = (await s.call("GET", JOB, headers=KEY)).json
        assert body["status"] == "completed"
        assert body["finished_at"] != ""


async def test_throttled_calls_get_429_with_retry_after_then_pass() -> None:
    async with serve(job_scenario(knobs=Knobs(throttle=2, retry_after="7"))) as s:
        replies = [await s.call("GET", JOB, headers=KEY) for _ in range(3)]
        assert [r.status for r in replies] == [429, 429, 200]
        assert replies[0].headers["Retry-After"] == "7"
        assert replies[0].json["error"]["code"] == "TOO_MANY_REQUESTS"
        stats = s.emulator.stats()["pixxel:job:wf-1/job-1"]
        assert (stats["throttled"], stats["job_polls"]) == (2, 1)


async def test_file_faults_of_an_item_apply_to_its_package() -> None:
    scenario = job_scenario(knobs=Knobs(faults={"error_statuses": [503], "retry_after": "2"}))
    async with serve(scenario) as s:
        await s.call("GET", JOB, headers=KEY)
        url = (await s.call("PUT", JOB + "/download", headers=KEY)).json["signed_url"]
        first = await s.call("GET", url)
        assert (first.status, first.headers["Retry-After"]) == (503, "2")
        assert (await s.call("GET", url)).status == 200


LIST = "/pixxel/v0/workflows/wf-1/jobs"
LIST_FIELDS = {
    "id",
    "workflow_id",
    "status",
    "progress",
    "cost",
    "created_by",
    "created_at",
    "updated_at",
    "finished_at",
    "estimated_duration",
    "time_taken",
}


def workflow_scenario(**settings: object) -> Scenario:
    return Scenario(
        settings=Settings(**settings),  # type: ignore[arg-type]
        pixxel_jobs=(
            PixxelJob("wf-1", "done", files=FILES),
            PixxelJob("wf-1", "slow", done=Timing(polls=2)),
            PixxelJob("wf-1", "broken", fail="no signal"),
            PixxelJob("wf-2", "elsewhere"),
        ),
        pixxel_tasks=(PixxelTask("wf-1", "tasked", "t-1", done=Timing(polls=1)),),
    )


async def test_listed_jobs_are_get_job_answers_without_tasks_and_details() -> None:
    scenario = workflow_scenario()
    async with serve(scenario) as lists, serve(scenario) as gets:
        for _ in range(3):
            lists.clock.advance(7)
            gets.clock.advance(7)
            reply = await lists.call("GET", LIST, headers=KEY)
            assert reply.status == 200
            assert set(reply.json) == {"jobs"}
            listed = reply.json["jobs"]
            assert [j["id"] for j in listed] == ["done", "slow", "broken", "tasked"]
            for item in listed:
                assert set(item) == LIST_FIELDS
                got = await gets.call("GET", f"{LIST}/{item['id']}", headers=KEY)
                assert item == {name: got.json[name] for name in LIST_FIELDS}
        statuses = {j["id"]: j["status"] for j in listed}
        assert statuses == {
            "done": "completed",
            "slow": "completed",
            "broken": "failed",
            "tasked": "completed",
        }


async def test_a_job_finishing_after_n_polls_finishes_after_n_listings_or_a_mix() -> None:
    scenario = job_scenario(done=Timing(polls=2))
    async with serve(scenario) as s:
        listed = [(await s.call("GET", LIST, headers=KEY)).json["jobs"][0] for _ in range(3)]
        assert [j["status"] for j in listed] == ["running", "running", "completed"]
        assert listed[0]["finished_at"] == ""
        assert listed[2]["finished_at"] != ""
        assert listed[2]["progress"] == "100"
    async with serve(scenario) as s:
        first = (await s.call("GET", LIST, headers=KEY)).json["jobs"][0]["status"]
        second = (await s.call("GET", JOB, headers=KEY)).json["status"]
        third = (await s.call("GET", LIST, headers=KEY)).json["jobs"][0]["status"]
        assert [first, second, third] == ["running", "running", "completed"]


async def test_a_listing_counts_a_poll_and_a_listing_but_no_api_call_of_each_job() -> None:
    async with serve(job_scenario(done=Timing(polls=5))) as s:
        await s.call("GET", LIST, headers=KEY)
        await s.call("GET", LIST, headers=KEY)
        await s.call("GET", JOB, headers=KEY)
        stats = s.emulator.stats()["pixxel:job:wf-1/job-1"]
        assert (stats["job_polls"], stats["listed"], stats["api_calls"]) == (3, 2, 1)
        log = s.emulator.log
        assert [(r.path, r.item) for r in log[:2]] == [(LIST, None), (LIST, None)]


async def test_throttle_and_malformed_knobs_do_not_touch_the_list() -> None:
    knobs = Knobs(throttle=3, malformed=Malformed.TRUNCATED_JSON)
    async with serve(job_scenario(knobs=knobs)) as s:
        reply = await s.call("GET", LIST, headers=KEY)
        assert reply.status == 200
        assert reply.json["jobs"][0]["status"] == "completed"
        assert (await s.call("GET", JOB, headers=KEY)).status == 429
        stats = s.emulator.stats()["pixxel:job:wf-1/job-1"]
        assert (stats["throttled"], stats["malformed_served"], stats["listed"]) == (1, 0, 1)


async def test_the_status_filter_lists_and_counts_only_matching_jobs() -> None:
    async with serve(workflow_scenario()) as s:

        async def ids(query: str) -> list[str]:
            reply = await s.call("GET", LIST + query, headers=KEY)
            assert reply.status == 200
            return [j["id"] for j in reply.json["jobs"]]

        assert await ids("?status=FAILED") == ["broken"]
        assert await ids("?status=Running") == ["slow", "tasked"]
        stats = s.emulator.stats()
        assert "pixxel:job:wf-1/done" not in stats
        assert stats["pixxel:job:wf-1/broken"]["listed"] == 1
        assert stats["pixxel:job:wf-1/slow"]["job_polls"] == 1
        assert await ids("?status=completed,%20failed") == ["done", "broken", "tasked"]
        assert await ids("?status=running&status=failed") == ["slow", "broken"]
        assert await ids("?status=cancelled") == []
        stats = s.emulator.stats()
        assert stats["pixxel:job:wf-1/done"]["job_polls"] == 1
        assert stats["pixxel:job:wf-1/slow"]["job_polls"] == 2
        assert stats["pixxel:job:wf-1/tasked"]["job_polls"] == 2


async def test_the_status_filter_judges_the_status_the_listing_will_report() -> None:
    async with serve(job_scenario(done=Timing(polls=1))) as s:
        assert (await s.call("GET", JOB, headers=KEY)).json["status"] == "running"
        assert (await s.call("GET", LIST + "?status=running", headers=KEY)).json == {"jobs": []}
        assert s.emulator.stats()["pixxel:job:wf-1/job-1"]["job_polls"] == 1
        (job,) = (await s.call("GET", LIST + "?status=completed", headers=KEY)).json["jobs"]
        assert job["status"] == "completed"
        assert s.emulator.stats()["pixxel:job:wf-1/job-1"]["job_polls"] == 2


async def test_an_unknown_workflow_lists_no_jobs_and_the_list_needs_the_key() -> None:
    async with serve(workflow_scenario()) as s:
        reply = await s.call("GET", "/pixxel/v0/workflows/wf-9/jobs", headers=KEY)
        assert (reply.status, reply.json) == (200, {"jobs": []})
        assert s.emulator.stats() == {}
        other = await s.call("GET", "/pixxel/v0/workflows/wf-2/jobs", headers=KEY)
        assert [j["id"] for j in other.json["jobs"]] == ["elsewhere"]
        denied = await s.call("GET", LIST)
        assert denied.status == 403
        assert denied.json["error"]["code"] == "FORBIDDEN"


async def test_without_job_lists_the_list_is_not_found_but_get_job_still_answers() -> None:
    async with serve(workflow_scenario(job_lists=False)) as s:
        reply = await s.call("GET", LIST, headers=KEY)
        assert reply.status == 404
        assert reply.json["error"]["code"] == "NOT_FOUND"
        assert (await s.call("GET", LIST + "/done", headers=KEY)).json["status"] == "completed"
        assert s.emulator.stats()["pixxel:job:wf-1/done"]["listed"] == 0
