from __future__ import annotations

import hashlib
import io
import zipfile

from downloader.emulator import (
    DownloadKind,
    FileEntry,
    Knobs,
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
