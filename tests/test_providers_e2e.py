"""Every item kind from `ItemRef` to verified files, against the emulator; and failures."""

from __future__ import annotations

import anyio
import pytest

from downloader.config import PollSettings
from downloader.emulator import (
    AlteryxJob,
    AlteryxOutput,
    DownloadKind,
    FileEntry,
    Knobs,
    PixxelDownload,
    PixxelJob,
    PixxelTask,
    ScaleJob,
    Scenario,
    Timing,
)
from downloader.errors import ApiError, PollTimeout, ProviderError, RemoteJobFailed
from downloader.providers import MemoryMemo
from tests.support.providers import AYX, KINDS, SCENARIO, Phases, got, world


@pytest.mark.parametrize(("key", "formats"), KINDS)
async def test_each_item_kind_arrives_as_verified_files(tmp_path, key, formats):
    async with world(tmp_path, SCENARIO) as w:
        results = await w.download(key)
        assert got(results) == w.expected(key, formats)
        assert all(r.path.read_bytes()[:2] for r in results)


async def test_a_legacy_scale_job_arrives_with_its_inline_products(tmp_path):
    async with world(tmp_path, SCENARIO, scale_legacy=True) as w:
        package = await w.prepare("scale:job:15096")
        assert package.description == "Scale job products"
        assert [a.expected_size for a in package.assets] == [1000, 70_000, 10]
        assert got(await w.fetch("scale:job:15096", package)) == w.expected("scale:job:15096")
        paths = {r.path for r in w.api_log(item="scale:job:15096")}
        assert paths == {"/scale-legacy/jobs/15096/"}


async def test_scale_v6_follows_every_page_of_the_file_list(tmp_path):
    async with world(tmp_path, SCENARIO) as w:
        package = await w.prepare("scale:job:15096")
    pages = [r for r in w.api_log(item="scale:job:15096") if r.path == "/scale/v6/files/"]
    assert len(pages) == 3  # page_size = 1
    assert [a.filename for a in package.assets] == ["a.kml", "b.tif", "c.json"]
    assert len({a.key for a in package.assets}) == 3


async def test_the_bearer_scheme_sends_the_pixxel_key_as_a_bearer_token(tmp_path):
    async with world(tmp_path, SCENARIO, auth_scheme="bearer") as w:
        results = await w.download("pixxel:order_item:oi-1")
        assert got(results) == w.expected("pixxel:order_item:oi-1")


async def test_an_alteryx_output_is_fetched_in_the_configured_format(tmp_path):
    key = "alteryx:job:" + AYX
    async with world(tmp_path, SCENARIO, output_format="Csv") as w:
        package = await w.prepare(key)
        results = await w.fetch(key, package)
        assert got(results) == w.expected(key, ("Csv", "Yxdb"))
    assert [a.url.rsplit("?", 1)[1] for a in package.assets if a.url] == [
        "format=Csv",
        "format=Yxdb",
    ]
    assert [a.fallback_name for a in package.assets] == ["result.csv", "summary.yxdb"]
    assert [a.key for a in package.assets] == [f"{key}#output-o1", f"{key}#output-o2"]


async def test_a_pixxel_job_moves_through_the_phases_with_growing_waits(tmp_path):
    async with world(tmp_path, SCENARIO) as w:
        phases = Phases()
        package = await w.prepare("pixxel:job:wf-1/job-1", events=phases)
        assert package.description == "Pixxel job package (ZIP)"
        assert package.download_id
        # three "running" answers, then two "pending" packages: each wait twice the last
        assert w.clock.sleeps == [1, 2, 4, 1, 2]
        assert phases.seen == [
            ("waiting", "running"),
            ("requested", ""),
            ("preparing", "pending"),
        ]
        assert w.stats("pixxel:job:wf-1/job-1")["package_requests"] == 3


async def test_a_catalog_download_is_created_once_then_polled(tmp_path):
    async with world(tmp_path, SCENARIO) as w:
        memo = MemoryMemo()
        phases = Phases()
        package = await w.prepare("pixxel:catalog:cat-1", memo, phases)
        stats = w.stats("pixxel:catalog:cat-1")
    assert stats["downloads_created"] == 1
    assert stats["package_requests"] == 3
    assert memo.data == {"download_id": package.download_id, "kind": "catalog"}
    assert phases.seen[0] == ("requested", f"download {package.download_id}")
    assert ("preparing", "in_progress") in phases.seen
    assert w.clock.sleeps == [1, 2]


