from __future__ import annotations

import hashlib

from downloader.emulator import (
    FileEntry,
    Knobs,
    ScaleJob,
    Scenario,
    Settings,
    Timing,
    expected_files,
)
from tests.support.emulator_fixtures import serve

TOKEN = {"Authorization": "Token sc-tok"}
FILES = tuple(FileEntry(f"f{i}.tif", 1000 + i, "image/tiff") for i in range(5))


def scale(*jobs: ScaleJob, token: str | None = "sc-tok", page_size: int = 2) -> Scenario:
    return Scenario(settings=Settings(scale_token=token, page_size=page_size), scale_jobs=jobs)


async def test_v6_job_is_queued_running_then_completed_with_output_file_ids() -> None:
    async with serve(scale(ScaleJob(15096, FILES[:2], done=Timing(polls=2)))) as s:
        statuses = [(await s.call("GET", "/scale/v6/jobs/15096/", headers=TOKEN)) for _ in range(3)]
        assert [r.json["status"] for r in statuses] == ["QUEUED", "RUNNING", "COMPLETED"]
        assert statuses[0].json["output"] is None
        body = statuses[2].json
        assert body["id"] == 15096
        assert body["error"] is None
        assert body["output"] == {"files": {"output_file": [1001, 1002]}, "json": {}}
        assert body["ended"] is not None


async def test_v6_files_are_paginated_with_absolute_next_links_until_null() -> None:
    scenario = scale(ScaleJob(15096, FILES))
    async with serve(scenario) as s:
        await s.call("GET", "/scale/v6/jobs/15096/", headers=TOKEN)
        url: str | None = f"{s.base}/scale/v6/files/?job_id=15096&file_type=PRODUCT"
        pages, previous = [], []
        while url is not None:
            reply = await s.call("GET", url, headers=TOKEN)
            assert reply.status == 200
            assert reply.json["count"] == 5
            pages.append(reply.json["results"])
            previous.append(reply.json["previous"])
            url = reply.json["next"]
            assert url is None or url.startswith(s.base + "/scale/v6/files/?")
        assert [len(p) for p in pages] == [2, 2, 1]
        assert previous[0] is None
        assert "page" not in previous[1]
        assert "page=2" in previous[2]
        results = [f for page in pages for f in page]
        assert [f["file_name"] for f in results] == [f.name for f in FILES]
        first = results[0]
        assert first["file_size"] == 1000
        assert first["media_type"] == "image/tiff"
        assert first["file_path"] == "products/15096/f0.tif"
        assert first["job"] == {"id": 15096}
        assert first["job_output"] == "output_file"
        assert first["is_deleted"] is False
        expected = {f.name: f.sha256 for f in expected_files(scenario)["scale:job:15096"]}
        for result in results:
            body = await s.call("GET", result["url"])  # no token: the file host is separate
            assert hashlib.sha256(body.raw).hexdigest() == expected[result["file_name"]]


async def test_page_size_parameter_and_invalid_pages() -> None:
    async with serve(scale(ScaleJob(1, FILES))) as s:
        one_page = await s.call("GET", "/scale/v6/files/?job_id=1&page_size=10", headers=TOKEN)
        assert (len(one_page.json["results"]), one_page.json["next"]) == (5, None)
        for page in ("4", "0", "x"):
            reply = await s.call("GET", f"/scale/v6/files/?job_id=1&page={page}", headers=TOKEN)
            assert reply.status == 404
            assert reply.json == {"detail": "Invalid page."}


async def test_files_appear_only_once_the_job_has_completed() -> None:
    async with serve(scale(ScaleJob(1, FILES, done=Timing(polls=1)))) as s:
        before = await s.call("GET", "/scale/v6/files/?job_id=1", headers=TOKEN)
        assert before.json["count"] == 0
        await s.call("GET", "/scale/v6/jobs/1/", headers=TOKEN)
        after = await s.call("GET", "/scale/v6/files/?job_id=1", headers=TOKEN)
        assert after.json["count"] == 5
        detail = await s.call("GET", "/scale/v6/files/1001/", headers=TOKEN)
        assert detail.json["file_name"] == "f0.tif"


