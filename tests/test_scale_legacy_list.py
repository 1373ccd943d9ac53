"""Items waiting on jobs of a Scale 3.x server wait in the waiting room, as v6 ones do.

The 3.x documentation gives `GET /jobs/` the repeatable `job_id` filter and DRF
paging of v6's list, so a legacy server (`api_version = "legacy"`) is asked about
its waiting jobs together, one list a step, rather than one job GET each.
"""

from __future__ import annotations

from pathlib import Path

from downloader.emulator import ScaleJob, Scenario, Settings
from downloader.store import ItemState, open_store
from tests.support.emulator_fixtures import serve
from tests.support.once import once_against

SCENARIO = """
[emulator]
seed = 6
scale_api_version = "legacy"
page_size = 2

[[scale.job]]
id = 31
polls_until_done = 3
files = [{ name = "a.tif", size = 1000 }]

[[scale.job]]
id = 32
polls_until_done = 3
files = [{ name = "b.tif", size = 1000 }]
"""


async def test_waiting_jobs_of_a_legacy_server_are_asked_about_in_its_job_list(
    tmp_path: Path,
) -> None:
    async with once_against(tmp_path, SCENARIO) as (running, settings):
        stats = running.emulator.stats()
        paths = [r.path for r in running.emulator.log]
    async with open_store(settings.state.url) as store:
        states = {r.key: r.state for r in await store.list_items()}
    assert states == {"scale:job:31": ItemState.ARCHIVED, "scale:job:32": ItemState.ARCHIVED}
    assert "/scale-legacy/jobs/" in paths
    assert not any(p.startswith("/scale-legacy/v6/") for p in paths)
    assert all(stats[f"scale:job:{i}"]["listed"] >= 1 for i in (31, 32))


async def test_the_legacy_job_list_filters_by_id_and_pages_with_plain_text_errors() -> None:
    settings = Settings(scale_token=None, page_size=1)
    scenario = Scenario(settings=settings, scale_jobs=(ScaleJob(1), ScaleJob(2), ScaleJob(3)))
    async with serve(scenario) as s:
        first = await s.call("GET", "/scale-legacy/jobs/?job_id=1&job_id=3")
        second = await s.call("GET", first.json["next"])
        bad = await s.call("GET", "/scale-legacy/jobs/?job_id=x")
    assert [r["id"] for r in first.json["results"] + second.json["results"]] == [1, 3]
    assert first.json["count"] == 2
    assert second.json["next"] is None
    assert bad.status == 400
    assert bad.headers["Content-Type"].startswith("text/plain")