# ---- the platform says no ------------------------------------------------------------------


FAILING = Scenario(
    pixxel_jobs=(PixxelJob("wf-1", "job-f", done=Timing(polls=1), fail="band B8 missing"),),
    pixxel_tasks=(
        PixxelTask("wf-2", "job-t", "task-ok", files=(FileEntry("a", 10),)),
        PixxelTask("wf-2", "job-t", "task-bad", fail="cloud mask failed: no scenes"),
    ),
    pixxel_downloads=(
        PixxelDownload(DownloadKind.CATALOG, "cat-f", ready=Timing(polls=1), fail="purged"),
    ),
    scale_jobs=(
        ScaleJob(1, done=Timing(polls=1), fail="The algorithm exited with code 3"),
        ScaleJob(2, cancel=True),
        ScaleJob(3, files=(FileEntry("x.tif", 100), FileEntry("y.tif", 10)), null_url=True),
    ),
    alteryx_jobs=(
        AlteryxJob("ayx-fail", fail="Input Data (1): file not found"),
        AlteryxJob("ayx-cancel", cancel=True),
        AlteryxJob("ayx-odd", disposition="Partial", outputs=(AlteryxOutput("o", "r.csv", 1),)),
    ),
)


@pytest.mark.parametrize(
    ("key", "error", "message"),
    [
        (
            "pixxel:job:wf-1/job-f",
            RemoteJobFailed,
            "Pixxel job wf-1/job-f failed: task processing: band B8 missing",
        ),
        (
            "pixxel:task:wf-2/job-t/task-bad",
            RemoteJobFailed,
            "Pixxel task task-bad of job wf-2/job-t failed: cloud mask failed: no scenes",
        ),
        (
            "pixxel:catalog:cat-f",
            RemoteJobFailed,
            r"Pixxel catalog cat-f download [0-9a-f-]+: Pixxel reports 'failed'",
        ),
        (
            "scale:job:1",
            RemoteJobFailed,
            "Scale job 1 failed: Algorithm Failure: The algorithm exited with code 3",
        ),
        ("scale:job:2", RemoteJobFailed, "Scale job 2 was canceled"),
        (
            "alteryx:job:ayx-fail",
            RemoteJobFailed,
            "Alteryx job ayx-fail completed with disposition Error: Input Data \\(1\\): file not",
        ),
        ("alteryx:job:ayx-cancel", RemoteJobFailed, "Alteryx job ayx-cancel cancelled"),
        (
            "alteryx:job:ayx-odd",
            RemoteJobFailed,
            "Alteryx job ayx-odd completed with disposition Partial",
        ),
        (
            "pixxel:job:wf-9/job-9",
            ApiError,
            "Pixxel API GET /pixxel/v0/workflows/wf-9/jobs/job-9: HTTP 404 Not Found: "
            "NOT_FOUND: job not found",
        ),
        ("scale:job:404", ApiError, "Scale API GET /scale/v6/jobs/404/: HTTP 404 Not Found"),
        (
            "alteryx:job:nope",
            ApiError,
            "Alteryx API GET /alteryx/webapi/v3/jobs/nope: HTTP 404 Not Found: Job not found.",
        ),
    ],
)
async def test_the_platforms_own_error_text_reaches_the_error(tmp_path, key, error, message):
    async with world(tmp_path, FAILING) as w:
        with pytest.raises(error, match=f"^{message}") as caught:
            await w.prepare(key)
    assert len(str(caught.value)) <= 300


async def test_a_failed_catalog_download_is_forgotten_so_a_retry_asks_anew(tmp_path):
    async with world(tmp_path, FAILING) as w:
        memo = MemoryMemo()
        with pytest.raises(RemoteJobFailed):
            await w.prepare("pixxel:catalog:cat-f", memo)
    assert memo.data == {}
    assert memo.saves == 2


async def test_a_finished_task_downloads_although_its_sibling_failed(tmp_path):
    async with world(tmp_path, FAILING) as w:
        results = await w.download("pixxel:task:wf-2/job-t/task-ok")
        assert got(results) == w.expected("pixxel:task:wf-2/job-t/task-ok")


async def test_a_task_the_job_does_not_have_fails_clearly(tmp_path):
    async with world(tmp_path, FAILING) as w:
        with pytest.raises(
            ProviderError, match=r"^Pixxel job wf-2/job-t failed without a task t9$"
        ):
            await w.prepare("pixxel:task:wf-2/job-t/t9")