async def test_failed_and_canceled_jobs_end_with_their_status_and_no_files() -> None:
    jobs = (ScaleJob(1, FILES, fail="algorithm exit code 3"), ScaleJob(2, FILES, cancel=True))
    async with serve(scale(*jobs)) as s:
        failed = (await s.call("GET", "/scale/v6/jobs/1/", headers=TOKEN)).json
        assert failed["status"] == "FAILED"
        assert failed["error"]["description"] == "algorithm exit code 3"
        assert failed["error"]["category"] == "ALGORITHM"
        canceled = (await s.call("GET", "/scale/v6/jobs/2/", headers=TOKEN)).json
        assert (canceled["status"], canceled["error"]) == ("CANCELED", None)
        files = await s.call("GET", "/scale/v6/files/?job_id=1&job_id=2", headers=TOKEN)
        assert files.json["count"] == 0


async def test_null_url_knob_hides_every_file_url() -> None:
    async with serve(scale(ScaleJob(1, FILES[:1], null_url=True))) as s:
        reply = await s.call("GET", "/scale/v6/files/?job_id=1", headers=TOKEN)
        assert reply.json["results"][0]["url"] is None


async def test_token_is_required_when_configured_and_optional_otherwise() -> None:
    async with serve(scale(ScaleJob(1))) as s:
        missing = await s.call("GET", "/scale/v6/jobs/1/")
        assert missing.status == 401
        assert missing.json == {"detail": "Authentication credentials were not provided."}
        assert missing.headers["WWW-Authenticate"].startswith("Token")
        wrong = await s.call("GET", "/scale/v6/jobs/1/", headers={"Authorization": "Token no"})
        assert (wrong.status, wrong.json) == (401, {"detail": "Invalid token."})
        legacy = await s.call("GET", "/scale-legacy/jobs/1/")
        assert legacy.status == 401
        assert legacy.headers["Content-Type"].startswith("text/plain")
    async with serve(scale(ScaleJob(1), token=None)) as s:
        assert (await s.call("GET", "/scale/v6/jobs/1/")).status == 200


async def test_unknown_jobs_are_not_found() -> None:
    async with serve(scale(ScaleJob(1))) as s:
        assert (await s.call("GET", "/scale/v6/jobs/2/", headers=TOKEN)).json == {
            "detail": "Not found."
        }
        legacy = await s.call("GET", "/scale/jobs/x/", headers=TOKEN)
        assert legacy.status == 404
        assert legacy.headers["Content-Type"].startswith("text/plain")


async def test_legacy_job_carries_full_file_objects_inline_in_outputs() -> None:
    files = (*FILES[:2], FileEntry("dem.tif", 77, output="dem"))
    async with serve(scale(ScaleJob(9, files, done=Timing(polls=1)))) as s:
        running = (await s.call("GET", "/scale-legacy/jobs/9/", headers=TOKEN)).json
        assert (running["status"], running["outputs"]) == ("QUEUED", [])
        done = (await s.call("GET", "/scale/jobs/9/", headers=TOKEN)).json  # same job, both mounts
        assert done["status"] == "COMPLETED"
        outputs = {o["name"]: o for o in done["outputs"]}
        assert outputs["output_file"]["type"] == "files"
        assert [v["file_name"] for v in outputs["output_file"]["value"]] == ["f0.tif", "f1.tif"]
        dem = outputs["dem"]
        assert dem["type"] == "file"
        assert {"file_name", "media_type", "file_size", "url", "uuid"} <= set(dem["value"])
        body = await s.call("GET", dem["value"]["url"])
        assert len(body.raw) == 77


async def test_the_legacy_mount_has_no_v6_paths() -> None:
    async with serve(scale(ScaleJob(1))) as s:
        assert (await s.call("GET", "/scale-legacy/v6/jobs/1/", headers=TOKEN)).status == 404


async def test_throttled_scale_calls_answer_429_in_drf_form() -> None:
    async with serve(scale(ScaleJob(1, knobs=Knobs(throttle=1, retry_after="2")))) as s:
        first = await s.call("GET", "/scale/v6/jobs/1/", headers=TOKEN)
        assert (first.status, first.headers["Retry-After"]) == (429, "2")
        assert "detail" in first.json
        assert (await s.call("GET", "/scale/v6/jobs/1/", headers=TOKEN)).status == 200


async def test_each_file_of_an_item_gets_its_own_copy_of_the_faults() -> None:
    knobs = Knobs(faults={"error_statuses": [503]})
    scenario = scale(ScaleJob(1, FILES[:2], knobs=knobs), token=None)
    async with serve(scenario) as s:
        results = (await s.call("GET", "/scale/v6/files/?job_id=1")).json["results"]
        for result in results:
            assert (await s.call("GET", result["url"])).status == 503
            assert (await s.call("GET", result["url"])).status == 200
    assert knobs.faults == {"error_statuses": [503]}
