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


async def test_page_links_may_name_the_servers_own_origin_as_behind_a_proxy() -> None:
    settings = Settings(scale_token="sc-tok", page_size=2, scale_next_origin="http://10.0.0.7:8000")
    scenario = Scenario(settings=settings, scale_jobs=(ScaleJob(15096, FILES),))
    async with serve(scenario) as s:
        await s.call("GET", "/scale/v6/jobs/15096/", headers=TOKEN)
        first = await s.call("GET", "/scale/v6/files/?job_id=15096", headers=TOKEN)
        second = await s.call("GET", "/scale/v6/files/?job_id=15096&page=2", headers=TOKEN)
        listed = await s.call("GET", "/scale/v6/jobs/?job_id=15096&page_size=1", headers=TOKEN)
    assert first.json["next"] == "http://10.0.0.7:8000/scale/v6/files/?job_id=15096&page=2"
    assert second.json["previous"] == "http://10.0.0.7:8000/scale/v6/files/?job_id=15096"
    assert listed.json["next"] is None  # one job: one page


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


JOBS = "/scale/v6/jobs/"
DETAIL_ONLY = {"superseded_by_job", "resources", "max_tries", "input", "output"}


def unordered_jobs(**settings: object) -> Scenario:
    """Jobs 1-5 out of id order: 4 running for a while, 2 failed, 5 canceled."""
    jobs = (
        ScaleJob(3, FILES[:1]),
        ScaleJob(1),
        ScaleJob(4, done=Timing(polls=3)),
        ScaleJob(2, fail="exit code 1"),
        ScaleJob(5, cancel=True),
    )
    return Scenario(settings=Settings(scale_token=None, page_size=2, **settings), scale_jobs=jobs)  # type: ignore[arg-type]


async def test_v6_job_list_items_are_job_details_without_the_detail_only_fields() -> None:
    scenario = unordered_jobs()
    async with serve(scenario) as lists, serve(scenario) as gets:
        for _ in range(2):
            lists.clock.advance(11)
            gets.clock.advance(11)
            reply = await lists.call("GET", JOBS + "?page_size=10")
            assert reply.status == 200
            assert (reply.json["count"], reply.json["next"], reply.json["previous"]) == (
                5,
                None,
                None,
            )
            for item in reply.json["results"]:
                detail = (await gets.call("GET", f"{JOBS}{item['id']}/")).json
                assert set(detail) - set(item) == DETAIL_ONLY
                assert item == {k: v for k, v in detail.items() if k not in DETAIL_ONLY}
        statuses = [(j["id"], j["status"]) for j in reply.json["results"]]
        assert statuses == [
            (1, "COMPLETED"),
            (2, "FAILED"),
            (3, "COMPLETED"),
            (4, "RUNNING"),
            (5, "CANCELED"),
        ]
        assert reply.json["results"][1]["error"]["description"] == "exit code 1"


async def test_v6_job_list_pages_follow_next_and_count_only_the_jobs_served() -> None:
    async with serve(unordered_jobs()) as s:
        first = await s.call("GET", JOBS)
        assert [j["id"] for j in first.json["results"]] == [1, 2]
        assert first.json["previous"] is None
        stats = s.emulator.stats()
        assert set(stats) == {"scale:job:1", "scale:job:2"}
        assert (stats["scale:job:1"]["job_polls"], stats["scale:job:1"]["listed"]) == (1, 1)
        assert stats["scale:job:1"]["api_calls"] == 0
        url = first.json["next"]
        assert url == f"{s.base}/scale/v6/jobs/?page=2"
        second = await s.call("GET", url)
        assert [j["id"] for j in second.json["results"]] == [3, 4]
        assert second.json["previous"] == f"{s.base}/scale/v6/jobs/"
        third = await s.call("GET", second.json["next"])
        assert [j["id"] for j in third.json["results"]] == [5]
        assert (third.json["next"], third.json["count"]) == (None, 5)
        assert third.json["previous"] == f"{s.base}/scale/v6/jobs/?page=2"
        assert all(v["listed"] == 1 for v in s.emulator.stats().values())
        for page in ("4", "0", "x"):
            reply = await s.call("GET", f"{JOBS}?page={page}")
            assert (reply.status, reply.json) == (404, {"detail": "Invalid page."})


async def test_v6_job_list_page_size_is_capped_at_a_thousand() -> None:
    jobs = tuple(ScaleJob(i) for i in range(1, 1006))
    async with serve(Scenario(settings=Settings(scale_token=None), scale_jobs=jobs)) as s:
        default = await s.call("GET", JOBS + "?page_size=x")
        assert len(default.json["results"]) == 100
        capped = await s.call("GET", JOBS + "?page_size=5000")
        assert len(capped.json["results"]) == 1000
        assert capped.json["next"] == f"{s.base}/scale/v6/jobs/?page_size=5000&page=2"
        rest = await s.call("GET", capped.json["next"])
        assert [j["id"] for j in rest.json["results"]] == [1001, 1002, 1003, 1004, 1005]