async def test_a_scale_file_without_a_url_fails_when_fetched_and_says_why(tmp_path):
    async with world(tmp_path, FAILING) as w:
        package = await w.prepare("scale:job:3")
        assert [a.url for a in package.assets] == [None, None]
        with pytest.raises(ProviderError, match=r"Scale file 100\d \(x.tif\) has no URL: its wo"):
            await w.engine.fetch(package.assets[0], tmp_path / "out")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            {"pixxel_key": "wrong-key"},
            "Pixxel API GET /pixxel/v0/workflows/wf-1/jobs/job-1: HTTP 403 Forbidden, "
            "credentials refused: FORBIDDEN: missing or invalid API key",
        ),
        (
            {"scale_token": "wrong-token"},
            "Scale API GET /scale/v6/jobs/15096/: HTTP 401 Unauthorized, credentials "
            "refused: Invalid token.",
        ),
        (
            {"alteryx_secret": "wrong-secret"},
            "Alteryx API POST /alteryx/webapi/oauth2/token: HTTP 401 Unauthorized, "
            "credentials refused: invalid_client: client authentication failed",
        ),
    ],
)
async def test_refused_credentials_fail_at_once_without_showing_them(tmp_path, option, message):
    keys = {"pixxel_key": "pixxel:job:wf-1/job-1", "scale_token": "scale:job:15096"}
    key = keys.get(next(iter(option)), "alteryx:job:" + AYX)
    async with world(tmp_path, SCENARIO, **option) as w:
        with pytest.raises(ApiError) as caught:
            await w.prepare(key)
        assert w.clock.sleeps == []
    assert str(caught.value) == message
    assert next(iter(option.values())) not in str(caught.value)


# ---- polling -------------------------------------------------------------------------------


async def test_retry_after_of_a_throttled_api_is_honoured(tmp_path):
    scenario = Scenario(
        scale_jobs=(
            ScaleJob(7, files=(FileEntry("a", 5),), knobs=Knobs(throttle=2, retry_after="7")),
        )
    )
    async with world(tmp_path, scenario) as w:
        results = await w.download("scale:job:7")
        assert got(results) == w.expected("scale:job:7")
        assert w.clock.sleeps == [7, 7]
        assert w.stats("scale:job:7")["throttled"] == 2


async def test_give_up_after_ends_the_wait_for_a_job_with_its_last_status(tmp_path):
    scenario = Scenario(alteryx_jobs=(AlteryxJob("slow", done=Timing(polls=10_000)),))
    poll = PollSettings(initial_interval=1, max_interval=8, give_up_after=60)
    async with world(tmp_path, scenario, poll=poll) as w:
        with pytest.raises(PollTimeout) as caught:
            await w.prepare("alteryx:job:slow")
        assert sum(w.clock.sleeps) == 60
        assert w.clock.sleeps[:5] == [1, 2, 4, 8, 8]
    assert str(caught.value) == "Alteryx job slow not finished after 1m; last status: Running"


async def test_give_up_after_ends_the_wait_for_a_package(tmp_path):
    scenario = Scenario(
        pixxel_jobs=(PixxelJob("wf", "j", files=(FileEntry("a", 1),), ready=Timing(polls=10**6)),)
    )
    poll = PollSettings(initial_interval=5, max_interval=300, give_up_after=172800)
    async with world(tmp_path, scenario, poll=poll) as w:
        with pytest.raises(PollTimeout) as caught:
            await w.prepare("pixxel:job:wf/j")
        assert sum(w.clock.sleeps) == 172800
        assert max(w.clock.sleeps) == 300
    assert str(caught.value) == (
        "Pixxel job wf/j package not ready after 48h; last status: pending"
    )


async def test_items_are_polled_side_by_side(tmp_path):
    async with world(tmp_path, SCENARIO) as w:
        done: dict[str, int] = {}

        async def one(key: str) -> None:
            done[key] = len(await w.download(key))

        async with anyio.create_task_group() as tg:
            for key, _ in KINDS:
                tg.start_soon(one, key)
    assert done == {
        "pixxel:job:wf-1/job-1": 1,
        "pixxel:task:wf-1/job-2/task-1": 1,
        "pixxel:catalog:cat-1": 1,
        "pixxel:order_item:oi-1": 1,
        "scale:job:15096": 3,
        "alteryx:job:" + AYX: 2,
    }