async def test_v6_job_list_filters_by_job_id_and_exact_status() -> None:
    async with serve(unordered_jobs()) as s:
        named = await s.call("GET", JOBS + "?job_id=4&job_id=2&job_id=99&page_size=1")
        assert [j["id"] for j in named.json["results"]] == [2]
        assert named.json["count"] == 2
        assert (
            named.json["next"]
            == f"{s.base}/scale/v6/jobs/?job_id=4&job_id=2&job_id=99&page_size=1&page=2"
        )
        following = await s.call("GET", named.json["next"])
        assert [j["id"] for j in following.json["results"]] == [4]
        done = await s.call("GET", JOBS + "?status=COMPLETED&status=CANCELED")
        assert [j["id"] for j in done.json["results"]] == [1, 3]
        assert done.json["count"] == 3
        assert (await s.call("GET", JOBS + "?status=failed")).json["count"] == 0
        running = await s.call("GET", JOBS + "?status=RUNNING")
        assert [(j["id"], j["status"]) for j in running.json["results"]] == [(4, "RUNNING")]
        stats = s.emulator.stats()
        assert (stats["scale:job:4"]["job_polls"], stats["scale:job:4"]["listed"]) == (2, 2)
        assert "scale:job:5" not in stats


async def test_the_v6_status_filter_judges_the_status_the_listing_will_report() -> None:
    async with serve(unordered_jobs()) as s:
        assert (await s.call("GET", JOBS + "?status=RUNNING")).json["count"] == 0
        assert "scale:job:4" not in s.emulator.stats()
        queued = await s.call("GET", JOBS + "?status=QUEUED")
        assert [j["id"] for j in queued.json["results"]] == [4]
        assert queued.json["results"][0]["started"] is None
        running = await s.call("GET", JOBS + "?status=RUNNING")
        assert [j["id"] for j in running.json["results"]] == [4]


async def test_a_bad_job_id_is_a_bad_request_that_counts_nothing() -> None:
    async with serve(unordered_jobs()) as s:
        for query in ("?job_id=x", "?job_id=1&job_id=2.5", "?job_id="):
            reply = await s.call("GET", JOBS + query)
            assert reply.status == 400
            assert reply.json == {"detail": 'Parameter must be a valid integer: "job_id"'}
        assert s.emulator.stats() == {}


async def test_a_job_finishing_after_n_polls_finishes_after_n_listings_or_a_mix() -> None:
    scenario = scale(ScaleJob(7, FILES[:1], done=Timing(polls=2)))
    async with serve(scenario) as s:
        listed = []
        for _ in range(3):
            (job,) = (await s.call("GET", JOBS, headers=TOKEN)).json["results"]
            listed.append(job["status"])
        assert listed == ["QUEUED", "RUNNING", "COMPLETED"]
        assert "output" not in job
    async with serve(scenario) as s:
        first = (await s.call("GET", JOBS, headers=TOKEN)).json["results"][0]["status"]
        second = (await s.call("GET", "/scale/v6/jobs/7/", headers=TOKEN)).json["status"]
        third = (await s.call("GET", JOBS, headers=TOKEN)).json["results"][0]["status"]
        assert [first, second, third] == ["QUEUED", "RUNNING", "COMPLETED"]
        stats = s.emulator.stats()["scale:job:7"]
        assert (stats["job_polls"], stats["listed"], stats["api_calls"]) == (3, 2, 1)


async def test_the_v6_job_list_needs_the_token_and_only_the_v6_mount_has_it() -> None:
    async with serve(scale(ScaleJob(1))) as s:
        missing = await s.call("GET", JOBS)
        assert (missing.status, missing.json["detail"]) == (
            401,
            "Authentication credentials were not provided.",
        )
        assert (await s.call("GET", "/scale-legacy/v6/jobs/", headers=TOKEN)).status == 404
        assert (await s.call("GET", JOBS, headers=TOKEN)).json["count"] == 1


async def test_without_job_lists_the_v6_job_list_is_not_found() -> None:
    async with serve(unordered_jobs(job_lists=False)) as s:
        reply = await s.call("GET", JOBS)
        assert (reply.status, reply.json) == (404, {"detail": "Not found."})
        assert s.emulator.stats() == {}
        assert (await s.call("GET", JOBS + "1/")).json["status"] == "COMPLETED"
